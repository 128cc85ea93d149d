//! AdaGrad's fused step (adagrad.rs) on a GPU (burn's cubecl backend): one thread per value
//! writes both the new running sum and the new parameter. It writes new tensors rather than
//! overwrite its inputs, as burn's own operations on this backend may: its memory pool makes the
//! allocation cheap, and what counts on a GPU is one launch per parameter in place of seven
//! operations for the host to record and submit.

use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::adagrad::{AdaGradBackend, burns_step};
use crate::model::cube_launch::{all_f32, output_like};

/// `new_sum = sum + gradient * gradient`, then
/// `new_parameter = parameter - gradient / (sqrt(new_sum) + epsilon) * learning_rate`.
#[cube(launch_unchecked)]
fn step_kernel(
    parameter: &Tensor<f32>,
    gradient: &Tensor<f32>,
    sum: &Tensor<f32>,
    new_parameter: &mut Tensor<f32>,
    new_sum: &mut Tensor<f32>,
    learning_rate: f32,
    epsilon: f32,
) {
    let position = ABSOLUTE_POS;
    if position >= new_parameter.len() {
        terminate!();
    }
    let value = gradient[position];
    let accumulated = sum[position] + value * value;
    new_sum[position] = accumulated;
    new_parameter[position] =
        parameter[position] - value / (f32::sqrt(accumulated) + epsilon) * learning_rate;
}

impl AdaGradBackend for CubeBackend {
    fn adagrad_step(
        parameter: CubeTensor,
        gradient: CubeTensor,
        sum: CubeTensor,
        learning_rate: f64,
        epsilon: f32,
    ) -> (CubeTensor, CubeTensor) {
        if !all_f32(&[&parameter, &gradient, &sum]) {
            return burns_step::<Self>(parameter, gradient, sum, learning_rate, epsilon);
        }
        let [parameter, gradient, sum] = [parameter, gradient, sum].map(into_contiguous);
        let (new_parameter, cube_count, cube_dim) = output_like(&parameter);
        let (new_sum, ..) = output_like(&sum);
        let client = new_parameter.client.clone();
        // SAFETY: one thread per value of five contiguous tensors of one shape; threads past
        // the last return at once.
        unsafe {
            step_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                parameter.into_tensor_arg(),
                gradient.into_tensor_arg(),
                sum.into_tensor_arg(),
                new_parameter.clone().into_tensor_arg(),
                new_sum.clone().into_tensor_arg(),
                // burn multiplies an f32 tensor by the f64 rate as an f32.
                learning_rate as f32,
                epsilon,
            );
        }
        (new_parameter, new_sum)
    }
}
