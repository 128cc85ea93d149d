//! ReLU followed by batch norm, as CancerNet has it after every convolution and the dense layer,
//! fused into one burn backend extension, here for the CPU backend (the GPU's kernels are in
//! relu_batch_norm/gpu.rs): two passes over the activation
//! forward (channel moments, then normalise) and two backward (channel sums, then the input
//! gradient). Composed of burn's tensor operations the same layer takes about ten passes each
//! way, each with its own allocation, and was a fifth of a CPU training step.
//!
//! The layer before it adds a bias per channel (the 1x1 convolution's, the dense layer's): that
//! is done here too, `relu(x + bias)`, so the bias costs no pass of its own forward and its
//! gradient no reduction of its own backward (it comes from sums the backward takes anyway).
//!
//! With batch statistics (training) the backward pass includes the mean's and variance's
//! dependence on the input, as `BatchNorm` differentiates it; with running statistics
//! (inference) they are constants.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::module::{ModuleMapper, Param, RunningState};
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::DType;

use crate::ops::uses_cpu_kernels;
use crate::ops::variants::{GpuBatchNorm, gpu_variants};

mod autodiff;
mod by_sums;
mod cpu;
mod cpu_kernels;
mod gpu;
#[cfg(test)]
mod tests;

pub use by_sums::batch_norm_from_sums;

// As depthwise.rs: `Cube` (wgpu) is always compiled in; `Fusion` records each call as one opaque
// operation, of one output or a tuple of them. A training step is two operations: forward
// (the batch's moments, the running statistics and the normalised output), then backward (the
// input's and the parameters' gradients, the second needing all of the first's sums).
#[backend_extension(Flex, Cube: cfg(all()), Fusion, Autodiff)]
pub trait ReluBatchNormBackend: Backend {
    /// Training: `(relu(x + bias) - mean) / sqrt(variance + epsilon) * gamma + beta` per channel
    /// (axis 1) with the batch's own mean and biased variance over every other axis; also those
    /// `moments [2, channels]`, and the running mean and variance moved toward them, `running *
    /// (1 - momentum) + moment * momentum` in `BatchNorm`'s arithmetic. One operation with four
    /// outputs, where burn's tensor operations take some thirty, twelve for the running
    /// statistics alone (per statistic a slice, a reshape, two scalings, a sum and a copy across
    /// devices), each recorded and launched on a GPU. The output's gradient flows through the
    /// moments too; the moments and running statistics are not differentiable themselves.
    #[fusion(meta = |x, _bias, _gamma, _beta, running_mean, running_var, _momentum, _epsilon| (
        x.clone(),
        burn::backend::fusion::custom::TensorSpec::new(Shape::new([2, x.shape[1]]), x.dtype),
        running_mean.clone(),
        running_var.clone(),
    ))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn relu_batch_norm_training(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        running_mean: FloatTensor<Self>,
        running_var: FloatTensor<Self>,
        momentum: f64,
        epsilon: f64,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    );

    /// `(relu(x + bias) - mean) / sqrt(variance + epsilon) * gamma + beta` per channel, with
    /// given `moments = [mean; variance]` (the running statistics: inference), constants to the
    /// gradient.
    #[fusion(dtype = x, shape = x)]
    fn relu_batch_norm(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        moments: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;

    /// Given the output's gradient `g`: the gradient for `x`, and `[3, channels]`, the gradients
    /// of gamma (`sum g * x_hat`), beta (`sum g`) and the bias (the input gradient summed per
    /// channel). `batch_statistics`: the moments are `x`'s own (training), so the gradient flows
    /// through them too.
    #[fusion(meta = |x, _bias, _gamma, _moments, _output_gradient, _epsilon, _batch_statistics| (
        x.clone(),
        burn::backend::fusion::custom::TensorSpec::new(Shape::new([3, x.shape[1]]), x.dtype),
    ))]
    fn relu_batch_norm_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        moments: FloatTensor<Self>,
        output_gradient: FloatTensor<Self>,
        epsilon: f64,
        batch_statistics: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

/// `norm.forward(relu(x))` for `x [batch, channels, ...]`: [`relu_batch_norm_after_bias`] with
/// no bias.
pub fn relu_batch_norm<const D: usize>(norm: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    let channels = x.dims()[1];
    let bias = Tensor::zeros([channels], &x.device());
    relu_batch_norm_after_bias(norm, x, bias)
}

/// `norm.forward(relu(x + bias))` for `x [batch, channels, ...]` and a bias per channel, fused:
/// our kernels on the CPU and on a GPU (relu_batch_norm/gpu.rs), burn's layers on a GPU for
/// tensors other than f32 or when `IDC_STUDIO_GPU_BATCH_NORM` asks for another formulation
/// (variants.rs). In training (an autodiff device and the layer's training flag on) it
/// normalises with the batch's statistics and updates the running ones as `BatchNorm` does
/// (biased variance, its momentum); otherwise it uses the running statistics.
pub fn relu_batch_norm_after_bias<const D: usize>(
    norm: &BatchNorm,
    x: Tensor<D>,
    bias: Tensor<1>,
) -> Tensor<D> {
    let device = x.device();
    if !uses_cpu_kernels(&device)
        && (gpu_variants().batch_norm != GpuBatchNorm::Kernels || x.dtype() != DType::F32)
    {
        let x = burn::tensor::activation::relu(x + per_channel::<D>(bias));
        // The dense layer's batch norm is not four-dimensional: it takes burn's layer.
        if D == 4 && gpu_variants().batch_norm == GpuBatchNorm::Sums && x.dtype() == DType::F32 {
            let dims = x.dims();
            let by_sums = batch_norm_from_sums(norm, x.reshape([dims[0], dims[1], dims[2], dims[3]]));
            return by_sums.reshape(dims);
        }
        return norm.forward(x);
    }
    if device.is_autodiff() && norm.training.is_enabled() {
        let (running_mean, running_var) = (norm.running_mean.value_sync(), norm.running_var.value_sync());
        let device = running_mean.device();
        let (output, _moments, mean, var) = Dispatch::relu_batch_norm_training(
            x.into_dispatch(),
            bias.into_dispatch(),
            norm.gamma.val().into_dispatch(),
            norm.beta.val().into_dispatch(),
            running_mean.inner().into_dispatch(),
            running_var.inner().into_dispatch(),
            norm.momentum,
            norm.epsilon,
        );
        for (state, blended) in [(&norm.running_mean, mean), (&norm.running_var, var)] {
            set_running(state, Tensor::<1>::from_dispatch(blended).to_device(&device));
        }
        return Tensor::from_dispatch(output);
    }
    let moments = Tensor::stack::<2>(
        vec![
            norm.running_mean.value_sync().inner(),
            norm.running_var.value_sync().inner(),
        ],
        0,
    );
    Tensor::from_dispatch(Dispatch::relu_batch_norm(
        x.into_dispatch(),
        bias.into_dispatch(),
        norm.gamma.val().into_dispatch(),
        norm.beta.val().into_dispatch(),
        moments.into_dispatch(),
        norm.epsilon,
    ))
}

/// Sets a running statistic to `value`. `RunningState::update` keeps a value per thread and, at
/// the next read, averages the threads' values: a division by one every step for a model
/// trained from one thread, which on a GPU is a kernel launch per layer and step. The state's
/// mapper sets the shared value itself. A model here is only ever trained from one thread.
pub(crate) fn set_running(state: &RunningState<Tensor<1>>, value: Tensor<1>) {
    struct Replace(Option<Tensor<1>>);
    impl ModuleMapper for Replace {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let value = self.0.take().expect("a running statistic is one tensor");
            Param::initialized(param.id, Tensor::from_dispatch(value.into_dispatch()))
        }
    }
    // A clone shares the state's storage, so mapping it sets the layer's own statistic.
    let _ = state.clone().map(&mut Replace(Some(value)));
}

/// `bias [channels]` shaped to broadcast over axis 1 of a `D`-dimensional tensor.
pub fn per_channel<const D: usize>(bias: Tensor<1>) -> Tensor<D> {
    let mut dims = [1usize; D];
    dims[1] = bias.dims()[0];
    bias.reshape(dims)
}
