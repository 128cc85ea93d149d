//! Dropout by hash on a GPU (burn's cubecl backend: wgpu/Vulkan): one thread per value, which
//! hashes its index with the seed exactly as dropout.rs does on the CPU and keeps the value
//! (scaled by `1 / keep`) or writes 0. The same kernel serves forward and backward.

use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::{DropoutBackend, keep_threshold};
use crate::ops::gpu_launch::{all_f32, output_like};

/// dropout.rs's `mix`, in u32 arithmetic that wraps on every GPU.
#[cube]
fn mix(value: u32) -> u32 {
    let mut h = value;
    h ^= h >> 16;
    h *= 0x7feb_352du32;
    h ^= h >> 15;
    h *= 0x846c_a68bu32;
    h ^ (h >> 16)
}

#[cube(launch_unchecked)]
fn dropout_kernel(
    x: &Tensor<f32>,
    seeds: &Tensor<f32>,
    output: &mut Tensor<f32>,
    threshold: u32,
    scale: f32,
) {
    let position = ABSOLUTE_POS;
    if position >= output.len() {
        terminate!();
    }
    // dropout.rs's `seed_words`.
    let first = u32::cast_from(seeds[0] * 16_777_216.0f32);
    let second = u32::cast_from(seeds[1] * 16_777_216.0f32);
    let hash = mix(mix(u32::cast_from(position) ^ first) + second);
    let mut value = 0.0f32;
    if hash < threshold {
        value = x[position] * scale;
    }
    output[position] = value;
}

impl DropoutBackend for CubeBackend {
    fn dropout_by_hash(x: CubeTensor, seeds: CubeTensor, keep: f64) -> CubeTensor {
        assert!(
            all_f32(&[&x, &seeds]),
            "the GPU dropout kernel takes f32 tensors (dropout() sends others to burn's layer)"
        );
        let [x, seeds] = [x, seeds].map(into_contiguous);
        let (output, cube_count, cube_dim) = output_like(&x);
        let client = output.client.clone();
        // SAFETY: one thread per value, returning past the last; it reads its own input value and
        // the two seeds, and writes its own output value.
        unsafe {
            dropout_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                x.into_tensor_arg(),
                seeds.into_tensor_arg(),
                output.clone().into_tensor_arg(),
                keep_threshold(keep),
                (1.0 / keep) as f32,
            );
        }
        output
    }
}
