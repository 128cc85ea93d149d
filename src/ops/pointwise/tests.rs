//! The 1x1 convolution against burn's convolution, forward and backward.

use burn::nn::conv::Conv2dConfig;

use super::cpu::weight_gradient_f32;
use super::*;
use crate::ops::relu_batch_norm::per_channel;

type Formulation = fn(&Conv2d, Tensor<4>) -> Tensor<4>;

#[test]
fn every_formulation_with_the_bias_is_the_convolution() {
    // Batches below and above the threads and the partial sums' size, and sides where the
    // product's shape is not a multiple of gemm's blocks.
    for (formulation, batch) in [
        (pointwise_conv as Formulation, 1),
        (pointwise_conv, 3),
        (pointwise_conv, 19),
        (pointwise_product, 3),
        (pointwise_product_channels_last, 3),
    ] {
        is_the_convolution(formulation, batch);
    }
}

fn is_the_convolution(pointwise: Formulation, batch: usize) {
    let device = Device::flex().autodiff();
    let conv = Conv2dConfig::new([5, 7], [1, 1]).init(&device);
    let shape = [batch, 5, 4, 3];
    let values: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|i| ((i * 37) % 23) as f32 / 11.0 - 1.0)
        .collect();
    let input = Tensor::<4>::from_data(TensorData::new(values, shape), &device).require_grad();
    let by_conv = conv.forward(input.clone());
    // The model adds the bias with the ReLU + batch norm after it.
    let ours = pointwise(&conv, input.clone()) + per_channel::<4>(conv.bias.as_ref().unwrap().val());
    let difference = (by_conv.clone() - ours.clone()).abs().max().into_scalar::<f32>();
    assert!(difference < 1e-5, "batch {batch}: outputs differ by {difference}");

    // And the same gradients, for the input and the weights. The output's gradient varies
    // by element, so a transposed or misplaced operand shows.
    let output_gradient = Tensor::<4>::from_data(
        TensorData::new(
            (0..batch * 7 * 12)
                .map(|i| ((i * 13) % 17) as f32 / 8.0 - 1.0)
                .collect::<Vec<f32>>(),
            [batch, 7, 4, 3],
        ),
        &device,
    );
    let conv_gradients = (by_conv * output_gradient.clone()).sum().backward();
    let our_gradients = (ours * output_gradient).sum().backward();
    let input_difference = (input.grad(&conv_gradients).unwrap() - input.grad(&our_gradients).unwrap())
        .abs()
        .max()
        .into_scalar::<f32>();
    let weight = conv.weight.val();
    let weight_difference = (weight.grad(&conv_gradients).unwrap() - weight.grad(&our_gradients).unwrap())
        .abs()
        .max()
        .into_scalar::<f32>();
    assert!(
        input_difference < 1e-5 && weight_difference < 1e-5,
        "batch {batch}: gradients differ by {input_difference} (input), {weight_difference} (weight)"
    );
}

#[test]
fn the_weight_gradient_does_not_depend_on_the_thread_count() {
    let [batch, out, inputs, positions] = [21, 6, 5, 7];
    let x: Vec<f32> = (0..batch * inputs * positions)
        .map(|i| ((i * 29) % 31) as f32 * 0.37 - 5.0)
        .collect();
    let g: Vec<f32> = (0..batch * out * positions)
        .map(|i| ((i * 7) % 19) as f32 * 0.11 - 1.0)
        .collect();
    let shape = [batch, out, inputs, positions];
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| weight_gradient_f32(&x, &g, shape))
    };
    let one = on(1);
    assert_eq!(one, on(2));
    assert_eq!(one, on(5));
    assert!(one.iter().any(|&value| value != 0.0));
}
