//! What a training run tells its listeners (the command line's progress bars, the app's plots).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;

/// The training loss and accuracy of a stretch of batches (one on the CPU, up to 16 on a GPU),
/// as logged in the run's `steps.csv`: a reopened run plots the curves it plotted live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub epoch: usize,
    /// The last batch of the stretch, counting from 1.
    pub batch: usize,
    pub batches: usize,
    pub loss: f64,
    pub accuracy: f64,
}

impl StepMetrics {
    /// Where it falls on a plot whose x axis counts epochs.
    pub fn x(&self) -> f64 {
        (self.epoch - 1) as f64 + self.batch as f64 / self.batches.max(1) as f64
    }
}

/// One finished epoch, as logged in the run's `epochs.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Counting from 1.
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub validation_loss: f64,
    pub validation_accuracy: f64,
    pub images_per_sec: f64,
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TrainingEvent {
    Started {
        device: String,
        run_dir: PathBuf,
        train_patches: usize,
        validation_patches: usize,
        test_patches: usize,
        /// Counting from 1; above 1 when a run is resumed.
        first_epoch: usize,
        epochs: usize,
        batches_per_epoch: usize,
    },
    /// Each patient's stain being estimated (a run that normalises stain, before its first
    /// epoch): `done` of `total` patients.
    EstimatingStain {
        done: usize,
        total: usize,
    },
    /// Something the user should know that does not stop the run.
    Warning {
        message: String,
    },
    Batch {
        epoch: usize,
        /// Counting from 1 within the epoch.
        batch: usize,
        batches: usize,
        loss: f64,
        accuracy: f64,
        images_per_sec: f64,
        eta_secs: f64,
    },
    Epoch(EpochMetrics),
    Checkpoint {
        epoch: usize,
        best: bool,
    },
    /// The best model predicts the validation and test parts.
    Evaluating {
        patches: usize,
    },
    Finished {
        metrics: Box<Metrics>,
        run_dir: PathBuf,
    },
    /// Stopped on request; the last checkpoint can be resumed.
    Stopped {
        epoch: usize,
        batch: usize,
    },
    Failed {
        message: String,
    },
}

/// A duration as `H:MM:SS`, for ETAs and epoch times.
pub fn format_duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60)
}
