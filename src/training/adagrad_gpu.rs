//! AdaGrad's two fused operations (adagrad.rs) on a GPU (burn's cubecl backend): one thread per
//! value each. They write new tensors rather than overwrite their inputs, as burn's own
//! operations on this backend may: its memory pool makes the allocation cheap, and what counts on
//! a GPU is one launch in place of seven operations for the host to record and submit.

use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::adagrad::{AdaGradBackend, burns_accumulate, burns_update};
use crate::model::cube_launch::{all_f32, output_like};

/// `output = sum + gradient * gradient`.
#[cube(launch_unchecked)]
fn accumulate_kernel(sum: &Tensor<f32>, gradient: &Tensor<f32>, output: &mut Tensor<f32>) {
    let position = ABSOLUTE_POS;
    if position >= output.len() {
        terminate!();
    }
    let value = gradient[position];
    output[position] = sum[position] + value * value;
}

/// `output = parameter - gradient / (sqrt(sum) + epsilon) * learning_rate`.
#[cube(launch_unchecked)]
fn update_kernel(
    parameter: &Tensor<f32>,
    gradient: &Tensor<f32>,
    sum: &Tensor<f32>,
    output: &mut Tensor<f32>,
    learning_rate: f32,
    epsilon: f32,
) {
    let position = ABSOLUTE_POS;
    if position >= output.len() {
        terminate!();
    }
    output[position] =
        parameter[position] - gradient[position] / (f32::sqrt(sum[position]) + epsilon) * learning_rate;
}

impl AdaGradBackend for CubeBackend {
    fn adagrad_accumulate(sum: CubeTensor, gradient: CubeTensor) -> CubeTensor {
        if !all_f32(&[&sum, &gradient]) {
            return burns_accumulate::<Self>(sum, gradient);
        }
        let [sum, gradient] = [sum, gradient].map(into_contiguous);
        let (output, cube_count, cube_dim) = output_like(&sum);
        let client = output.client.clone();
        // SAFETY: one thread per value of three contiguous tensors of one shape; threads past
        // the last return at once.
        unsafe {
            accumulate_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                sum.into_tensor_arg(),
                gradient.into_tensor_arg(),
                output.clone().into_tensor_arg(),
            );
        }
        output
    }

    fn adagrad_update(
        parameter: CubeTensor,
        gradient: CubeTensor,
        sum: CubeTensor,
        learning_rate: f64,
        epsilon: f32,
    ) -> CubeTensor {
        if !all_f32(&[&parameter, &gradient, &sum]) {
            return burns_update::<Self>(parameter, gradient, sum, learning_rate, epsilon);
        }
        let [parameter, gradient, sum] = [parameter, gradient, sum].map(into_contiguous);
        let (output, cube_count, cube_dim) = output_like(&parameter);
        let client = output.client.clone();
        // SAFETY: as in `adagrad_accumulate`, with four tensors of one shape.
        unsafe {
            update_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                parameter.into_tensor_arg(),
                gradient.into_tensor_arg(),
                sum.into_tensor_arg(),
                output.clone().into_tensor_arg(),
                // burn multiplies an f32 tensor by the f64 rate as an f32.
                learning_rate as f32,
                epsilon,
            );
        }
        output
    }
}
