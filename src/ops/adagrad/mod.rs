//! AdaGrad, the reference recipe's optimiser, with each parameter's update fused into one
//! operation instead of burn's seven (square, add, sqrt, add, divide, multiply, subtract).
//!
//! The numbers are burn's `AdaGrad` (the same arithmetic in the same order, checked in the
//! tests), and so is the saved state: a checkpoint written by either resumes in the other. What
//! changes is the cost. burn's update makes seven passes over each parameter, each allocating a
//! new tensor; on a GPU each is also one more operation for the host to record, fuse and submit,
//! about 250 a step for CancerNet's 36 parameter tensors, on a host that sets the pace at
//! batch 32. Here one operation per parameter adds the squared gradient to the running sum and
//! updates the parameter, both in place on the CPU (below), one kernel with two outputs on a GPU
//! (adagrad/gpu.rs).

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, backend_extension};

mod cpu;
mod gpu;
mod groups;
mod optimizer;
#[cfg(test)]
mod tests;

pub use optimizer::{AdaGradState, DeviceAdaGrad, FusedAdaGrad};

/// burn's default for AdaGrad's `epsilon`, added to the root of the sum of squared gradients.
pub const EPSILON: f32 = 1e-5;

// As model/depthwise.rs: `Cube` (wgpu) is always compiled in; `Fusion` records each call as one
// opaque operation. The optimiser works on the parameters' inner (not autodiff) tensors.
#[backend_extension(Flex, Cube: cfg(all()), Fusion)]
pub trait AdaGradBackend: Backend {
    /// One AdaGrad step of one parameter: `(parameter', sum')`, where `sum' = sum + gradient *
    /// gradient` and `parameter' = parameter - gradient / (sqrt(sum') + epsilon) *
    /// learning_rate`, in that order of operations (burn's), in the parameter's dtype. One
    /// operation with two outputs: on a GPU one launch where two would do.
    #[fusion(meta = |parameter, _gradient, sum, _learning_rate, _epsilon| (parameter.clone(), sum.clone()))]
    fn adagrad_step(
        parameter: FloatTensor<Self>,
        gradient: FloatTensor<Self>,
        sum: FloatTensor<Self>,
        learning_rate: f64,
        epsilon: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        burns_step::<Self>(parameter, gradient, sum, learning_rate, epsilon)
    }

    /// [`GROUP`] parameters' steps in one operation, `(parameter', sum')` for each, in order: on a
    /// GPU one launch where there would be six. Each parameter has its own learning rate (its
    /// own step count, in burn's decay).
    #[fusion(meta = |p0, _g0, s0, p1, _g1, s1, p2, _g2, s2, p3, _g3, s3, p4, _g4, s4, p5, _g5, s5, _rates, _epsilon| (
        (p0.clone(), s0.clone()),
        (p1.clone(), s1.clone()),
        (p2.clone(), s2.clone()),
        (p3.clone(), s3.clone()),
        (p4.clone(), s4.clone()),
        (p5.clone(), s5.clone()),
    ))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn adagrad_step_group(
        p0: FloatTensor<Self>,
        g0: FloatTensor<Self>,
        s0: FloatTensor<Self>,
        p1: FloatTensor<Self>,
        g1: FloatTensor<Self>,
        s1: FloatTensor<Self>,
        p2: FloatTensor<Self>,
        g2: FloatTensor<Self>,
        s2: FloatTensor<Self>,
        p3: FloatTensor<Self>,
        g3: FloatTensor<Self>,
        s3: FloatTensor<Self>,
        p4: FloatTensor<Self>,
        g4: FloatTensor<Self>,
        s4: FloatTensor<Self>,
        p5: FloatTensor<Self>,
        g5: FloatTensor<Self>,
        s5: FloatTensor<Self>,
        rates: [f64; GROUP],
        epsilon: f32,
    ) -> (
        (FloatTensor<Self>, FloatTensor<Self>),
        (FloatTensor<Self>, FloatTensor<Self>),
        (FloatTensor<Self>, FloatTensor<Self>),
        (FloatTensor<Self>, FloatTensor<Self>),
        (FloatTensor<Self>, FloatTensor<Self>),
        (FloatTensor<Self>, FloatTensor<Self>),
    ) {
        let [r0, r1, r2, r3, r4, r5] = rates;
        (
            Self::adagrad_step(p0, g0, s0, r0, epsilon),
            Self::adagrad_step(p1, g1, s1, r1, epsilon),
            Self::adagrad_step(p2, g2, s2, r2, epsilon),
            Self::adagrad_step(p3, g3, s3, r3, epsilon),
            Self::adagrad_step(p4, g4, s4, r4, epsilon),
            Self::adagrad_step(p5, g5, s5, r5, epsilon),
        )
    }
}

/// Parameters stepped by one [`AdaGradBackend::adagrad_step_group`].
pub const GROUP: usize = 6;

/// [`AdaGradBackend::adagrad_step`] in burn's operations (other backends and dtypes): burn's
/// `AdaGrad` exactly.
pub(super) fn burns_step<B: Backend>(
    parameter: FloatTensor<B>,
    gradient: FloatTensor<B>,
    sum: FloatTensor<B>,
    learning_rate: f64,
    epsilon: f32,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let sum = burns_accumulate::<B>(sum, gradient.clone());
    let parameter = burns_update::<B>(parameter, gradient, sum.clone(), learning_rate, epsilon);
    (parameter, sum)
}

/// `sum + gradient * gradient` in burn's operations.
fn burns_accumulate<B: Backend>(sum: FloatTensor<B>, gradient: FloatTensor<B>) -> FloatTensor<B> {
    let square = B::float_mul(gradient.clone(), gradient);
    B::float_add(sum, square)
}

/// `parameter - gradient / (sqrt(sum) + epsilon) * learning_rate` in burn's operations.
fn burns_update<B: Backend>(
    parameter: FloatTensor<B>,
    gradient: FloatTensor<B>,
    sum: FloatTensor<B>,
    learning_rate: f64,
    epsilon: f32,
) -> FloatTensor<B> {
    let root = B::float_add_scalar(B::float_sqrt(sum), epsilon.into());
    let step = B::float_mul_scalar(B::float_div(gradient, root), learning_rate.into());
    B::float_sub(parameter, step)
}
