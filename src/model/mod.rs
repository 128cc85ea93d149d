//! CancerNet on burn and the compute devices it runs on. Knows nothing of the UI.

pub mod cancernet;
pub(crate) mod cube_launch;
pub mod dense;
pub mod depthwise;
mod depthwise_gpu;
pub mod device;
pub mod dropout;
mod dropout_gpu;
pub mod gpu_layers;
mod matrix;
pub mod max_pool;
mod max_pool_gpu;
pub mod pointwise;
pub mod relu_batch_norm;
mod relu_batch_norm_gpu;
pub mod saved_file;
mod simd;
mod unzeroed;
mod weighted_op;

pub use cancernet::{CancerNet, INPUT_CHANNELS, INPUT_SIDE, NUM_CLASSES};
pub use device::{ComputeDevice, DeviceChoice, DeviceError, select_device};
