//! The GPU code path (burn's wgpu backend), exercised on Mesa's software Vulkan adapter
//! (lavapipe) with tiny shapes: the path a user with a GPU takes is never untested.

mod common;

use common::small_demo;
use idc_studio::model::{CancerNet, DeviceChoice, select_device};
use idc_studio::training::batches::HostBatch;
use idc_studio::training::evaluate::{load_model, predict_batch};
use idc_studio::training::step::Learner;

use burn::module::Module;

#[test]
fn cancernet_gives_the_same_outputs_on_the_gpu_path_as_on_the_cpu_and_trains_there() {
    let gpu = select_device(DeviceChoice::SoftwareGpu)
        .expect("the GPU path test needs a Vulkan adapter: apt-get install mesa-vulkan-drivers libvulkan1");
    assert!(!gpu.is_gpu, "lavapipe is a software adapter: {}", gpu.description);
    let cpu = select_device(DeviceChoice::Cpu).unwrap();

    // One set of weights, loaded on both devices.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.bpk");
    CancerNet::new(&cpu.device).save_file(&path).unwrap();
    let on_cpu = load_model(&path, &cpu.device).unwrap();
    let on_gpu = load_model(&path, &gpu.device).unwrap();

    let store = &small_demo().store;
    let batch = HostBatch::build(store, &[0, 1, 2], 4, None);
    let expected = predict_batch(&on_cpu, &batch, &cpu.device).unwrap();
    let actual = predict_batch(&on_gpu, &batch, &gpu.device).unwrap();
    assert_eq!(actual.len(), 3);
    for (a, b) in actual.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-4, "gpu {actual:?} vs cpu {expected:?}");
    }

    // A training step runs and gives a finite loss.
    let learner = Learner::new(&gpu.device, 1e-2, 2.5e-4, [1.0, 2.5]);
    let (_, outcome) = learner.step(&batch).unwrap();
    assert!(
        outcome.loss.is_finite() && outcome.loss > 0.0,
        "loss {}",
        outcome.loss
    );
}

#[test]
fn auto_never_picks_a_software_adapter() {
    let auto = select_device(DeviceChoice::Auto).unwrap();
    assert!(
        auto.is_gpu || auto.description.starts_with("CPU"),
        "{}",
        auto.description
    );
}
