//! CancerNet's fused operations as burn backend extensions, one folder an operation. Each holds
//! the operation's trait, public function and plain-tensor reference (`mod.rs`), its flex kernels
//! (`cpu.rs`), its CubeCL kernels (`gpu.rs`), its backward step (`autodiff.rs`) and its tests.
//! The model calls the public functions and never sees a backend, a kernel or a switch.
//!
//! The helpers the operations share: `cpu_simd` (AVX2 with a portable twin), `cpu_matrix`
//! (row-major products), `cpu_unzeroed` (output buffers written once), `gpu_launch` (launch
//! shapes, outputs and a workgroup sum) and `backward` (the autodiff steps of one input, and of an
//! input and a weight). `variants` names the alternative formulations a GPU can be told to take.

use burn::backend::DispatchDevice;
use burn::prelude::*;

pub mod adagrad;
pub mod backward;
pub(crate) mod cpu_matrix;
pub(crate) mod cpu_simd;
pub(crate) mod cpu_unzeroed;
pub mod dense;
pub mod depthwise;
pub mod dropout;
pub(crate) mod gpu_launch;
pub mod loss;
pub mod max_pool;
pub mod pointwise;
pub mod relu_batch_norm;
pub mod variants;

/// Whether tensors on `device` run through our own CPU kernels: burn's flex backend, with or
/// without autodiff. Everywhere else (wgpu) they take our GPU kernels, or burn's layers where
/// `variants` says so or the dtype is not f32.
pub fn uses_cpu_kernels(device: &Device) -> bool {
    matches!(device.clone().inner().as_dispatch(), DispatchDevice::Flex(_))
}
