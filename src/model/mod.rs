//! CancerNet on burn and the compute devices it runs on. Knows nothing of the UI.

pub mod cancernet;
pub mod device;

pub use cancernet::{CancerNet, INPUT_CHANNELS, INPUT_SIDE, NUM_CLASSES};
pub use device::{ComputeDevice, DeviceChoice, DeviceError, select_device};
