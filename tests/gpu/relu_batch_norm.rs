//! Our ReLU + batch-norm kernels on the GPU path against burn's `BatchNorm`, in training and
//! inference.

use burn::module::{Param, RunningState};
use burn::nn::BatchNormConfig;
use burn::prelude::*;
use idc_studio::ops::relu_batch_norm::{per_channel, relu_batch_norm, relu_batch_norm_after_bias};

use super::{ramp, software_gpu};

/// Bias, ReLU and batch norm in training on `device` (ours, or the bias added, ReLU, then burn's
/// `BatchNorm`), with gammas, betas and biases other than 1 and 0: the output, the gradients of
/// the input, gamma, beta and the bias after a loss that weighs each output differently, and the
/// running mean and variance, all as flat values.
fn relu_batch_norm_training(dims: [usize; 4], offset: f32, ours: bool, device: &Device) -> [Vec<f32>; 7] {
    let device = device.clone().autodiff();
    let channels = dims[1];
    let mut norm = BatchNormConfig::new(channels).init(&device);
    let spread = |scale: f32, shift: f32| {
        let values: Vec<f32> = (0..channels)
            .map(|c| scale * (c as f32 - channels as f32 / 3.0) + shift)
            .collect();
        Param::from_tensor(Tensor::<1>::from_data(
            TensorData::new(values, [channels]),
            &device,
        ))
    };
    norm.gamma = spread(0.4, 1.0);
    norm.beta = spread(-0.3, 0.2);
    // Rising from image to image, so groups of images differ in mean; mostly positive after the
    // offset, so the statistics are far from zero when it is large.
    let per_image: usize = dims[1..].iter().product();
    let values: Vec<f32> = (0..dims.iter().product::<usize>())
        .map(|i| ((i * 37) % 23) as f32 / 11.0 - 1.0 + 0.25 * (i / per_image) as f32 + offset)
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(values, dims), &device).require_grad();
    let bias = spread(0.5, -0.2).val().require_grad();
    let output = if ours {
        relu_batch_norm_after_bias(&norm, x.clone(), bias.clone())
    } else {
        norm.forward(burn::tensor::activation::relu(
            x.clone() + per_channel::<4>(bias.clone()),
        ))
    };
    let gradients = (output.clone() * ramp(53, dims, &device)).sum().backward();
    let values = |tensor: Tensor<1>| tensor.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    [
        values(output.flatten(0, 3)),
        values(x.grad(&gradients).unwrap().flatten(0, 3)),
        values(norm.gamma.val().grad(&gradients).unwrap()),
        values(norm.beta.val().grad(&gradients).unwrap()),
        values(bias.grad(&gradients).unwrap()),
        values(norm.running_mean.value_sync().inner()),
        values(norm.running_var.value_sync().inner()),
    ]
}

#[test]
fn our_gpu_relu_batch_norm_kernels_train_as_burns_batch_norm() {
    let gpu = software_gpu();
    // [9, 3, 30, 30]: two groups of images per channel (5 and 4), so the kernel that merges them
    // is exercised with unequal counts; an offset of 40 puts every mean far above its spread,
    // where a variance taken from sums of squares in f32 would lose its digits.
    for (dims, offset) in [([9, 3, 30, 30], 0.0), ([9, 3, 30, 30], 40.0), ([6, 5, 3, 1], 0.3)] {
        let ours = relu_batch_norm_training(dims, offset, true, &gpu.device);
        let burns = relu_batch_norm_training(dims, offset, false, &gpu.device);
        let names = [
            "output",
            "input gradient",
            "gamma gradient",
            "beta gradient",
            "bias gradient",
            "running mean",
            "running variance",
        ];
        // The bias's gradient is a sum over a channel's input gradients: its rounding scales with
        // their absolute sum (with a mean of 40 it is 0 in exact arithmetic, ours gives 0 and
        // burn's up to 0.1).
        let positions = dims[2] * dims[3];
        let mut input_gradient_scale = vec![0f32; dims[1]];
        for (index, value) in burns[1].iter().enumerate() {
            input_gradient_scale[(index / positions) % dims[1]] += value.abs();
        }
        for ((name, ours), burns) in names.iter().zip(&ours).zip(&burns) {
            let largest = burns.iter().fold(1f32, |largest, value| largest.max(value.abs()));
            let largest = if *name == "bias gradient" {
                input_gradient_scale
                    .iter()
                    .fold(largest, |largest, &sum| largest.max(sum))
            } else {
                largest
            };
            let difference = ours
                .iter()
                .zip(burns)
                .fold(0f32, |largest, (a, b)| largest.max((a - b).abs()));
            assert!(
                difference <= largest * 2e-4,
                "{dims:?} + {offset}: {name} differs by {difference} (largest value {largest})"
            );
        }
    }
}

#[test]
fn our_gpu_relu_batch_norm_kernels_infer_with_the_running_statistics() {
    let gpu = software_gpu();
    let mut norm = BatchNormConfig::new(4).init(&gpu.device);
    norm.running_mean = RunningState::new(Tensor::<1>::from_floats([0.1, 0.5, -0.2, 1.0], &gpu.device));
    norm.running_var = RunningState::new(Tensor::<1>::from_floats([0.5, 2.0, 1.0, 0.25], &gpu.device));
    // Dense-layer shape, [batch, channels].
    let x: Tensor<2> = ramp(29, [6, 4, 1, 1], &gpu.device).flatten(1, 3);
    let ours = relu_batch_norm(&norm, x.clone());
    let burns = norm.forward(burn::tensor::activation::relu(x));
    let difference = (ours - burns).abs().max().into_scalar::<f32>();
    assert!(difference < 1e-5, "differs by {difference}");
}
