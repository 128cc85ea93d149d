//! Choosing where CancerNet runs: a real GPU through wgpu when there is one, burn's flex CPU
//! backend otherwise. A software Vulkan adapter (lavapipe) is never picked silently: it is
//! several times slower than flex and only ever chosen by name, for tests.

use std::sync::OnceLock;

use burn::prelude::*;
use burn::tensor::wgpu::wgpu;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceChoice {
    /// A real GPU if one is found, else the CPU.
    Auto,
    /// A real GPU, or an error.
    Gpu,
    /// The CPU (flex backend).
    Cpu,
    /// The software Vulkan adapter: the GPU code path without a GPU, for tests only.
    #[value(hide = true)]
    SoftwareGpu,
}

/// A device ready for tensors, and what it is in words.
#[derive(Debug, Clone)]
pub struct ComputeDevice {
    pub device: Device,
    pub description: String,
    pub is_gpu: bool,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DeviceError {
    #[error("no GPU found through Vulkan/Metal/DX12 ({0}); use --device cpu")]
    NoGpu(String),
    #[error("no software Vulkan adapter found ({0}); install mesa-vulkan-drivers")]
    NoSoftwareAdapter(String),
}

/// Finds the device for `choice`. Adapters are probed once per process (wgpu allows one
/// initialisation per adapter), so this is cheap to call again.
pub fn select_device(choice: DeviceChoice) -> Result<ComputeDevice, DeviceError> {
    match choice {
        DeviceChoice::Cpu => Ok(cpu()),
        DeviceChoice::Gpu => hardware_gpu().clone().map_err(DeviceError::NoGpu),
        DeviceChoice::Auto => Ok(hardware_gpu().clone().unwrap_or_else(|_| cpu())),
        DeviceChoice::SoftwareGpu => software_gpu().clone().map_err(DeviceError::NoSoftwareAdapter),
    }
}

/// Why "auto" trains on the CPU here, in a person's words (the probe's own report goes to the
/// log); `None` when there is a GPU.
pub fn why_no_gpu() -> Option<String> {
    let tried = hardware_gpu().as_ref().err()?;
    tracing::info!("GPU probe: {tried}");
    Some(
        if tried.contains("device_type: Cpu") || tried.contains("is not a hardware GPU") {
            "the only graphics adapter found draws in software (such as Mesa's llvmpipe): no GPU driver for Vulkan, Metal or DX12 is installed, or the GPU is not available to this session"
        } else {
            "no graphics adapter was found through Vulkan, Metal or DX12: no GPU driver is installed"
        }
        .to_string(),
    )
}

fn cpu() -> ComputeDevice {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    ComputeDevice {
        device: Device::flex(),
        description: format!("CPU (burn flex, {threads} threads)"),
        is_gpu: false,
    }
}

fn hardware_gpu() -> &'static Result<ComputeDevice, String> {
    static GPU: OnceLock<Result<ComputeDevice, String>> = OnceLock::new();
    GPU.get_or_init(|| {
        let mut tried = Vec::new();
        for kind in [
            DeviceKind::DiscreteGpu(0),
            DeviceKind::IntegratedGpu(0),
            DeviceKind::VirtualGpu(0),
        ] {
            match init_wgpu(kind.clone()) {
                Ok(found) if found.is_gpu => return Ok(found),
                Ok(found) => tried.push(format!("{kind:?}: {} is not a hardware GPU", found.description)),
                Err(why) => tried.push(format!("{kind:?}: {why}")),
            }
        }
        Err(tried.join("; "))
    })
}

fn software_gpu() -> &'static Result<ComputeDevice, String> {
    static SOFTWARE: OnceLock<Result<ComputeDevice, String>> = OnceLock::new();
    SOFTWARE.get_or_init(|| init_wgpu(DeviceKind::Cpu))
}

fn init_wgpu(kind: DeviceKind) -> Result<ComputeDevice, String> {
    // wgpu may panic inside a driver probe; an absent GPU must stay an error, not a crash.
    let attempt = std::panic::catch_unwind(|| Device::wgpu_options().device_kind(kind).init_with_setup());
    let (device, setup) = match attempt {
        Ok(Ok(found)) => found,
        Ok(Err(err)) => return Err(err.to_string()),
        Err(_) => return Err("the wgpu adapter probe panicked".to_string()),
    };
    let info = setup.adapter.get_info();
    let is_gpu = !matches!(info.device_type, wgpu::DeviceType::Cpu | wgpu::DeviceType::Other);
    let software = if is_gpu { "" } else { ", software" };
    Ok(ComputeDevice {
        device,
        description: format!(
            "GPU {} ({:?}, {:?}{software})",
            info.name, info.backend, info.device_type
        ),
        is_gpu,
    })
}
