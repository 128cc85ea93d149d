//! The 1x1 ("pointwise") convolution of each separable convolution, without its bias (the ReLU +
//! batch norm after it adds that in its own pass): a matrix product per image, `weight [out, in]`
//! times `x [in, height * width]`.
//!
//! On the CPU it is a backend extension that calls the `gemm` crate itself. burn's flex matrix
//! product is the same `gemm`, but it allocates its output zeroed as bytes and then copies it into
//! a 16-byte-aligned buffer: two extra passes over every activation, forward and backward. Here
//! the product writes straight into its output, and the weight gradient is summed over the batch
//! inside `gemm`, where burn's formulation keeps one `[out, in]` product per image and adds them
//! up afterwards (the gain measured is in docs/kernels.md).
//!
//! On a GPU the product stays burn's ([`pointwise_product`] or, when `IDC_STUDIO_GPU_POINTWISE`
//! says so, [`pointwise_product_channels_last`]): the extension has no GPU kernels.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use crate::ops::uses_cpu_kernels;
use crate::ops::variants::gpu_variants;

mod autodiff;
mod cpu;
#[cfg(test)]
mod tests;

// CPU only: the model calls it where `uses_cpu_kernels` holds (see `pointwise_conv`).
#[backend_extension(Flex, Autodiff)]
pub trait PointwiseConvBackend: Backend {
    /// `x [batch, in, positions]` to `[batch, out, positions]` with `weight [out, in]`.
    fn pointwise_conv(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self>;

    /// The input's gradient `[batch, in, positions]`: `weight^T` times the output's gradient, per
    /// image.
    fn pointwise_conv_input_gradient(
        weight: FloatTensor<Self>,
        output_gradient: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// The weight's gradient `[out, in]`: the output's gradient times `x^T`, summed over the batch.
    fn pointwise_conv_weight_gradient(
        x: FloatTensor<Self>,
        output_gradient: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// `conv.forward(x)` less the bias, for a 1x1 convolution `conv` (weight `[out, in, 1, 1]`) of
/// `x [batch, in, height, width]`: our product on the CPU, burn's on a GPU (see the module).
pub fn pointwise_conv(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if !uses_cpu_kernels(&x.device()) {
        return if gpu_variants().channels_last_pointwise {
            pointwise_product_channels_last(conv, x)
        } else {
            pointwise_product(conv, x)
        };
    }
    let [batch, channels_in, height, width] = x.dims();
    let [channels_out, ..] = conv.weight.val().dims();
    let weight: Tensor<2> = conv.weight.val().reshape([channels_out, channels_in]);
    let output: Tensor<3> = Tensor::from_dispatch(Dispatch::pointwise_conv(
        x.reshape([batch, channels_in, height * width]).into_dispatch(),
        weight.into_dispatch(),
    ));
    output.reshape([batch, channels_out, height, width])
}

/// A 1x1 convolution without its bias as burn's batched matrix product, `weight [out, in]` times
/// `input [batch, in, height * width]`: the same numbers as `conv.forward(input)` less the bias.
/// On burn's CPU backend forward and backward took a third to a sixth of the time of its generic
/// convolution (`idc-studio bench --layers`), with no layout copies.
pub fn pointwise_product(conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
    let [batch, channels_in, height, width] = input.dims();
    let [channels_out, ..] = conv.weight.val().dims();
    let weight: Tensor<3> = conv.weight.val().reshape([1, channels_out, channels_in]);
    let output = weight.matmul(input.reshape([batch, channels_in, height * width]));
    output.reshape([batch, channels_out, height, width])
}

/// A 1x1 convolution without its bias as one 2-D matrix product over every pixel of the batch:
/// the input turned channels-last, `[batch * height * width, in]` times `weight^T [in, out]`, and
/// back. Its weight gradient is then one matrix product too, where [`pointwise_product`]'s is one
/// per image summed over the batch; the price is two layout copies. Shown beside the model's
/// formulation by `idc-studio bench --layers`; on a GPU the model takes it when
/// `IDC_STUDIO_GPU_POINTWISE` says `channels-last` (variants.rs).
pub fn pointwise_product_channels_last(conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
    let [batch, channels_in, height, width] = input.dims();
    let [channels_out, ..] = conv.weight.val().dims();
    let weight: Tensor<2> = conv.weight.val().reshape([channels_out, channels_in]).transpose();
    let pixels: Tensor<2> = input
        .permute([0, 2, 3, 1])
        .reshape([batch * height * width, channels_in]);
    pixels
        .matmul(weight)
        .reshape([batch, height, width, channels_out])
        .permute([0, 3, 1, 2])
}
