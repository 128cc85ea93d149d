//! What a training run tells its listeners (the command line's progress bars, the app's plots).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;

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
