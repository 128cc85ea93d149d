//! CancerNet's 2x2, stride-2 max pooling on a GPU (burn's cubecl backend: wgpu/Vulkan), as two
//! kernels of our own.
//!
//! burn's pooling is general (any window, stride, padding, dilation) and its training form writes
//! an integer index per output for the backward pass to scatter through: three passes over
//! activation-sized buffers and two launches where one of each suffices here:
//! - forward: one thread per output value, the largest of its four inputs;
//! - backward: one thread per input value, which finds its window's winner again (the autodiff
//!   graph keeps the input anyway) and takes the output's gradient if it is that winner, else 0.
//!   No thread writes where another does, and an odd last row or column, in no window, gets 0.
//!
//! Ties and NaN as burn decides them (max_pool.rs): the first of the window wins a tie, a NaN wins
//! over any number. f32, contiguous tensors (the public function keeps other dtypes on burn's).

use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::MaxPool2x2Backend;
use crate::ops::gpu_launch::{all_f32, empty_f32, one_thread_each, output_like};

/// The window of output `(plane, row, column)` of a `height x width` input: which of its four
/// values (row by row) wins, and that value.
#[cube]
fn winner(
    x: &Tensor<f32>,
    plane: usize,
    row: usize,
    column: usize,
    height: usize,
    width: usize,
) -> (u32, f32) {
    let top = (plane * height + 2 * row) * width + 2 * column;
    let mut best = x[top];
    let mut index = 0u32;
    #[unroll]
    for candidate in 1..4u32 {
        let value = x[top + (candidate / 2) as usize * width + (candidate % 2) as usize];
        if value > best || value.is_nan() {
            best = value;
            index = candidate;
        }
    }
    (index, best)
}

/// `output[plane, row, column]` = the largest of the input's window `(2 row.., 2 column..)`.
#[cube(launch_unchecked)]
fn max_pool_forward_kernel(x: &Tensor<f32>, output: &mut Tensor<f32>, height: usize, width: usize) {
    let position = ABSOLUTE_POS;
    if position >= output.len() {
        terminate!();
    }
    let (out_height, out_width) = (height / 2, width / 2);
    let column = position % out_width;
    let row = (position / out_width) % out_height;
    let plane = position / (out_width * out_height);
    let (_, value) = winner(x, plane, row, column, height, width);
    output[position] = value;
}

/// One thread per input value: its window's output gradient if it is the window's winner, else 0.
#[cube(launch_unchecked)]
fn max_pool_backward_kernel(
    x: &Tensor<f32>,
    output_gradient: &Tensor<f32>,
    x_gradient: &mut Tensor<f32>,
    height: usize,
    width: usize,
) {
    let position = ABSOLUTE_POS;
    if position >= x_gradient.len() {
        terminate!();
    }
    let (out_height, out_width) = (height / 2, width / 2);
    let column = position % width;
    let row = (position / width) % height;
    let plane = position / (width * height);
    let mut gradient = 0.0f32;
    if row / 2 < out_height && column / 2 < out_width {
        let (index, _) = winner(x, plane, row / 2, column / 2, height, width);
        if index == ((row % 2) * 2 + column % 2) as u32 {
            gradient = output_gradient[(plane * out_height + row / 2) * out_width + column / 2];
        }
    }
    x_gradient[position] = gradient;
}

/// `[planes, height, width]` of a `[batch, channels, height, width]` tensor.
fn planes(tensor: &CubeTensor) -> [usize; 3] {
    let dims = tensor.meta.shape().as_slice().to_vec();
    assert_eq!(
        dims.len(),
        4,
        "max pooling takes [batch, channels, height, width], got {dims:?}"
    );
    [dims[0] * dims[1], dims[2], dims[3]]
}

fn assert_f32(tensors: &[&CubeTensor]) {
    assert!(
        all_f32(tensors),
        "the GPU max-pooling kernels take f32 tensors (max_pool_2x2 sends others to burn's)"
    );
}

impl MaxPool2x2Backend for CubeBackend {
    fn max_pool_2x2(x: CubeTensor) -> CubeTensor {
        assert_f32(&[&x]);
        let dims = x.meta.shape().as_slice().to_vec();
        let [_, height, width] = planes(&x);
        let x = into_contiguous(x);
        let output = empty_f32(&x, [dims[0], dims[1], height / 2, width / 2]);
        let (cube_count, cube_dim) = one_thread_each(&output, output.meta.shape().num_elements());
        let client = output.client.clone();
        // SAFETY: one thread per output value, returning past the last; it reads the four values
        // of its window, inside the contiguous input (rows and columns below 2 * (side / 2)).
        unsafe {
            max_pool_forward_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                x.into_tensor_arg(),
                output.clone().into_tensor_arg(),
                height,
                width,
            );
        }
        output
    }

    fn max_pool_2x2_input_gradient(x: CubeTensor, output_gradient: CubeTensor) -> CubeTensor {
        assert_f32(&[&x, &output_gradient]);
        let [_, height, width] = planes(&x);
        let [x, output_gradient] = [x, output_gradient].map(into_contiguous);
        let (x_gradient, cube_count, cube_dim) = output_like(&x);
        let client = x_gradient.client.clone();
        // SAFETY: one thread per input value, returning past the last; it reads its window (only
        // when the window exists) and that window's output gradient, and writes its own value.
        unsafe {
            max_pool_backward_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                x.into_tensor_arg(),
                output_gradient.into_tensor_arg(),
                x_gradient.clone().into_tensor_arg(),
                height,
                width,
            );
        }
        x_gradient
    }
}
