//! Dropout as a burn backend extension: one operation forward and the same one backward, on the
//! CPU (here) and on a GPU (dropout/gpu.rs).
//!
//! burn's `Dropout` draws a Bernoulli float per element through its general random-tensor path,
//! compares, masks and scales: four activation-sized passes and as many recorded operations
//! forward, a mask kept for the backward pass. Here whether element `i` is kept is a hash of `i`
//! and a seed, so the mask is never stored: forward multiplies `x` by `1 / keep` or `0` element
//! by element, and backward multiplies the output's gradient by the same values, recomputed from
//! the same seed. The seed is two uniform floats that burn draws on the device (`Device::seed`
//! still fixes a run), read by the kernel itself, so no value crosses to the host each step.
//!
//! The hash is integer arithmetic that the CPU and every GPU compute bit for bit alike, so one
//! seed gives one mask on any device (tested).

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::nn::Dropout;
use burn::prelude::*;
use burn::tensor::{DType, Distribution};

use crate::ops::uses_cpu_kernels;
use crate::ops::variants::gpu_variants;

mod autodiff;
mod cpu;
mod gpu;
#[cfg(test)]
mod tests;

/// What the seed's two uniform floats are scaled by before they become integers: burn draws
/// them as multiples of 2^-24 or finer, so each gives 24 bits.
const SEED_SCALE: f32 = 16_777_216.0;

// As depthwise.rs: `Cube` (wgpu) is always compiled in; `Fusion` records each call as one opaque
// operation.
#[backend_extension(Flex, Cube: cfg(all()), Fusion, Autodiff)]
pub trait DropoutBackend: Backend {
    /// `x[i] / keep` where [`is_kept`]`(i, seeds, threshold)`, else 0; `seeds` holds two uniform
    /// floats in [0, 1), `threshold = keep * 2^32`.
    #[fusion(dtype = x, shape = x)]
    fn dropout_by_hash(x: FloatTensor<Self>, seeds: FloatTensor<Self>, keep: f64) -> FloatTensor<Self>;
}

/// The two integers of a seed drawn as two uniform floats.
pub fn seed_words(seeds: [f32; 2]) -> [u32; 2] {
    seeds.map(|seed| (seed * SEED_SCALE) as u32)
}

/// `P(hash < threshold) = keep`, within 2^-32.
pub fn keep_threshold(keep: f64) -> u32 {
    (keep.clamp(0.0, 1.0) * 4_294_967_296.0).min(u32::MAX as f64) as u32
}

/// A 32-bit integer finaliser with good avalanche (every input bit moves about half the output
/// bits): the constants of the "lowbias32" hash. dropout/gpu.rs computes the same.
#[inline(always)]
pub fn mix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x7feb_352d);
    h ^= h >> 15;
    h = h.wrapping_mul(0x846c_a68b);
    h ^ (h >> 16)
}

/// Whether element `index` survives under the seed `words`.
#[inline(always)]
pub fn is_kept(index: u32, [first, second]: [u32; 2], threshold: u32) -> bool {
    mix(mix(index ^ first).wrapping_add(second)) < threshold
}

/// `layer.forward(input)`: the identity outside training, else dropout by hash (burn's layer for
/// tensors other than f32, and on a GPU when `IDC_STUDIO_GPU_DROPOUT` says `burn`).
pub fn dropout<const D: usize>(layer: &Dropout, input: Tensor<D>) -> Tensor<D> {
    let device = input.device();
    if !layer.training.is_enabled() || !device.is_autodiff() || layer.prob == 0.0 {
        return input;
    }
    if input.dtype() != DType::F32 || (!uses_cpu_kernels(&device) && gpu_variants().burns_dropout) {
        return layer.forward(input);
    }
    let seeds = Tensor::<1>::random([2], Distribution::Default, &device.clone().inner());
    dropout_by_hash(input, seeds, 1.0 - layer.prob)
}

/// Dropout of an f32 `input` with the mask of `seeds` (two uniform floats in [0, 1), on the
/// input's device without autodiff), keeping the share `keep`.
pub fn dropout_by_hash<const D: usize>(input: Tensor<D>, seeds: Tensor<1>, keep: f64) -> Tensor<D> {
    Tensor::from_dispatch(Dispatch::dropout_by_hash(
        input.into_dispatch(),
        seeds.into_dispatch(),
        keep,
    ))
}
