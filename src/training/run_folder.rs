//! A run is a folder: `config.json` (settings, dataset, class weights), `split.csv`,
//! `epochs.csv` (one row per epoch), `model.bpk` (the best validation model), `checkpoint/`
//! (the last finished epoch, for resuming), and for the test split `predictions.csv` and
//! `metrics.json`. Every file is written atomically.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::events::EpochMetrics;
use crate::atomic_file::{write_atomic, write_atomic_with};
use crate::dataset::Label;
use crate::metrics::Metrics;
use crate::model::cancernet::BatchNormSettings;

/// What a run was trained on and with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub config: TrainConfig,
    pub dataset: PathBuf,
    pub synthetic: bool,
    /// Loss weights of class 0 and 1: max(count) / count over the training part.
    pub class_weights: [f32; 2],
    pub version: String,
    /// The model's batch-norm constants (not in its saved tensors); absent in runs saved before
    /// they were recorded, which had burn's defaults.
    #[serde(default = "BatchNormSettings::of_older_runs")]
    pub batch_norm: BatchNormSettings,
}

/// One test patch's prediction, a row of `predictions.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionRow {
    pub path: PathBuf,
    pub patient: String,
    pub x: u32,
    pub y: u32,
    pub label: usize,
    pub prob_idc: f32,
}

impl PredictionRow {
    pub fn truth(&self) -> Label {
        Label::from_index(self.label).unwrap_or(Label::NonIdc)
    }
}

/// Where training stood after its last finished epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    pub completed_epochs: usize,
    pub best_validation_loss: f64,
    pub best_epoch: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("{}: {why}", path.display())]
pub struct RunFileError {
    pub path: PathBuf,
    pub why: String,
}

fn file_error(path: &Path, why: impl std::fmt::Display) -> RunFileError {
    RunFileError {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunFolder {
    root: PathBuf,
}

impl RunFolder {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// A run folder that must already hold a trained run.
    pub fn open(root: &Path) -> Result<Self, RunFileError> {
        let run = Self::new(root);
        if !root.is_dir() {
            return Err(file_error(root, "no such run folder"));
        }
        if !run.config_path().is_file() {
            return Err(file_error(root, "not a run folder (no config.json)"));
        }
        Ok(run)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn create(&self) -> Result<(), RunFileError> {
        std::fs::create_dir_all(self.checkpoint_dir()).map_err(|err| file_error(&self.checkpoint_dir(), err))
    }

    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.json")
    }
    pub fn split_path(&self) -> PathBuf {
        self.root.join("split.csv")
    }
    pub fn epochs_path(&self) -> PathBuf {
        self.root.join("epochs.csv")
    }
    pub fn model_path(&self) -> PathBuf {
        self.root.join("model.bpk")
    }
    pub fn predictions_path(&self) -> PathBuf {
        self.root.join("predictions.csv")
    }
    pub fn metrics_path(&self) -> PathBuf {
        self.root.join("metrics.json")
    }
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.root.join("checkpoint")
    }
    fn checkpoint_state_path(&self) -> PathBuf {
        self.checkpoint_dir().join("latest.json")
    }
    pub fn checkpoint_model_path(&self, epoch: usize) -> PathBuf {
        self.checkpoint_dir().join(format!("epoch-{epoch:04}-model.bpk"))
    }
    pub fn checkpoint_optimizer_path(&self, epoch: usize) -> PathBuf {
        self.checkpoint_dir()
            .join(format!("epoch-{epoch:04}-optimizer.bpk"))
    }

    pub fn write_info(&self, info: &RunInfo) -> Result<(), RunFileError> {
        write_json(&self.config_path(), info)
    }

    pub fn read_info(&self) -> Result<RunInfo, RunFileError> {
        read_json(&self.config_path())
    }

    pub fn write_epochs(&self, epochs: &[EpochMetrics]) -> Result<(), RunFileError> {
        write_csv(&self.epochs_path(), epochs)
    }

    pub fn read_epochs(&self) -> Result<Vec<EpochMetrics>, RunFileError> {
        read_csv(&self.epochs_path())
    }

    pub fn write_predictions(&self, rows: &[PredictionRow]) -> Result<(), RunFileError> {
        write_csv(&self.predictions_path(), rows)
    }

    pub fn read_predictions(&self) -> Result<Vec<PredictionRow>, RunFileError> {
        let path = self.predictions_path();
        if !path.is_file() {
            return Err(file_error(
                &path,
                "no test predictions yet: the run has not finished",
            ));
        }
        read_csv(&path)
    }

    pub fn write_metrics(&self, metrics: &Metrics) -> Result<(), RunFileError> {
        write_json(&self.metrics_path(), metrics)
    }

    /// The test metrics of a finished run; `None` while it is unfinished.
    pub fn read_metrics(&self) -> Result<Option<Metrics>, RunFileError> {
        let path = self.metrics_path();
        if !path.is_file() {
            return Ok(None);
        }
        read_json(&path).map(Some)
    }

    /// Records that `state.completed_epochs` is safely on disk, then drops older checkpoints.
    /// The state file is written last: whatever a crash interrupts, it names a complete epoch.
    pub fn commit_checkpoint(&self, state: &CheckpointState) -> Result<(), RunFileError> {
        write_json(&self.checkpoint_state_path(), state)?;
        for epoch in 0..state.completed_epochs {
            for path in [
                self.checkpoint_model_path(epoch),
                self.checkpoint_optimizer_path(epoch),
            ] {
                if path.exists() {
                    std::fs::remove_file(&path).map_err(|err| file_error(&path, err))?;
                }
            }
        }
        Ok(())
    }

    /// The last committed checkpoint, if any.
    pub fn read_checkpoint(&self) -> Result<Option<CheckpointState>, RunFileError> {
        let path = self.checkpoint_state_path();
        if !path.is_file() {
            return Ok(None);
        }
        read_json(&path).map(Some)
    }
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), RunFileError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|err| file_error(path, err))?;
    text.push('\n');
    write_atomic(path, text.as_bytes()).map_err(|err| file_error(path, err))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, RunFileError> {
    let text = std::fs::read_to_string(path).map_err(|err| file_error(path, err))?;
    serde_json::from_str(&text)
        .map_err(|err| file_error(path, format!("not a valid file of this kind: {err}")))
}

fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<(), RunFileError> {
    write_atomic_with(path, |writer| {
        let mut csv = csv::Writer::from_writer(writer);
        for row in rows {
            csv.serialize(row).map_err(std::io::Error::other)?;
        }
        csv.flush()
    })
    .map_err(|err| file_error(path, err))
}

fn read_csv<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, RunFileError> {
    let mut reader = csv::Reader::from_path(path).map_err(|err| file_error(path, err))?;
    reader
        .deserialize()
        .enumerate()
        .map(|(row, record)| record.map_err(|err| file_error(path, format!("row {}: {err}", row + 2))))
        .collect()
}

/// A new run's folder name, `run-YYYYMMDD-HHMMSS` (UTC): sorts by time, unique per second.
pub fn timestamped_run_name() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let time = seconds % 86_400;
    format!(
        "run-{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        time / 3600,
        time / 60 % 60,
        time % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_batch_norm_settings_are_kept_and_older_runs_read_as_burns_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunFolder::new(dir.path());
        let info = RunInfo {
            config: TrainConfig::default(),
            dataset: PathBuf::from("/data/IDC_regular"),
            synthetic: false,
            class_weights: [1.0, 2.5],
            version: "0.1.0".into(),
            batch_norm: BatchNormSettings::MODEL,
        };
        run.write_info(&info).unwrap();
        assert_eq!(run.read_info().unwrap(), info);

        // A config.json written before the settings were recorded.
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.config_path()).unwrap()).unwrap();
        json.as_object_mut().unwrap().remove("batch_norm");
        std::fs::write(run.config_path(), json.to_string()).unwrap();
        assert_eq!(
            run.read_info().unwrap().batch_norm,
            BatchNormSettings::BURN_DEFAULTS
        );
    }

    #[test]
    fn dates_run_folders_correctly() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_419), (2025, 11, 27));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
