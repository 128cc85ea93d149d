//! The loss against burn's `CrossEntropyLoss`, its gradient, and the hit count.

use burn::nn::loss::CrossEntropyLossConfig;

use super::*;

#[test]
fn is_burns_weighted_cross_entropy_and_its_gradient() {
    let device = Device::flex().autodiff();
    let plain = device.clone().inner();
    let values: Vec<f32> = (0..2 * 7).map(|i| ((i * 13) % 9) as f32 / 2.0 - 2.0).collect();
    let labels = [1i64, 0, 0, 1, 1, 0, 1];
    let logits = Tensor::<2>::from_data(TensorData::new(values, [7, 2]), &device).require_grad();
    let burns = CrossEntropyLossConfig::new()
        .with_weights(Some(vec![1.0, 2.5]))
        .init(&device)
        .forward(
            logits.clone(),
            Tensor::from_data(TensorData::new(labels.to_vec(), [7]), &device),
        );
    let float_labels = labels.map(|label| label as f32);
    let ours = weighted_cross_entropy(
        logits.clone(),
        Tensor::from_data(TensorData::new(float_labels.to_vec(), [7]), &plain),
        Tensor::from_floats([1.0, 2.5], &plain),
    );
    let difference = (ours.clone() - burns.clone()).abs().into_scalar::<f32>();
    assert!(difference < 1e-6, "losses differ by {difference}");
    // A loss scaled by 3 downstream, so the incoming gradient is not 1.
    let ours_gradient = logits.grad(&(ours * 3.0).backward()).unwrap();
    let burns_gradient = logits.grad(&(burns * 3.0).backward()).unwrap();
    let difference = (ours_gradient - burns_gradient).abs().max().into_scalar::<f32>();
    assert!(difference < 1e-6, "gradients differ by {difference}");
}

#[test]
fn counts_hits_among_the_real_items_only() {
    let device = Device::flex();
    // Rows 0 and 2 right, 1 wrong, 3 a tie (the first class wins: right for label 0), row 4
    // right but padding.
    let logits = Tensor::<2>::from_floats(
        [[0.1, 0.9], [2.0, -1.0], [3.0, 1.0], [0.5, 0.5], [0.0, 1.0]],
        &device,
    );
    let labels = Tensor::<1>::from_floats([1.0, 1.0, 0.0, 0.0, 1.0], &device);
    let correct = correct_predictions(logits, labels, 4).into_scalar::<f32>();
    assert_eq!(correct, 3.0);
}
