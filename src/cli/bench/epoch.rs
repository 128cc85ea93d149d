//! `idc-studio bench --epoch-patches N`: one whole epoch of a real training run (batch thread,
//! steps, validation, checkpoint, then the test part's predictions) on a dataset the size of
//! IDC_regular, made by repeating the demo patches over as many patients as the real one has.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::dataset::stain::StainAugment;
use crate::dataset::{PATCH_BYTES, Patch, PatchStore};
use crate::model::DeviceChoice;
use crate::training::config::TrainConfig;
use crate::training::events::TrainingEvent;
use crate::training::trainer::{RunOutcome, TrainingJob, run_training};

/// Patients in IDC_regular: the repeated patches are spread over as many.
pub(super) const PATIENTS: usize = 162;

pub fn run(
    demo: &PatchStore,
    patches: usize,
    batch_size: usize,
    device: DeviceChoice,
    stain_augment: StainAugment,
) -> anyhow::Result<()> {
    anyhow::ensure!(!demo.is_empty(), "the demo store is empty");
    let store = Arc::new(repeat_patches(demo, patches));
    let folder = tempfile::tempdir()?;
    let job = TrainingJob {
        store,
        config: TrainConfig {
            epochs: 1,
            batch_size,
            device,
            stain_augment,
            ..TrainConfig::default()
        },
        run_dir: folder.path().join("run"),
        resume: false,
        in_runs_folder: false,
        corrections: Vec::new(),
        stain_folder: None,
    };
    let started = Instant::now();
    let mut epoch_ended = None;
    let mut next_report = 0.1;
    let mut train_images = 0;
    let mut listener = |event: TrainingEvent| match event {
        TrainingEvent::Started {
            train_patches,
            validation_patches,
            test_patches,
            batches_per_epoch,
            ..
        } => {
            train_images = batches_per_epoch * batch_size;
            println!(
                "epoch      {train_patches} training, {validation_patches} validation, {test_patches} test patches (batch {batch_size})"
            );
        }
        TrainingEvent::Batch {
            batch,
            batches,
            images_per_sec,
            ..
        } if batch as f64 >= next_report * batches as f64 => {
            println!(
                "epoch      {:>3.0}% at {:>6.1} s, {images_per_sec:>9.0} images/s",
                100.0 * batch as f64 / batches as f64,
                started.elapsed().as_secs_f64()
            );
            next_report += 0.1;
        }
        TrainingEvent::Epoch(metrics) => {
            epoch_ended = Some(Instant::now());
            println!(
                "epoch      training {:.1} s ({:.0} images/s); with validation and checkpoint {:.1} s",
                train_images as f64 / metrics.images_per_sec.max(1e-9),
                metrics.images_per_sec,
                metrics.seconds
            );
        }
        _ => {}
    };
    let outcome = run_training(&job, &mut listener, &AtomicBool::new(false))?;
    anyhow::ensure!(
        matches!(outcome, RunOutcome::Finished(_)),
        "the epoch did not finish"
    );
    if let Some(ended) = epoch_ended {
        println!(
            "epoch      test predictions and files {:.1} s; whole run {:.1} s",
            ended.elapsed().as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// `count` patches: the demo's, over and over, on `PATIENTS` patients in turn.
fn repeat_patches(demo: &PatchStore, count: usize) -> PatchStore {
    let patients: Vec<String> = (0..PATIENTS).map(|k| format!("bench{k:03}")).collect();
    let mut patches = Vec::with_capacity(count);
    let mut pixels = Vec::with_capacity(count * PATCH_BYTES);
    for index in 0..count {
        let source = index % demo.len();
        let patient = index * PATIENTS / count;
        patches.push(Patch {
            patient: patient as u32,
            ..demo.patch(source).clone()
        });
        pixels.extend_from_slice(demo.pixels(source));
    }
    PatchStore::new(demo.root().to_path_buf(), true, patients, patches, pixels)
}
