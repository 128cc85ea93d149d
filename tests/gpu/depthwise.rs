//! Our depthwise kernels on the GPU path against burn's convolution and against the CPU.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;
use idc_studio::ops::depthwise::depthwise_conv3x3;

use super::{cpu, max_difference, ramp, software_gpu};

#[test]
fn our_gpu_depthwise_kernels_match_burns_convolution_forward_and_backward() {
    let gpu = software_gpu();
    let device = gpu.device.autodiff();
    // Odd sizes, and more threads than one workgroup holds for the forward kernel.
    let dims @ [_, channels, _, _] = [3, 5, 7, 6];
    let conv = Conv2dConfig::new([channels, channels], [3, 3])
        .with_groups(channels)
        .with_padding(PaddingConfig2d::Same)
        .with_bias(false)
        .init(&device);
    let x = ramp(37, dims, &device).require_grad();
    let output_weights = ramp(53, dims, &device);

    let ours = depthwise_conv3x3(&conv, x.clone());
    let burns = conv.forward(x.clone());
    let forward_difference = max_difference(ours.clone(), burns.clone());

    let our_gradients = (ours * output_weights.clone()).sum().backward();
    let burn_gradients = (burns * output_weights).sum().backward();
    let input_difference = max_difference(x.grad(&our_gradients).unwrap(), x.grad(&burn_gradients).unwrap());
    let weight = conv.weight.val();
    let weight_difference = max_difference(
        weight.grad(&our_gradients).unwrap(),
        weight.grad(&burn_gradients).unwrap(),
    );
    assert!(
        forward_difference < 1e-5 && input_difference < 1e-4 && weight_difference < 1e-4,
        "outputs differ by {forward_difference}, input gradients by {input_difference}, \
         weight gradients by {weight_difference}"
    );
}

/// The weight gradient of our depthwise kernels for `dims` on `device`, after a loss that weighs
/// each output differently.
fn depthwise_weight_gradient(dims: [usize; 4], device: &Device) -> Vec<f32> {
    let device = device.clone().autodiff();
    let channels = dims[1];
    let conv = Conv2dConfig::new([channels, channels], [3, 3])
        .with_groups(channels)
        .with_padding(PaddingConfig2d::Same)
        .with_bias(false)
        .init(&device);
    let output = depthwise_conv3x3(&conv, ramp(37, dims, &device).require_grad());
    let gradients = (output * ramp(53, dims, &device)).sum().backward();
    let gradient = conv.weight.val().grad(&gradients).unwrap();
    gradient.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn gpu_depthwise_weight_gradient_sums_a_whole_batch_as_the_cpu_does() {
    // A batch of 64 at CancerNet's first depthwise size: thousands of partial sums per tap, where
    // a lost or doubled one shows. (burn's own grouped convolution on lavapipe is off here:
    // by 6.6 of 26,811 at this size, by 61,072 of 107,243 at batch 256.)
    let gpu = software_gpu();
    let cpu = cpu();
    let dims = [64, 4, 48, 48];
    let on_gpu = depthwise_weight_gradient(dims, &gpu.device);
    let on_cpu = depthwise_weight_gradient(dims, &cpu.device);
    let largest = on_cpu
        .iter()
        .fold(0f32, |largest, value| largest.max(value.abs()));
    let difference = on_gpu
        .iter()
        .zip(&on_cpu)
        .fold(0f32, |largest, (a, b)| largest.max((a - b).abs()));
    assert!(
        difference <= largest * 1e-5,
        "GPU and CPU weight gradients differ by {difference} (largest value {largest})"
    );
}
