//! The dense layer's product without its bias, `x [batch, in]` times `weight [in, out]` (burn's
//! `Linear` layout; the ReLU + batch norm after it adds the bias in its own pass). CancerNet's
//! 4608 -> 256 layer holds 96% of the model's weights.
//!
//! On the CPU it is a backend extension that calls `gemm` itself (cpu_matrix.rs): each of the three
//! products (forward, the input's gradient, the weight's gradient) is one call that reads its
//! operands where they lie, transposed or not, and writes its output unzeroed. burn's product
//! (the same `gemm`) allocates every output zeroed and copies it into an aligned buffer, the
//! 4.7 MB weight gradient included (the gain measured is in docs/kernels.md). On a GPU the
//! product stays burn's.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::prelude::*;
use burn::tensor::module::linear;

use crate::ops::uses_cpu_kernels;

mod autodiff;
mod cpu;
#[cfg(test)]
mod tests;

// CPU only: the model calls it where `uses_cpu_kernels` holds (see `dense_product`).
#[backend_extension(Flex, Autodiff)]
pub trait DenseBackend: Backend {
    /// `x [batch, in]` times `weight [in, out]`: `[batch, out]`.
    fn dense(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self>;

    /// The input's gradient `[batch, in]`: the output's gradient times `weight^T`.
    fn dense_input_gradient(
        weight: FloatTensor<Self>,
        output_gradient: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// The weight's gradient `[in, out]`: `x^T` times the output's gradient.
    fn dense_weight_gradient(x: FloatTensor<Self>, output_gradient: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// `linear(x, weight, None)`: our product on the CPU, burn's on a GPU (see the module).
pub fn dense_product(x: Tensor<2>, weight: Tensor<2>) -> Tensor<2> {
    if !uses_cpu_kernels(&x.device()) {
        return linear(x, weight, None);
    }
    Tensor::from_dispatch(Dispatch::dense(x.into_dispatch(), weight.into_dispatch()))
}
