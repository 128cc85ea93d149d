//! CancerNet on the GPU path: the CPU's outputs, a training step, the batched read-back of
//! predictions, and `auto` never choosing a software adapter.

use burn::prelude::*;
use idc_studio::model::cancernet::BatchNormSettings;
use idc_studio::model::{CancerNet, DeviceChoice, select_device};
use idc_studio::training::batches::HostBatch;
use idc_studio::training::evaluate::{PendingPredictions, load_model, predict_batch};
use idc_studio::training::step::Learner;

use super::{cpu, software_gpu};
use crate::common::datasets::small_demo;

#[test]
fn cancernet_gives_the_same_outputs_on_the_gpu_path_as_on_the_cpu_and_trains_there() {
    let gpu = software_gpu();
    assert!(!gpu.is_gpu, "lavapipe is a software adapter: {}", gpu.description);
    let cpu = cpu();

    // One set of weights, loaded on both devices.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.bpk");
    CancerNet::new(&cpu.device).save_file(&path).unwrap();
    let on_cpu = load_model(&path, BatchNormSettings::MODEL, &cpu.device).unwrap();
    let on_gpu = load_model(&path, BatchNormSettings::MODEL, &gpu.device).unwrap();

    let store = &small_demo().store;
    let batch = HostBatch::build(store, &[0, 1, 2], 4, None);
    let expected = predict_batch(&on_cpu, batch.clone(), &cpu.device).unwrap();
    let actual = predict_batch(&on_gpu, batch.clone(), &gpu.device).unwrap();
    assert_eq!(actual.len(), 3);
    for (a, b) in actual.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-4, "gpu {actual:?} vs cpu {expected:?}");
    }

    // A training step runs and gives a finite loss.
    let learner = Learner::new(&gpu.device, 1e-2, 2.5e-4, [1.0, 2.5], BatchNormSettings::MODEL);
    let (_, outcome) = learner.step(batch.clone()).unwrap();
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

#[test]
fn predictions_read_back_several_batches_at_once_are_each_batchs_own() {
    let gpu = software_gpu();
    let (_folder, model) = load_model_on(&gpu.device);
    let store = &small_demo().store;
    // Three batches of four, the last with two real patches: read back two at a time, then the
    // one left.
    let batches = [
        HostBatch::build(store, &[0, 1, 2, 3], 4, None),
        HostBatch::build(store, &[4, 5, 6, 7], 4, None),
        HostBatch::build(store, &[8, 9], 4, None),
    ];
    let one_by_one: Vec<Vec<f32>> = batches
        .iter()
        .map(|batch| predict_batch(&model, batch.clone(), &gpu.device).unwrap())
        .collect();
    let mut pending = PendingPredictions::reading_every(2);
    let mut together = Vec::new();
    for (index, batch) in batches.iter().enumerate() {
        let read = pending.push(&model, batch.clone(), &gpu.device).unwrap();
        // Nothing after the first batch; both after the second.
        assert_eq!(read.len(), [0, 2, 0][index]);
        together.extend(read);
    }
    together.extend(pending.read().unwrap());
    assert_eq!(together, one_by_one);
    assert_eq!(together[2].len(), 2, "padding left out");
}

/// A fresh CancerNet saved and loaded for inference on `device`, with the folder of its file
/// (burn may read the file's values only when they are first used).
fn load_model_on(device: &Device) -> (tempfile::TempDir, CancerNet) {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("model.bpk");
    CancerNet::new(&Device::flex()).save_file(&path).unwrap();
    let model = load_model(&path, BatchNormSettings::MODEL, device).unwrap();
    (folder, model)
}
