//! What CancerNet is: its layers, shapes and constants (`cancernet`), the device it runs on
//! (`device`) and its saved files (`saved_file`). The fused operations it calls are in `ops/`.
//! Knows nothing of the UI.

pub mod cancernet;
pub mod device;
pub mod saved_file;

pub use cancernet::{CancerNet, INPUT_CHANNELS, INPUT_SIDE, NUM_CLASSES};
pub use device::{ComputeDevice, DeviceChoice, DeviceError, select_device};
