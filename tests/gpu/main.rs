//! The GPU code path (burn's wgpu backend), exercised on Mesa's software Vulkan adapter
//! (lavapipe) with tiny shapes, one file an operation beside the CPU's tests in `src/ops/`: the
//! path a user with a GPU takes is never untested.

#[path = "../common/mod.rs"]
mod common;

mod adagrad;
mod depthwise;
mod dropout;
mod loss;
mod max_pool;
mod model;
mod relu_batch_norm;

use burn::prelude::*;
use idc_studio::model::{ComputeDevice, DeviceChoice, select_device};

/// Mesa's software Vulkan adapter, which stands in for a GPU.
fn software_gpu() -> ComputeDevice {
    select_device(DeviceChoice::SoftwareGpu)
        .expect("the GPU path test needs a Vulkan adapter: apt-get install mesa-vulkan-drivers libvulkan1")
}

fn cpu() -> ComputeDevice {
    select_device(DeviceChoice::Cpu).unwrap()
}

/// Values that are not all alike, so a misplaced tap or a swapped axis shows.
fn ramp(seed: usize, dims: [usize; 4], device: &Device) -> Tensor<4> {
    let values: Vec<f32> = (0..dims.iter().product::<usize>())
        .map(|i| ((i * seed) % 23) as f32 / 11.0 - 1.0)
        .collect();
    Tensor::<4>::from_data(TensorData::new(values, dims), device)
}

fn max_difference(a: Tensor<4>, b: Tensor<4>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}
