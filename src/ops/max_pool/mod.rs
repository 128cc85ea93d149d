//! 2x2 max pooling with stride 2, as CancerNet pools after each stage, as a burn backend
//! extension: here for the CPU backend, in max_pool/gpu.rs for a GPU. burn's flex version is a general N-d pooling that works out
//! the window bounds of every output element and keeps an `i64` index per output for the
//! backward pass; here the four candidates are compared directly and the backward pass finds
//! the winner again from the input, which the graph keeps anyway.
//!
//! Ties and NaN are resolved as burn does: the first of the window (row by row) wins a tie, and
//! a NaN wins over any number.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::nn::pool::MaxPool2d;
use burn::prelude::*;
use burn::tensor::DType;

use crate::ops::uses_cpu_kernels;
use crate::ops::variants::gpu_variants;

mod autodiff;
mod cpu;
mod gpu;
#[cfg(test)]
mod tests;

// As depthwise.rs: `Cube` (wgpu) is always compiled in; `Fusion` records each call as one opaque
// operation. The GPU's kernels are in max_pool/gpu.rs.
#[backend_extension(Flex, Cube: cfg(all()), Fusion, Autodiff)]
pub trait MaxPool2x2Backend: Backend {
    /// `x [batch, channels, height, width]` to `[batch, channels, height / 2, width / 2]`.
    #[fusion(dtype = x, shape = Shape::new([x[0], x[1], x[2] / 2, x[3] / 2]))]
    fn max_pool_2x2(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// The input's gradient: each output's gradient goes to its window's maximum (the backward
    /// pass; not differentiated itself).
    #[fusion(dtype = x, shape = x)]
    fn max_pool_2x2_input_gradient(
        x: FloatTensor<Self>,
        output_gradient: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// `pool.forward(x)` for CancerNet's 2x2, stride 2 pooling: our kernels on the CPU and on a GPU
/// (max_pool/gpu.rs), burn's on a GPU for tensors other than f32 or when
/// `IDC_STUDIO_GPU_MAX_POOL` says `burn` (variants.rs).
pub fn max_pool_2x2(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    if !uses_cpu_kernels(&x.device()) && (gpu_variants().burns_max_pool || x.dtype() != DType::F32) {
        return pool.forward(x);
    }
    Tensor::from_dispatch(Dispatch::max_pool_2x2(x.into_dispatch()))
}
