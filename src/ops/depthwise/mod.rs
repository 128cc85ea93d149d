//! CancerNet's depthwise 3x3 convolution ('same' padding, stride 1, no bias) as a burn backend
//! extension, so that training on the CPU does not pay for burn's generic grouped-convolution
//! backward pass: its weight gradient runs one small convolution per channel and its input
//! gradient goes through a general transposed convolution.
//!
//! Forward: [`forward_f32`], one pass per output row over a zero-bordered copy of the plane.
//! Backward:
//! - input gradient: the same depthwise convolution of the output gradient with each filter
//!   rotated by 180 degrees, so it reuses the forward kernel;
//! - weight gradient: nine dot products per channel between the output gradient and the shifted
//!   input, summed over the batch ([`weight_gradient_f32`]), one channel per rayon task.
//!
//! These are flex's kernels; burn's cubecl backend (a GPU) has its own in depthwise/gpu.rs.
//! Other backends, and tensors other than f32, take burn's convolution
//! ([`burns_convolution`], [`burns_weight_gradient`]).

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, TensorMetadata, backend_extension};
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;

use crate::ops::uses_cpu_kernels;
use crate::ops::variants::gpu_variants;

mod autodiff;
mod cpu;
mod gpu;
#[cfg(test)]
mod tests;

/// 'same' padding, stride 1, one filter per channel.
fn depthwise_options(channels: usize) -> ConvOptions<2> {
    ConvOptions::new([1, 1], [1, 1], [1, 1], channels)
}

// `Cube` (every cubecl runtime; wgpu here) is compiled in with burn's `wgpu` feature, which this
// crate always enables, so its selector needs no condition of its own. `Fusion` records each call
// as one opaque operation of the lazy graph and runs the cubecl kernel when the graph executes.
#[backend_extension(Flex, Cube: cfg(all()), Fusion, Autodiff)]
pub trait DepthwiseConvBackend: Backend {
    /// `x [batch, channels, height, width]` convolved with `weight [channels, 1, 3, 3]`.
    #[fusion(dtype = x, shape = x)]
    fn depthwise_conv3x3(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        burns_convolution::<Self>(x, weight)
    }

    /// The gradient of the loss for the input: `output_gradient` convolved with each filter of
    /// `weight` turned by 180 degrees. One operation, where flipping the filters first would be
    /// a second for a GPU's host to record and launch.
    #[fusion(dtype = output_gradient, shape = output_gradient)]
    fn depthwise_conv3x3_input_gradient(
        output_gradient: FloatTensor<Self>,
        weight: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        burns_input_gradient::<Self>(output_gradient, weight)
    }

    /// The gradient of the loss for the weight `[channels, 1, 3, 3]`, given the convolution's
    /// input and the gradient of its output.
    #[fusion(dtype = x, shape = Shape::new([x[1], 1, 3, 3]))]
    fn depthwise_conv3x3_weight_gradient(
        x: FloatTensor<Self>,
        output_gradient: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        burns_weight_gradient::<Self>(x, output_gradient)
    }
}

/// burn's own grouped convolution for [`DepthwiseConvBackend::depthwise_conv3x3`].
pub(super) fn burns_convolution<B: Backend>(x: FloatTensor<B>, weight: FloatTensor<B>) -> FloatTensor<B> {
    let channels = x.shape().dims::<4>()[1];
    B::conv2d(x, weight, None, depthwise_options(channels))
}

/// burn's operations for [`DepthwiseConvBackend::depthwise_conv3x3_input_gradient`].
pub(super) fn burns_input_gradient<B: Backend>(
    output_gradient: FloatTensor<B>,
    weight: FloatTensor<B>,
) -> FloatTensor<B> {
    burns_convolution::<B>(output_gradient, B::float_flip(weight, &[2, 3]))
}

/// burn's own weight gradient for [`DepthwiseConvBackend::depthwise_conv3x3_weight_gradient`].
pub(super) fn burns_weight_gradient<B: Backend>(
    x: FloatTensor<B>,
    output_gradient: FloatTensor<B>,
) -> FloatTensor<B> {
    let channels = x.shape().dims::<4>()[1];
    let weight = B::float_zeros([channels, 1, 3, 3].into(), &x.device(), x.dtype().into());
    B::conv2d_weight_backward(x, weight, output_gradient, depthwise_options(channels))
}

/// `conv.forward(x)` for CancerNet's depthwise 3x3 'same' convolution without bias
/// (`x [batch, channels, height, width]`, `conv.weight [channels, 1, 3, 3]`): our kernels on the
/// CPU and on a GPU (see depthwise/gpu.rs), burn's convolution on a GPU when
/// [`DEPTHWISE_VARIABLE`](crate::ops::variants::DEPTHWISE_VARIABLE) says `burn`.
pub fn depthwise_conv3x3(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if !uses_cpu_kernels(&x.device()) && gpu_variants().burns_depthwise {
        return conv.forward(x);
    }
    Tensor::from_dispatch(Dispatch::depthwise_conv3x3(
        x.into_dispatch(),
        conv.weight.val().into_dispatch(),
    ))
}
