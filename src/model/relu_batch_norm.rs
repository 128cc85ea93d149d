//! ReLU followed by batch norm, as CancerNet has it after every convolution and the dense layer,
//! fused into one burn backend extension, here for the CPU backend (the GPU's kernels are in
//! relu_batch_norm_gpu.rs): two passes over the activation
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

use std::mem::MaybeUninit;

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::module::{ModuleMapper, Param, RunningState};
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::{DType, FloatDType, Slice};
use rayon::prelude::*;

use super::device::uses_cpu_kernels;
use super::gpu_layers::{GpuBatchNorm, gpu_layers};
#[cfg(target_arch = "x86_64")]
use super::simd::Lanes;
use super::simd::with_avx2;
use super::unzeroed::written;

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

/// A flex tensor's values as contiguous f32 (CancerNet trains in f32; others are converted).
fn f32_values(tensor: FlexTensor) -> (FlexTensor, DType) {
    let dtype = tensor.dtype();
    let tensor = if dtype == DType::F32 {
        tensor
    } else {
        Flex::float_cast(tensor, FloatDType::F32)
    };
    (tensor.to_contiguous(), dtype)
}

fn slice(tensor: &FlexTensor) -> &[f32] {
    tensor
        .as_slice::<f32>()
        .expect("a contiguous f32 tensor has a slice view")
}

fn flex_tensor(values: Vec<f32>, shape: Shape, dtype: DType) -> FlexTensor {
    let tensor = FlexTensor::from_data(TensorData::new(values, shape));
    match dtype {
        DType::F32 => tensor,
        DType::F64 => Flex::float_cast(tensor, FloatDType::F64),
        DType::F16 => Flex::float_cast(tensor, FloatDType::F16),
        DType::BF16 => Flex::float_cast(tensor, FloatDType::BF16),
        _ => tensor,
    }
}

/// `[batch, channels, positions]` of a `[batch, channels, ...]` shape.
fn layout(shape: &Shape) -> [usize; 3] {
    let dims = shape.as_slice();
    assert!(
        dims.len() >= 2,
        "batch norm needs [batch, channels, ...], got {dims:?}"
    );
    [dims[0], dims[1], dims[2..].iter().product()]
}

/// The batch's moments `[2, channels]` and the running statistics moved toward them.
fn flex_channel_moments(
    x: FlexTensor,
    bias: FlexTensor,
    running_mean: FlexTensor,
    running_var: FlexTensor,
    momentum: f64,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let shape = x.shape();
    let (x, dtype) = f32_values(x);
    let (bias, _) = f32_values(bias);
    let [_, channels, _] = layout(&shape);
    let moments = channel_moments(slice(&x), slice(&bias), layout(&shape));
    let (keep, momentum) = ((1.0 - momentum) as f32, momentum as f32);
    let blend = |running: FlexTensor, row: usize| {
        let shape = running.shape();
        let (running, dtype) = f32_values(running);
        let running = slice(&running);
        let batch = &moments[row * running.len()..][..running.len()];
        let blended = running
            .iter()
            .zip(batch)
            .map(|(&running, &batch)| running * keep + batch * momentum)
            .collect();
        flex_tensor(blended, shape, dtype)
    };
    let (running_mean, running_var) = (blend(running_mean, 0), blend(running_var, 1));
    (
        flex_tensor(moments, [2, channels].into(), dtype),
        running_mean,
        running_var,
    )
}

impl ReluBatchNormBackend for Flex {
    fn relu_batch_norm_training(
        x: FlexTensor,
        bias: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        running_mean: FlexTensor,
        running_var: FlexTensor,
        momentum: f64,
        epsilon: f64,
    ) -> (FlexTensor, FlexTensor, FlexTensor, FlexTensor) {
        let (moments, running_mean, running_var) =
            flex_channel_moments(x.clone(), bias.clone(), running_mean, running_var, momentum);
        let output = Self::relu_batch_norm(x, bias, gamma, beta, moments.clone(), epsilon);
        (output, moments, running_mean, running_var)
    }

    fn relu_batch_norm(
        x: FlexTensor,
        bias: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        moments: FlexTensor,
        epsilon: f64,
    ) -> FlexTensor {
        let shape = x.shape();
        let (x, dtype) = f32_values(x);
        let (bias, _) = f32_values(bias);
        let (gamma, _) = f32_values(gamma);
        let (beta, _) = f32_values(beta);
        let (moments, _) = f32_values(moments);
        let coefficients = Coefficients::new(slice(&moments), epsilon);
        let (scale, shift) = scale_and_shift(slice(&gamma), slice(&beta), &coefficients);
        let affine = Affine {
            bias: slice(&bias),
            scale: &scale,
            shift: &shift,
        };
        // In inference nothing else holds the input (autodiff keeps it in training): then the
        // output takes its place, saving a buffer as large as the activation and its zeroing.
        if dtype == DType::F32 && x.is_unique() && x.storage::<f32>().len() == shape.num_elements() {
            let mut x = x;
            normalise_in_place(x.storage_mut::<f32>(), &affine, layout(&shape));
            return x;
        }
        let output = normalise(slice(&x), &affine, layout(&shape));
        flex_tensor(output, shape, dtype)
    }

    fn relu_batch_norm_backward(
        x: FlexTensor,
        bias: FlexTensor,
        gamma: FlexTensor,
        moments: FlexTensor,
        output_gradient: FlexTensor,
        epsilon: f64,
        batch_statistics: bool,
    ) -> (FlexTensor, FlexTensor) {
        let shape = x.shape();
        let (x, dtype) = f32_values(x);
        let (bias, _) = f32_values(bias);
        let (gamma, _) = f32_values(gamma);
        let (moments, _) = f32_values(moments);
        let (output_gradient, _) = f32_values(output_gradient);
        let coefficients = Coefficients::new(slice(&moments), epsilon);
        let [batch, channels, positions] = layout(&shape);
        let parameter_gradients = parameter_gradients(
            slice(&x),
            slice(&bias),
            slice(&gamma),
            &coefficients,
            slice(&output_gradient),
            [batch, channels, positions],
            batch_statistics,
        );
        let chain = ChainCoefficients::new(
            slice(&gamma),
            &coefficients,
            &parameter_gradients,
            (batch * positions) as f32,
            batch_statistics,
        );
        let x_gradient = input_gradient(
            slice(&x),
            slice(&bias),
            &chain,
            slice(&output_gradient),
            [batch, channels, positions],
        );
        (
            flex_tensor(x_gradient, shape, dtype),
            flex_tensor(parameter_gradients, [3, channels].into(), dtype),
        )
    }
}

/// The layer's backward step: the input's gradient and the parameters', from the saved input,
/// bias, gamma and moments.
#[derive(Debug)]
struct ReluBatchNormStep;

/// `([x, bias, gamma, moments], epsilon, batch_statistics)`.
type StepState<B> = ([FloatTensor<B>; 4], f64, bool);

impl<B: ReluBatchNormBackend> Backward<B, 4> for ReluBatchNormStep {
    type State = StepState<B>;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_bias, node_gamma, node_beta] = ops.parents;
        let output_gradient = grads.consume::<B>(&ops.node);
        let ([x, bias, gamma, moments], epsilon, batch_statistics) = ops.state;
        let channel_shape = gamma.shape();
        // One operation for both: where `x` needs no gradient its part is computed and dropped,
        // which no training step here does (the first layer's input comes from a convolution).
        let (x_gradient, parameter_gradients) = B::relu_batch_norm_backward(
            x,
            bias,
            gamma,
            moments,
            output_gradient,
            epsilon,
            batch_statistics,
        );
        if let Some(node) = node_x {
            grads.register::<B>(node.id, x_gradient);
        }
        let channels = channel_shape.num_elements();
        for (row, node) in [(0, node_gamma), (1, node_beta), (2, node_bias)] {
            if let Some(node) = node {
                let gradient = B::float_slice(
                    parameter_gradients.clone(),
                    &[Slice::from(row..row + 1), Slice::from(0..channels)],
                );
                grads.register::<B>(node.id, B::float_reshape(gradient, channel_shape.clone()));
            }
        }
    }
}

/// The forward pass on autodiff's inner backend, `forward(x, bias, gamma, beta) -> (output,
/// moments, more)`, recorded with [`ReluBatchNormStep`] where any of the four needs a gradient.
fn tracked<B, C, More>(
    [x, bias, gamma, beta]: [FloatTensor<Autodiff<B, C>>; 4],
    epsilon: f64,
    batch_statistics: bool,
    forward: impl FnOnce([FloatTensor<B>; 4]) -> (FloatTensor<B>, FloatTensor<B>, More),
) -> (FloatTensor<Autodiff<B, C>>, More)
where
    B: ReluBatchNormBackend,
    C: CheckpointStrategy,
{
    match ReluBatchNormStep
        .prepare::<C>([x.node(), bias.node(), gamma.node(), beta.node()])
        // Keeps its inputs rather than recomputing them when checkpointing.
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let [x, bias, gamma] = [x, bias, gamma].map(|tensor| tensor.into_primitive());
            let (output, moments, more) =
                forward([x.clone(), bias.clone(), gamma.clone(), beta.into_primitive()]);
            let state = ([x, bias, gamma, moments], epsilon, batch_statistics);
            (prep.finish(state, output), more)
        }
        OpsKind::UnTracked(prep) => {
            let inputs = [x, bias, gamma, beta].map(|tensor| tensor.into_primitive());
            let (output, _, more) = forward(inputs);
            (prep.finish(output), more)
        }
    }
}

impl<B, C> ReluBatchNormBackend for Autodiff<B, C>
where
    B: ReluBatchNormBackend,
    C: CheckpointStrategy,
{
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
    ) {
        let (running_mean, running_var) = (Self::inner(running_mean), Self::inner(running_var));
        let (output, (moments, mean, var)) =
            tracked::<B, C, _>([x, bias, gamma, beta], epsilon, true, |[x, bias, gamma, beta]| {
                let (output, moments, mean, var) = B::relu_batch_norm_training(
                    x,
                    bias,
                    gamma,
                    beta,
                    running_mean,
                    running_var,
                    momentum,
                    epsilon,
                );
                (output, moments.clone(), (moments, mean, var))
            });
        (
            output,
            Self::from_inner(moments),
            Self::from_inner(mean),
            Self::from_inner(var),
        )
    }

    fn relu_batch_norm(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        moments: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let moments = Self::inner(moments);
        tracked::<B, C, _>(
            [x, bias, gamma, beta],
            epsilon,
            false,
            |[x, bias, gamma, beta]| {
                (
                    B::relu_batch_norm(x, bias, gamma, beta, moments.clone(), epsilon),
                    moments,
                    (),
                )
            },
        )
        .0
    }

    // The backward pass is not differentiated itself.
    fn relu_batch_norm_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        moments: FloatTensor<Self>,
        output_gradient: FloatTensor<Self>,
        epsilon: f64,
        batch_statistics: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (x_gradient, parameter_gradients) = B::relu_batch_norm_backward(
            Self::inner(x),
            Self::inner(bias),
            Self::inner(gamma),
            Self::inner(moments),
            Self::inner(output_gradient),
            epsilon,
            batch_statistics,
        );
        (
            Self::from_inner(x_gradient),
            Self::from_inner(parameter_gradients),
        )
    }
}

/// `norm.forward(relu(x))` for `x [batch, channels, ...]`: [`relu_batch_norm_after_bias`] with
/// no bias.
pub fn relu_batch_norm<const D: usize>(norm: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    let channels = x.dims()[1];
    let bias = Tensor::zeros([channels], &x.device());
    relu_batch_norm_after_bias(norm, x, bias)
}

/// `norm.forward(relu(x + bias))` for `x [batch, channels, ...]` and a bias per channel, fused:
/// our kernels on the CPU and on a GPU (relu_batch_norm_gpu.rs), burn's layers on a GPU for
/// tensors other than f32 or when `IDC_STUDIO_GPU_BATCH_NORM` asks for another formulation
/// (gpu_layers.rs). In training (an autodiff device and the layer's training flag on) it
/// normalises with the batch's statistics and updates the running ones as `BatchNorm` does
/// (biased variance, its momentum); otherwise it uses the running statistics.
pub fn relu_batch_norm_after_bias<const D: usize>(
    norm: &BatchNorm,
    x: Tensor<D>,
    bias: Tensor<1>,
) -> Tensor<D> {
    let device = x.device();
    if !uses_cpu_kernels(&device)
        && (gpu_layers().batch_norm != GpuBatchNorm::Kernels || x.dtype() != DType::F32)
    {
        return norm.forward(burn::tensor::activation::relu(x + per_channel::<D>(bias)));
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

/// Per channel: `scale = 1 / sqrt(variance + epsilon)` and the mean.
struct Coefficients {
    mean: Vec<f32>,
    inverse_std: Vec<f32>,
}

impl Coefficients {
    fn new(moments: &[f32], epsilon: f64) -> Self {
        let channels = moments.len() / 2;
        let (mean, variance) = moments.split_at(channels);
        Self {
            mean: mean.to_vec(),
            inverse_std: variance
                .iter()
                .map(|&variance| (1.0 / (f64::from(variance) + epsilon).sqrt()) as f32)
                .collect(),
        }
    }
}

/// Mean and biased variance of `relu(x + bias)` per channel: `[means..., variances...]`.
fn channel_moments(x: &[f32], bias: &[f32], [batch, channels, positions]: [usize; 3]) -> Vec<f32> {
    let count = (batch * positions) as f64;
    let sums: Vec<(f64, f64)> = (0..channels)
        .into_par_iter()
        .map(|channel| {
            let (mut sum, mut squares) = (0f64, 0f64);
            for item in 0..batch {
                let row = &x[(item * channels + channel) * positions..][..positions];
                let (row_sum, row_squares) = relu_sums(row, bias[channel]);
                sum += f64::from(row_sum);
                squares += f64::from(row_squares);
            }
            (sum, squares)
        })
        .collect();
    let means = sums.iter().map(|&(sum, _)| sum / count);
    let variances = sums
        .iter()
        .map(|&(sum, squares)| (squares / count - (sum / count).powi(2)).max(0.0));
    means.chain(variances).map(|value| value as f32).collect()
}

const LANES: usize = 8;

with_avx2! {
    /// `(sum relu(v + bias), sum relu(v + bias)^2)` in lanes the compiler can keep in vector
    /// registers.
    fn relu_sums(row: &[f32], bias: f32) -> (f32, f32) => relu_sums_portable, avx2: relu_sums_avx2
}

/// [`relu_sums_portable`] with its lanes in registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn relu_sums_avx2(row: &[f32], bias: f32) -> (f32, f32) {
    let shift = Lanes::splat(bias);
    let (mut sums, mut squares) = (Lanes::zero(), Lanes::zero());
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        let value = Lanes::load(chunk).add(shift).relu();
        sums = sums.add(value);
        squares = squares.add(value.mul(value));
    }
    relu_sums_tail(chunks.remainder(), bias, (sums.sum(), squares.sum()))
}

/// Adds the values of `rest` one at a time.
#[inline(always)]
fn relu_sums_tail(rest: &[f32], bias: f32, (mut sum, mut square): (f32, f32)) -> (f32, f32) {
    for &value in rest {
        let value = (value + bias).max(0.0);
        sum += value;
        square += value * value;
    }
    (sum, square)
}

#[inline(always)]
fn relu_sums_portable(row: &[f32], bias: f32) -> (f32, f32) {
    let mut sums = [0f32; LANES];
    let mut squares = [0f32; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for lane in 0..LANES {
            let value = (chunk[lane] + bias).max(0.0);
            sums[lane] += value;
            squares[lane] += value * value;
        }
    }
    let sums = (sums.iter().sum::<f32>(), squares.iter().sum::<f32>());
    relu_sums_tail(chunks.remainder(), bias, sums)
}

/// Per channel, `scale` and `shift` such that the normalised `relu(x + bias)` is
/// `relu(x + bias) * scale + shift`.
fn scale_and_shift(gamma: &[f32], beta: &[f32], coefficients: &Coefficients) -> (Vec<f32>, Vec<f32>) {
    let scale: Vec<f32> = gamma
        .iter()
        .zip(&coefficients.inverse_std)
        .map(|(gamma, inverse_std)| gamma * inverse_std)
        .collect();
    let shift: Vec<f32> = beta
        .iter()
        .zip(&coefficients.mean)
        .zip(&scale)
        .map(|((beta, mean), scale)| beta - mean * scale)
        .collect();
    (scale, shift)
}

/// The forward pass per channel: `y = relu(x + bias) * scale + shift`.
struct Affine<'a> {
    bias: &'a [f32],
    scale: &'a [f32],
    shift: &'a [f32],
}

impl Affine<'_> {
    fn of(&self, channel: usize) -> [f32; 3] {
        [self.bias[channel], self.scale[channel], self.shift[channel]]
    }
}

fn normalise(x: &[f32], affine: &Affine, [_, channels, positions]: [usize; 3]) -> Vec<f32> {
    if channels * positions == 0 {
        return Vec::new();
    }
    let fill = |output: &mut [MaybeUninit<f32>]| {
        output
            .par_chunks_mut(channels * positions)
            .zip(x.par_chunks(channels * positions))
            .for_each(|(output, x)| {
                for channel in 0..channels {
                    let range = channel * positions..(channel + 1) * positions;
                    normalise_row(&mut output[range.clone()], &x[range], affine.of(channel));
                }
            });
    };
    // SAFETY: the items' channel rows cover the output, and `normalise_row` writes all of its
    // row.
    unsafe { written(x.len(), fill) }
}

/// [`normalise`] writing over its input.
fn normalise_in_place(x: &mut [f32], affine: &Affine, [_, channels, positions]: [usize; 3]) {
    x.par_chunks_mut(channels * positions).for_each(|item| {
        for (channel, row) in item.chunks_exact_mut(positions).enumerate() {
            normalise_row_in_place(row, affine.of(channel));
        }
    });
}

with_avx2! {
    /// `x = relu(x + bias) * scale + shift` along one row.
    fn normalise_row_in_place(x: &mut [f32], affine: [f32; 3]) => normalise_row_in_place_portable
}

#[inline(always)]
fn normalise_row_in_place_portable(x: &mut [f32], [bias, scale, shift]: [f32; 3]) {
    for value in x.iter_mut() {
        *value = (*value + bias).max(0.0) * scale + shift;
    }
}

with_avx2! {
    /// `y = relu(x + bias) * scale + shift` along one row: every value of `y` written.
    fn normalise_row(y: &mut [MaybeUninit<f32>], x: &[f32], affine: [f32; 3]) => normalise_row_portable
}

#[inline(always)]
fn normalise_row_portable(y: &mut [MaybeUninit<f32>], x: &[f32], [bias, scale, shift]: [f32; 3]) {
    let x = &x[..y.len()];
    for index in 0..y.len() {
        y[index].write((x[index] + bias).max(0.0) * scale + shift);
    }
}

/// The input gradient per channel where `x + bias > 0` (0 elsewhere):
/// `dx = g * a + relu(x + bias) * b + c`. From `d relu = gamma * inverse_std * (g - [sum g +
/// x_hat * sum g x_hat] / count)`, the bracket only with batch statistics, and `x_hat =
/// (relu(x + bias) - mean) * inverse_std`.
struct ChainCoefficients {
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl ChainCoefficients {
    /// `parameter_gradients` starts with gamma's and beta's rows (the bias's may follow);
    /// `count` values per channel.
    fn new(
        gamma: &[f32],
        coefficients: &Coefficients,
        parameter_gradients: &[f32],
        count: f32,
        batch_statistics: bool,
    ) -> Self {
        let channels = gamma.len();
        let Coefficients { mean, inverse_std } = coefficients;
        let (gamma_gradient, beta_gradient) = (
            &parameter_gradients[..channels],
            &parameter_gradients[channels..2 * channels],
        );
        let mut chain = Self {
            a: vec![0f32; channels],
            b: vec![0f32; channels],
            c: vec![0f32; channels],
        };
        for channel in 0..channels {
            let a = gamma[channel] * inverse_std[channel];
            chain.a[channel] = a;
            if batch_statistics {
                let per_x_hat = gamma_gradient[channel] / count;
                chain.b[channel] = -a * per_x_hat * inverse_std[channel];
                chain.c[channel] =
                    -a * (beta_gradient[channel] / count - per_x_hat * mean[channel] * inverse_std[channel]);
            }
        }
        chain
    }
}

/// Per channel: `[gamma's gradient..., beta's..., the bias's...]`.
fn parameter_gradients(
    x: &[f32],
    bias: &[f32],
    gamma: &[f32],
    coefficients: &Coefficients,
    output_gradient: &[f32],
    [batch, channels, positions]: [usize; 3],
    batch_statistics: bool,
) -> Vec<f32> {
    let sums: Vec<GradientSums> = (0..channels)
        .into_par_iter()
        .map(|channel| {
            let mut total = [0f64; 4];
            for item in 0..batch {
                let start = (item * channels + channel) * positions;
                let row = gradient_sums(
                    &output_gradient[start..start + positions],
                    &x[start..start + positions],
                    bias[channel],
                );
                for (total, value) in total.iter_mut().zip(row) {
                    *total += f64::from(value);
                }
            }
            GradientSums(total.map(|value| value as f32))
        })
        .collect();
    let Coefficients { mean, inverse_std } = coefficients;
    let beta_gradient: Vec<f32> = sums.iter().map(|sums| sums.g()).collect();
    // sum g * x_hat = inverse_std * (sum g * relu - mean * sum g)
    let gamma_gradient: Vec<f32> = (0..channels)
        .map(|c| inverse_std[c] * (sums[c].g_relu() - mean[c] * sums[c].g()))
        .collect();
    let count = (batch * positions) as f32;
    // The bias's gradient is the input gradient's sum over the values where `x + bias > 0`,
    // `gamma * inverse_std * (sum g - [n * sum g + sum x_hat * sum g x_hat] / count)` over those
    // `n` values (the bracket only with batch statistics), where the `x_hat` of the others is
    // `-mean * inverse_std` and all of them sum to 0. Written so, it has no difference of large
    // terms when the mean is far from 0.
    let bias_gradient: Vec<f32> = (0..channels)
        .map(|c| {
            let a = gamma[c] * inverse_std[c];
            let active = sums[c].active();
            if batch_statistics {
                let active_x_hat = (count - active) * mean[c] * inverse_std[c];
                a * (sums[c].active_g()
                    - (active * beta_gradient[c] + active_x_hat * gamma_gradient[c]) / count)
            } else {
                a * sums[c].active_g()
            }
        })
        .collect();
    [gamma_gradient, beta_gradient, bias_gradient].concat()
}

/// A channel's sums for the backward pass.
struct GradientSums([f32; 4]);

impl GradientSums {
    /// `sum g`.
    fn g(&self) -> f32 {
        self.0[0]
    }
    /// `sum g * relu(x + bias)`.
    fn g_relu(&self) -> f32 {
        self.0[1]
    }
    /// `sum g` where `x + bias > 0`.
    fn active_g(&self) -> f32 {
        self.0[2]
    }
    /// How many values have `x + bias > 0`.
    fn active(&self) -> f32 {
        self.0[3]
    }
}

/// The gradient for `x`, where `x + bias > 0`, else 0.
fn input_gradient(
    x: &[f32],
    bias: &[f32],
    chain: &ChainCoefficients,
    output_gradient: &[f32],
    [_, channels, positions]: [usize; 3],
) -> Vec<f32> {
    if channels * positions == 0 {
        return Vec::new();
    }
    let fill = |x_gradient: &mut [MaybeUninit<f32>]| {
        x_gradient
            .par_chunks_mut(channels * positions)
            .zip(x.par_chunks(channels * positions))
            .zip(output_gradient.par_chunks(channels * positions))
            .for_each(|((x_gradient, x), output_gradient)| {
                let rows = x_gradient
                    .chunks_exact_mut(positions)
                    .zip(x.chunks_exact(positions))
                    .zip(output_gradient.chunks_exact(positions));
                for (channel, ((dx, x), g)) in rows.enumerate() {
                    let coefficients = [
                        chain.a[channel],
                        chain.b[channel],
                        chain.c[channel],
                        bias[channel],
                    ];
                    input_gradient_row(dx, x, g, coefficients);
                }
            });
    };
    // SAFETY: the items' channel rows cover the gradient, and `input_gradient_row` writes all of
    // its row.
    unsafe { written(x.len(), fill) }
}

with_avx2! {
    /// `dx = g * a + (x + bias) * b + c` where `x + bias > 0`, else `0`, along one row: every
    /// value of `dx` written.
    fn input_gradient_row(dx: &mut [MaybeUninit<f32>], x: &[f32], g: &[f32], coefficients: [f32; 4])
        => input_gradient_row_portable
}

#[inline(always)]
fn input_gradient_row_portable(dx: &mut [MaybeUninit<f32>], x: &[f32], g: &[f32], [a, b, c, bias]: [f32; 4]) {
    let (x, g) = (&x[..dx.len()], &g[..dx.len()]);
    for index in 0..dx.len() {
        let shifted = x[index] + bias;
        let value = g[index] * a + shifted * b + c;
        // A select rather than a branch, so that the loop vectorises.
        dx[index].write(if shifted > 0.0 { value } else { 0.0 });
    }
}

with_avx2! {
    /// `[sum g, sum g * relu(x + bias), sum g where x + bias > 0, count where x + bias > 0]` in
    /// vector lanes.
    fn gradient_sums(g: &[f32], x: &[f32], bias: f32) -> [f32; 4] => gradient_sums_portable,
        avx2: gradient_sums_avx2
}

/// [`gradient_sums_portable`] with its lanes in registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn gradient_sums_avx2(g: &[f32], x: &[f32], bias: f32) -> [f32; 4] {
    let shift = Lanes::splat(bias);
    let mut lanes = [Lanes::zero(); 4];
    let mut g_chunks = g.chunks_exact(LANES);
    let mut x_chunks = x.chunks_exact(LANES);
    for (g, x) in (&mut g_chunks).zip(&mut x_chunks) {
        let g = Lanes::load(g);
        let shifted = Lanes::load(x).add(shift);
        let active = shifted.positive_indicator();
        lanes[0] = lanes[0].add(g);
        lanes[1] = lanes[1].add(g.mul(shifted.relu()));
        lanes[2] = lanes[2].add(g.mul(active));
        lanes[3] = lanes[3].add(active);
    }
    let sums = [lanes[0].sum(), lanes[1].sum(), lanes[2].sum(), lanes[3].sum()];
    gradient_sums_tail(g_chunks.remainder(), x_chunks.remainder(), bias, sums)
}

/// Adds the pairs of `g` and `x` one at a time.
#[inline(always)]
fn gradient_sums_tail(g: &[f32], x: &[f32], bias: f32, mut sums: [f32; 4]) -> [f32; 4] {
    for (&g, &x) in g.iter().zip(x) {
        let shifted = x + bias;
        let active = if shifted > 0.0 { 1.0 } else { 0.0 };
        sums[0] += g;
        sums[1] += g * shifted.max(0.0);
        sums[2] += g * active;
        sums[3] += active;
    }
    sums
}

#[inline(always)]
fn gradient_sums_portable(g: &[f32], x: &[f32], bias: f32) -> [f32; 4] {
    let mut lanes = [[0f32; LANES]; 4];
    let mut g_chunks = g.chunks_exact(LANES);
    let mut x_chunks = x.chunks_exact(LANES);
    for (g, x) in (&mut g_chunks).zip(&mut x_chunks) {
        for lane in 0..LANES {
            let shifted = x[lane] + bias;
            let active = if shifted > 0.0 { 1.0 } else { 0.0 };
            lanes[0][lane] += g[lane];
            lanes[1][lane] += g[lane] * shifted.max(0.0);
            lanes[2][lane] += g[lane] * active;
            lanes[3][lane] += active;
        }
    }
    let sums = lanes.map(|lane| lane.iter().sum::<f32>());
    gradient_sums_tail(g_chunks.remainder(), x_chunks.remainder(), bias, sums)
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::nn::BatchNormConfig;

    use super::*;
    use crate::model::cancernet::batch_norm_from_sums;

    fn max_difference<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    fn values(count: usize, multiplier: usize, modulus: usize) -> Vec<f32> {
        (0..count)
            .map(|i| ((i * multiplier) % modulus) as f32 / (modulus as f32 / 4.0) - 1.5)
            .collect()
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_avx2_sums_give_the_portable_numbers_bit_for_bit() {
        use crate::model::simd::{has_avx2, test_values};
        if !has_avx2() {
            eprintln!("no AVX2 on this CPU: only the portable kernels run");
            return;
        }
        for length in 0..40 {
            let x = test_values(length, length as u64);
            let g = test_values(length, 500 + length as u64);
            for bias in [0.0, 0.3, -0.7] {
                let portable = relu_sums_portable(&x, bias);
                // SAFETY: the CPU has AVX2 (checked above).
                let avx2 = unsafe { relu_sums_avx2(&x, bias) };
                assert_eq!(
                    (portable.0.to_bits(), portable.1.to_bits()),
                    (avx2.0.to_bits(), avx2.1.to_bits()),
                    "moments, length {length}, bias {bias}"
                );
                let portable = gradient_sums_portable(&g, &x, bias);
                // SAFETY: as above.
                let avx2 = unsafe { gradient_sums_avx2(&g, &x, bias) };
                assert_eq!(
                    portable.map(f32::to_bits),
                    avx2.map(f32::to_bits),
                    "gradient sums, length {length}, bias {bias}"
                );
            }
        }
        // NaN counts as inactive and its ReLU as 0 in both.
        let x = [f32::NAN; 9];
        let g = [1.0; 9];
        // SAFETY: as above.
        let avx2 = unsafe { gradient_sums_avx2(&g, &x, 0.0) };
        assert_eq!(avx2, gradient_sums_portable(&g, &x, 0.0));
        assert_eq!(avx2, [9.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn training_matches_bias_relu_then_burns_batch_norm() {
        let device = Device::flex().autodiff();
        let shape = [3, 5, 4, 6];
        let count = shape.iter().product();
        // Gammas and betas other than 1 and 0, so that a missing factor would show.
        let with_parameters = || {
            let mut norm = BatchNormConfig::new(5).init(&device);
            norm.gamma = Param::from_tensor(Tensor::<1>::from_floats([0.5, 1.0, 1.5, -0.7, 2.0], &device));
            norm.beta = Param::from_tensor(Tensor::<1>::from_floats([0.1, -0.2, 0.0, 0.3, 1.0], &device));
            norm
        };
        let (ours, burns) = (with_parameters(), with_parameters());
        let x = Tensor::<4>::from_data(TensorData::new(values(count, 37, 23), shape), &device).require_grad();
        // Biases that move some channels mostly above zero and others mostly below.
        let bias = Tensor::<1>::from_floats([0.4, -0.6, 0.0, 1.2, -0.3], &device).require_grad();
        let output_weights = Tensor::<4>::from_data(TensorData::new(values(count, 53, 17), shape), &device);

        let fused = relu_batch_norm_after_bias(&ours, x.clone(), bias.clone());
        let reference = burns.forward(burn::tensor::activation::relu(
            x.clone() + per_channel::<4>(bias.clone()),
        ));
        assert!(max_difference(fused.clone(), reference.clone()) < 1e-5);

        let fused_gradients = (fused * output_weights.clone()).sum().backward();
        let reference_gradients = (reference * output_weights).sum().backward();
        let x_difference = max_difference(
            x.grad(&fused_gradients).unwrap(),
            x.grad(&reference_gradients).unwrap(),
        );
        assert!(x_difference < 1e-4, "input gradients differ by {x_difference}");
        let bias_difference = max_difference(
            bias.grad(&fused_gradients).unwrap(),
            bias.grad(&reference_gradients).unwrap(),
        );
        assert!(
            bias_difference < 1e-4,
            "bias gradients differ by {bias_difference}"
        );
        for (a, b) in [(&ours.gamma, &burns.gamma), (&ours.beta, &burns.beta)] {
            let difference = max_difference(
                a.val().grad(&fused_gradients).unwrap(),
                b.val().grad(&reference_gradients).unwrap(),
            );
            assert!(difference < 1e-4, "parameter gradients differ by {difference}");
        }
        // `value_sync`: `value` is one update behind, and would compare the initial values.
        for (a, b, initial) in [
            (&ours.running_mean, &burns.running_mean, 0.0),
            (&ours.running_var, &burns.running_var, 1.0),
        ] {
            let (a, b) = (a.value_sync(), b.value_sync());
            assert!(max_difference(a.clone(), b) < 1e-6, "running statistics differ");
            assert!(
                max_difference(a, Tensor::full([5], initial, &device)) > 1e-3,
                "not updated"
            );
        }
    }

    #[test]
    fn inference_uses_the_running_statistics_in_two_and_four_dimensions() {
        let device = Device::flex().autodiff();
        let norm = BatchNormConfig::new(4).init(&device);
        // A few training batches give the running statistics values of their own.
        for round in 0..3 {
            let x = Tensor::<4>::from_data(
                TensorData::new(values(2 * 4 * 3 * 3, 31 + round, 19), [2, 4, 3, 3]),
                &device,
            );
            let _ = batch_norm_from_sums(&norm, burn::tensor::activation::relu(x.clone()));
        }
        let inference = norm.valid();
        let plain = Device::flex();
        let data = TensorData::new(values(72, 41, 13), [2, 4, 3, 3]);
        let x4 = Tensor::<4>::from_data(data.clone(), &plain);
        let expected = inference.forward(burn::tensor::activation::relu(x4.clone()));
        // An input held elsewhere too is left as it was; one held only here is overwritten.
        let from_shared = relu_batch_norm(&inference, x4.clone());
        assert_eq!(x4.to_data(), data);
        let from_sole = relu_batch_norm(&inference, Tensor::<4>::from_data(data, &plain));
        assert!(max_difference(from_shared, expected.clone()) < 1e-5);
        assert!(max_difference(from_sole, expected) < 1e-5);
        let x2 = Tensor::<2>::from_data(TensorData::new(values(24, 7, 11), [6, 4]), &plain);
        assert!(
            max_difference(
                relu_batch_norm(&inference, x2.clone()),
                inference.forward(burn::tensor::activation::relu(x2))
            ) < 1e-5
        );
    }

    #[test]
    fn a_dense_layers_batch_norm_trains_the_same() {
        // [batch, channels] as after CancerNet's dense layer: one position per channel.
        let device = Device::flex().autodiff();
        let ours = BatchNormConfig::new(6).init(&device);
        let burns = BatchNormConfig::new(6).init(&device);
        let x = Tensor::<2>::from_data(TensorData::new(values(48, 29, 13), [8, 6]), &device).require_grad();
        let weights = Tensor::<2>::from_data(TensorData::new(values(48, 17, 7), [8, 6]), &device);
        let bias = Tensor::<1>::from_floats([0.3, -0.5, 0.0, 0.8, -0.1, 0.2], &device).require_grad();
        let fused = relu_batch_norm_after_bias(&ours, x.clone(), bias.clone());
        let reference = burns.forward(burn::tensor::activation::relu(
            x.clone() + per_channel::<2>(bias.clone()),
        ));
        assert!(max_difference(fused.clone(), reference.clone()) < 1e-5);
        let ours = (fused * weights.clone()).sum().backward();
        let burns = (reference * weights).sum().backward();
        assert!(max_difference(x.grad(&ours).unwrap(), x.grad(&burns).unwrap()) < 1e-4);
        assert!(max_difference(bias.grad(&ours).unwrap(), bias.grad(&burns).unwrap()) < 1e-4);
    }
}
