//! Dropout by hash: the share kept, the scaling, the same mask forward and backward.

use burn::nn::DropoutConfig;

use super::*;

#[test]
fn keeps_the_expected_share_and_another_seed_another_mask() {
    let threshold = keep_threshold(0.75);
    let kept =
        |words: [u32; 2]| -> Vec<bool> { (0..200_000).map(|i| is_kept(i, words, threshold)).collect() };
    let mask = kept(seed_words([0.25, 0.5]));
    let share = mask.iter().filter(|&&kept| kept).count() as f64 / mask.len() as f64;
    assert!((share - 0.75).abs() < 0.005, "kept {share}");
    // Neighbours are independent: each of the four pairs (kept, kept) ... about as often as
    // chance says.
    let both = mask.windows(2).filter(|pair| pair[0] && pair[1]).count() as f64 / (mask.len() - 1) as f64;
    assert!((both - 0.75 * 0.75).abs() < 0.006, "both kept {both}");
    assert_eq!(mask, kept(seed_words([0.25, 0.5])));
    let other = kept(seed_words([0.25, 0.5 + 1.0 / SEED_SCALE]));
    let differing = mask.iter().zip(&other).filter(|(a, b)| a != b).count() as f64 / mask.len() as f64;
    // Two independent masks at 0.75 differ at 2 * 0.75 * 0.25 of the elements.
    assert!((differing - 0.375).abs() < 0.01, "differ at {differing}");
}

#[test]
fn passes_gradients_through_the_kept_elements_only() {
    let device = Device::flex().autodiff();
    let layer = DropoutConfig::new(0.5).init();
    let input = Tensor::<2>::ones([64, 100], &device).require_grad();
    let output = dropout(&layer, input.clone());
    let gradient = input.grad(&output.clone().sum().backward()).unwrap();
    // Each element is either dropped (0) or kept and doubled, and its gradient is the same.
    let outputs: Vec<f32> = output.into_data().try_to_vec::<f32>().unwrap();
    let gradients: Vec<f32> = gradient.into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(outputs, gradients);
    assert!(outputs.iter().all(|&value| value == 0.0 || value == 2.0));
    let kept = outputs.iter().filter(|&&value| value == 2.0).count();
    assert!((2_800..3_600).contains(&kept), "kept {kept} of 6400");
}

#[test]
fn each_call_draws_a_new_mask() {
    let device = Device::flex().autodiff();
    let layer = DropoutConfig::new(0.5).init();
    let input = Tensor::<1>::ones([4096], &device);
    let first: Vec<f32> = dropout(&layer, input.clone()).into_data().try_to_vec().unwrap();
    let second: Vec<f32> = dropout(&layer, input).into_data().try_to_vec().unwrap();
    let differing = first.iter().zip(&second).filter(|(a, b)| a != b).count();
    assert!((1_700..2_400).contains(&differing), "{differing} of 4096 differ");
}

#[test]
fn is_the_identity_outside_training() {
    let device = Device::flex();
    let layer = DropoutConfig::new(0.5).init();
    let input = Tensor::<2>::ones([4, 4], &device);
    let output = dropout(&layer, input.clone());
    assert_eq!(
        output.into_data().try_to_vec::<f32>().unwrap(),
        input.into_data().try_to_vec::<f32>().unwrap()
    );
}
