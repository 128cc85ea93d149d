//! CancerNet's depthwise 3x3 convolution on a GPU (burn's cubecl backend: wgpu/Vulkan), as two
//! kernels of our own.
//!
//! burn runs a grouped convolution through its general convolution routines (channels-last
//! layout changes around each call, and a weight gradient built for large filters), which made
//! the depthwise layers over half of a large-batch training step on a GPU, many times cuDNN's
//! time (docs/kernels.md). A 3x3 filter per channel needs none of that:
//! - forward: one thread per output value, nine multiply-adds over the channels-first input;
//! - input gradient: the forward kernel with each filter turned by 180 degrees (in mod.rs);
//! - weight gradient: one thread per (image, channel, column) sums the nine products down its
//!   column in registers into a `[channels, 9, images x columns]` table of partial sums, which
//!   burn's own reduction then adds up along its last, contiguous axis. No atomics, so it runs on
//!   every Vulkan device.
//!
//! Both kernels read f32 values from contiguous tensors; other dtypes take burn's convolution.

use burn::backend::ops::FloatTensorOps;
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::{DepthwiseConvBackend, burns_convolution, burns_input_gradient, burns_weight_gradient};
use crate::ops::gpu_launch::{all_f32, empty_f32, one_thread_each, output_like};

/// `output[b, c, y, x] = sum over kh, kw of weight[c, 0, kh, kw] * input[b, c, y + kh - 1, x + kw - 1]`,
/// zero outside the image; `rotated`: with each filter turned by 180 degrees (`weight[c, 0, 2 -
/// kh, 2 - kw]`), the input gradient's convolution. All three tensors are contiguous; `output`
/// has the input's shape.
#[cube(launch_unchecked)]
fn depthwise_forward_kernel(
    input: &Tensor<f32>,
    weight: &Tensor<f32>,
    output: &mut Tensor<f32>,
    #[comptime] rotated: bool,
) {
    let position = ABSOLUTE_POS;
    if position >= output.len() {
        terminate!();
    }
    let channels = output.shape(1);
    let height = output.shape(2);
    let width = output.shape(3);
    let column = position % width;
    let row = (position / width) % height;
    let plane = position / (width * height);
    let plane_start = plane * height * width;
    let taps = (plane % channels) * 9;

    let mut sum = 0.0f32;
    #[unroll]
    for kh in 0..3usize {
        // Rows and columns are unsigned: test `row + kh` against 1..=height before stepping back.
        let shifted_row = row + kh;
        if shifted_row >= 1 && shifted_row <= height {
            let row_start = plane_start + (shifted_row - 1) * width;
            #[unroll]
            for kw in 0..3usize {
                let shifted_column = column + kw;
                if shifted_column >= 1 && shifted_column <= width {
                    let tap = if comptime!(rotated) {
                        8 - (kh * 3 + kw)
                    } else {
                        kh * 3 + kw
                    };
                    sum += weight[taps + tap] * input[row_start + shifted_column - 1];
                }
            }
        }
    }
    output[position] = sum;
}

/// `input[row_start + shifted_column - 1]`, or zero where that column is outside the row: the
/// columns are unsigned, so `shifted_column` counts from 1.
#[cube]
fn value_in_row(input: &Tensor<f32>, row_start: usize, shifted_column: usize, width: usize) -> f32 {
    let mut value = 0.0f32;
    if shifted_column >= 1 && shifted_column <= width {
        value = input[row_start + shifted_column - 1];
    }
    value
}

/// One thread per (image, channel, column) walks down its column: the nine sums of
/// `output_gradient[b, c, y, x] * input[b, c, y + kh - 1, x + kw - 1]` over the rows `y`, written
/// to `partial_sums[c, kh * 3 + kw, b * width + x]`. Neighbouring threads take neighbouring
/// columns, so each read of a warp is one or two memory lines, and the three input rows a step
/// needs slide down in registers: one new row of three values per step.
#[cube(launch_unchecked)]
fn depthwise_weight_gradient_kernel(
    input: &Tensor<f32>,
    output_gradient: &Tensor<f32>,
    partial_sums: &mut Tensor<f32>,
) {
    let batch = input.shape(0);
    let channels = input.shape(1);
    let height = input.shape(2);
    let width = input.shape(3);
    let position = ABSOLUTE_POS;
    if position >= batch * channels * width {
        terminate!();
    }
    let column = position % width;
    let plane = position / width;
    let channel = plane % channels;
    let item = plane / channels;
    let plane_start = plane * height * width;

    let mut sums = Array::<f32>::new(9usize);
    #[unroll]
    for tap in 0..9usize {
        sums[tap] = 0.0f32;
    }
    // The row above (zero above the image), this row, and the row below, at columns x-1, x, x+1.
    let mut above_left = 0.0f32;
    let mut above = 0.0f32;
    let mut above_right = 0.0f32;
    let mut here_left = value_in_row(input, plane_start, column, width);
    let mut here = value_in_row(input, plane_start, column + 1, width);
    let mut here_right = value_in_row(input, plane_start, column + 2, width);
    for row in 0..height {
        let mut below_left = 0.0f32;
        let mut below = 0.0f32;
        let mut below_right = 0.0f32;
        if row + 1 < height {
            let below_start = plane_start + (row + 1) * width;
            below_left = value_in_row(input, below_start, column, width);
            below = value_in_row(input, below_start, column + 1, width);
            below_right = value_in_row(input, below_start, column + 2, width);
        }
        let gradient = output_gradient[plane_start + row * width + column];
        sums[0] += gradient * above_left;
        sums[1] += gradient * above;
        sums[2] += gradient * above_right;
        sums[3] += gradient * here_left;
        sums[4] += gradient * here;
        sums[5] += gradient * here_right;
        sums[6] += gradient * below_left;
        sums[7] += gradient * below;
        sums[8] += gradient * below_right;
        above_left = here_left;
        above = here;
        above_right = here_right;
        here_left = below_left;
        here = below;
        here_right = below_right;
    }
    let columns_in_all = batch * width;
    #[unroll]
    for tap in 0..9usize {
        partial_sums[(channel * 9 + tap) * columns_in_all + item * width + column] = sums[tap];
    }
}

impl DepthwiseConvBackend for CubeBackend {
    fn depthwise_conv3x3(x: CubeTensor, weight: CubeTensor) -> CubeTensor {
        if !all_f32(&[&x, &weight]) {
            return burns_convolution::<Self>(x, weight);
        }
        convolve(x, weight, false)
    }

    fn depthwise_conv3x3_input_gradient(output_gradient: CubeTensor, weight: CubeTensor) -> CubeTensor {
        if !all_f32(&[&output_gradient, &weight]) {
            return burns_input_gradient::<Self>(output_gradient, weight);
        }
        convolve(output_gradient, weight, true)
    }

    fn depthwise_conv3x3_weight_gradient(x: CubeTensor, output_gradient: CubeTensor) -> CubeTensor {
        if !all_f32(&[&x, &output_gradient]) {
            return burns_weight_gradient::<Self>(x, output_gradient);
        }
        let [batch, channels, _, width] = x.meta.shape().dims();
        let x = into_contiguous(x);
        let output_gradient = into_contiguous(output_gradient);
        let partial_sums = empty_f32(&x, [channels * 9, batch * width]);
        let client = partial_sums.client.clone();
        let (cube_count, cube_dim) = one_thread_each(&partial_sums, batch * channels * width);
        // SAFETY: threads past the last (image, channel, column) return at once; every index read
        // is checked against the contiguous input's shape, and each thread writes its own nine
        // cells of the table.
        unsafe {
            depthwise_weight_gradient_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                x.into_tensor_arg(),
                output_gradient.into_tensor_arg(),
                partial_sums.clone().into_tensor_arg(),
            );
        }
        let sums = Self::float_sum_dim(partial_sums, 1);
        Self::float_reshape(sums, [channels, 1, 3, 3].into())
    }
}

/// [`depthwise_forward_kernel`] over `x` (f32), its filters turned by 180 degrees if `rotated`.
fn convolve(x: CubeTensor, weight: CubeTensor, rotated: bool) -> CubeTensor {
    let x = into_contiguous(x);
    let weight = into_contiguous(weight);
    let (output, cube_count, cube_dim) = output_like(&x);
    let client = output.client.clone();
    // SAFETY: the kernel returns early past the output's last value and reads the input and
    // weight only at indices it has checked against their (contiguous) shapes.
    unsafe {
        depthwise_forward_kernel::launch_unchecked(
            &client,
            cube_count,
            cube_dim,
            x.into_tensor_arg(),
            weight.into_tensor_arg(),
            output.clone().into_tensor_arg(),
            rotated,
        );
    }
    output
}
