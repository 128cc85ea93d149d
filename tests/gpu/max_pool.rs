//! Our max-pooling kernels on the GPU path against the CPU: the same winners, the same routes.

use burn::nn::pool::MaxPool2dConfig;
use burn::prelude::*;
use idc_studio::ops::max_pool::max_pool_2x2;

use super::{cpu, ramp, software_gpu};

/// Our 2x2 max pooling on `device`: the output and the input's gradient under a loss that weighs
/// each output differently, as flat values.
fn max_pooled(values: &[f32], dims: [usize; 4], device: &Device) -> [Vec<f32>; 2] {
    let device = device.clone().autodiff();
    let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
    let x = Tensor::<4>::from_data(TensorData::new(values.to_vec(), dims), &device).require_grad();
    let output = max_pool_2x2(&pool, x.clone());
    let gradient = x.grad(
        &(output.clone() * ramp(7, output.dims(), &device))
            .sum()
            .backward(),
    );
    let flat = |tensor: Tensor<4>| tensor.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    [flat(output), flat(gradient.unwrap())]
}

#[test]
fn our_gpu_max_pooling_picks_and_routes_as_the_cpu_does() {
    let gpu = software_gpu();
    let cpu = cpu();
    // Odd sides (the last row and column are in no window); ties: a window's four values are
    // v, v + 2, v + 3 and v again (mod 5), so where v = 4 its first and last tie for the maximum;
    // and one NaN, which wins its window forward and takes its gradient backward.
    let dims = [2, 3, 7, 9];
    let mut values: Vec<f32> = (0..dims.iter().product::<usize>())
        .map(|i| ((i * 37) % 5) as f32)
        .collect();
    values[9 * 2 + 3] = f32::NAN;
    let [gpu_output, gpu_gradient] = max_pooled(&values, dims, &gpu.device);
    let [cpu_output, cpu_gradient] = max_pooled(&values, dims, &cpu.device);
    assert_eq!(gpu_output.len(), 2 * 3 * 3 * 4);
    // Bit for bit: a maximum is one of its inputs, a gradient one output's or zero.
    let bits = |values: &[f32]| values.iter().map(|value| value.to_bits()).collect::<Vec<u32>>();
    assert_eq!(bits(&gpu_output), bits(&cpu_output), "outputs");
    assert_eq!(bits(&gpu_gradient), bits(&cpu_gradient), "input gradients");
    // Row 2, column 3 is in window (1, 1): output 5.
    assert!(cpu_output[5].is_nan() && cpu_gradient[9 * 2 + 3] != 0.0);
}
