//! A run is a folder of the files [`RunFile`] names, each written atomically: its settings,
//! split and labels, its epoch and batch logs, the best model and the last checkpoint, the test
//! part's predictions and scores, the reader's threshold and the cached embeddings.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::events::{EpochMetrics, StepMetrics};
pub use super::prediction_row::PredictionRow;
pub use super::run_file::RunFile;
pub use super::run_info::{ImportedFrom, PartPredictionRow, RunInfo};
use super::threshold::SavedThreshold;
use crate::atomic_file::{remove_orphaned_temporaries, write_atomic, write_csv_atomic};
use crate::dataset::{Label, LabelOverride};
use crate::metrics::Metrics;

/// A row of `labels.csv`: a patch and the label it trains with (empty: left out).
#[derive(Serialize, Deserialize)]
struct CorrectionRow {
    patient: String,
    x: u32,
    y: u32,
    label: Option<usize>,
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

/// The file whose lock says a process is training into the folder.
const LOCK_FILE: &str = ".lock";
/// How old a temporary file must be before it counts as orphaned by a kill: older than any
/// write of a run's files takes.
const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// A run folder this process holds (see [`RunFolder::claim`]); dropping it lets go.
#[derive(Debug)]
pub struct RunClaim {
    run: RunFolder,
    _lock: std::fs::File,
}

impl std::ops::Deref for RunClaim {
    type Target = RunFolder;
    fn deref(&self) -> &RunFolder {
        &self.run
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

    /// Takes the run folder for this process until the claim is dropped: creates it if needed
    /// and locks its `.lock` file, so no other training (another command, another app window)
    /// writes into it meanwhile. The lock is the operating system's and goes with the process,
    /// so a killed run leaves nothing stale. Temporary files that an earlier kill left are
    /// removed now that nobody else writes here.
    pub fn claim(&self) -> Result<RunClaim, RunFileError> {
        std::fs::create_dir_all(&self.root).map_err(|err| file_error(&self.root, err))?;
        let lock_path = self.root.join(LOCK_FILE);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|err| file_error(&lock_path, err))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(file_error(
                    &self.root,
                    "another training is writing into this run folder; wait for it or choose another",
                ));
            }
            Err(std::fs::TryLockError::Error(err)) => return Err(file_error(&lock_path, err)),
        }
        for folder in [self.root.clone(), self.checkpoint_dir()] {
            remove_orphaned_temporaries(&folder, ORPHAN_AGE);
        }
        Ok(RunClaim {
            run: self.clone(),
            _lock: lock,
        })
    }

    /// A new run folder under `parent` named for the current time, created here and now: the
    /// creation is exclusive, so two runs started in the same second (two commands, two
    /// windows) get two folders, the second with a suffix.
    pub fn create_unique(parent: &Path) -> Result<RunFolder, RunFileError> {
        std::fs::create_dir_all(parent).map_err(|err| file_error(parent, err))?;
        let name = timestamped_run_name();
        for attempt in 1u32.. {
            let candidate = match attempt {
                1 => parent.join(&name),
                _ => parent.join(format!("{name}-{attempt}")),
            };
            match std::fs::create_dir(&candidate) {
                Ok(()) => return Ok(RunFolder::new(candidate)),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(file_error(&candidate, err)),
            }
        }
        unreachable!("a run name is found before the counter wraps")
    }

    /// True when the folder holds a run that finished at least one epoch: what a new run must
    /// never overwrite. A run that failed before its first epoch holds nothing worth keeping
    /// and may be started again in place.
    pub fn has_trained(&self) -> Result<bool, RunFileError> {
        Ok(self
            .read_checkpoint()?
            .is_some_and(|state| state.completed_epochs > 0)
            || self.epochs_path().exists()
            || self.model_path().exists()
            || self.predictions_path().exists())
    }

    /// The first entry of the folder that no run would have written, if any: a folder of the
    /// user's own that a new run must not be written into.
    pub fn foreign_entry(&self) -> Result<Option<PathBuf>, RunFileError> {
        let entries = std::fs::read_dir(&self.root).map_err(|err| file_error(&self.root, err))?;
        let mut names: Vec<_> = entries.flatten().map(|entry| entry.file_name()).collect();
        names.sort();
        Ok(names
            .into_iter()
            .find(|name| {
                let name = name.to_string_lossy();
                !(name.starts_with('.') || RunFile::named(&name).is_some())
            })
            .map(PathBuf::from))
    }

    /// True when `path` names one of the run's own files (or its checkpoint folder), which
    /// nothing but the run may write.
    pub fn owns(&self, path: &Path) -> bool {
        let folder = path.parent().filter(|parent| !parent.as_os_str().is_empty());
        let same_folder = match (
            folder.unwrap_or(Path::new(".")).canonicalize(),
            self.root.canonicalize(),
        ) {
            (Ok(folder), Ok(root)) => folder == root,
            _ => false,
        };
        same_folder
            && path
                .file_name()
                .is_some_and(|name| RunFile::named(&name.to_string_lossy()).is_some())
    }

    /// Removes the test results of an earlier finish: a run resumed to train further has a new
    /// best model, and results that no longer match it must not be shown as its own.
    pub fn remove_results(&self) -> Result<(), RunFileError> {
        for path in [
            self.predictions_path(),
            self.part_predictions_path(),
            self.metrics_path(),
        ] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(file_error(&path, err)),
            }
        }
        Ok(())
    }

    /// Where `file` of this run is.
    pub fn path(&self, file: RunFile) -> PathBuf {
        self.root.join(file.name())
    }
    pub fn config_path(&self) -> PathBuf {
        self.path(RunFile::Config)
    }
    pub fn split_path(&self) -> PathBuf {
        self.path(RunFile::Split)
    }
    /// The readers' corrections a run trained with (absent for dataset labels).
    pub fn labels_path(&self) -> PathBuf {
        self.path(RunFile::Labels)
    }
    pub fn epochs_path(&self) -> PathBuf {
        self.path(RunFile::Epochs)
    }
    pub fn steps_path(&self) -> PathBuf {
        self.path(RunFile::Steps)
    }
    pub fn model_path(&self) -> PathBuf {
        self.path(RunFile::Model)
    }
    pub fn predictions_path(&self) -> PathBuf {
        self.path(RunFile::Predictions)
    }
    pub fn metrics_path(&self) -> PathBuf {
        self.path(RunFile::Metrics)
    }
    /// The threshold a reader settled on in Review (absent: 0.5).
    pub fn threshold_path(&self) -> PathBuf {
        self.path(RunFile::Threshold)
    }
    /// Every patch's embedding by the run's model, cached.
    pub fn embeddings_path(&self) -> PathBuf {
        self.path(RunFile::Embeddings)
    }
    pub fn map_path(&self) -> PathBuf {
        self.path(RunFile::Map)
    }
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.path(RunFile::Checkpoint)
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

    /// The run's settings, checked: a hand-edited or damaged file is named, not trained on.
    pub fn read_info(&self) -> Result<RunInfo, RunFileError> {
        let path = self.config_path();
        let info: RunInfo = read_json(&path)?;
        info.check()
            .map_err(|why| file_error(&path, format!("invalid settings: {why}")))?;
        Ok(info)
    }

    pub fn write_epochs(&self, epochs: &[EpochMetrics]) -> Result<(), RunFileError> {
        write_csv(&self.epochs_path(), epochs)
    }

    pub fn write_steps(&self, steps: &[StepMetrics]) -> Result<(), RunFileError> {
        write_csv(&self.steps_path(), steps)
    }

    /// The per-batch log; empty for a run saved before it was kept.
    pub fn read_steps(&self) -> Result<Vec<StepMetrics>, RunFileError> {
        if !self.steps_path().is_file() {
            return Ok(Vec::new());
        }
        read_csv(&self.steps_path())
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
        let rows: Vec<PredictionRow> = read_csv(&path)?;
        for (row, prediction) in rows.iter().enumerate() {
            prediction
                .check()
                .map_err(|why| file_error(&path, format!("line {}: {why}", row + 2)))?;
        }
        Ok(rows)
    }

    pub fn part_predictions_path(&self) -> PathBuf {
        self.path(RunFile::PartPredictions)
    }

    pub fn write_part_predictions(&self, rows: &[PartPredictionRow]) -> Result<(), RunFileError> {
        write_csv(&self.part_predictions_path(), rows)
    }

    /// The P(IDC) of the patches outside the test part that the run kept (the validation part
    /// since they were kept; empty for older runs), checked as the test part's are.
    pub fn read_part_predictions(&self) -> Result<Vec<PartPredictionRow>, RunFileError> {
        let path = self.part_predictions_path();
        if !path.is_file() {
            return Ok(Vec::new());
        }
        let rows: Vec<PartPredictionRow> = read_csv(&path)?;
        for (row, prediction) in rows.iter().enumerate() {
            prediction
                .prediction()
                .check()
                .map_err(|why| file_error(&path, format!("line {}: {why}", row + 2)))?;
        }
        Ok(rows)
    }

    /// Records the corrections a run trains with, so a resumed run uses the same labels even
    /// after the readers have changed theirs.
    pub fn write_corrections(&self, corrections: &[LabelOverride]) -> Result<(), RunFileError> {
        let rows: Vec<CorrectionRow> = corrections
            .iter()
            .map(|correction| CorrectionRow {
                patient: correction.patient.clone(),
                x: correction.x,
                y: correction.y,
                label: correction.label.map(Label::index),
            })
            .collect();
        write_csv(&self.labels_path(), &rows)
    }

    pub fn read_corrections(&self) -> Result<Vec<LabelOverride>, RunFileError> {
        let path = self.labels_path();
        let rows: Vec<CorrectionRow> = read_csv(&path)?;
        rows.into_iter()
            .enumerate()
            .map(|(row, correction)| {
                let label = match correction.label {
                    None => None,
                    Some(index) => Some(Label::from_index(index).ok_or_else(|| {
                        file_error(&path, format!("line {}: label {index} is not 0 or 1", row + 2))
                    })?),
                };
                Ok(LabelOverride {
                    patient: correction.patient,
                    x: correction.x,
                    y: correction.y,
                    label,
                })
            })
            .collect()
    }

    pub fn write_metrics(&self, metrics: &Metrics) -> Result<(), RunFileError> {
        write_json(&self.metrics_path(), metrics)
    }

    /// The threshold saved with the run, if a reader saved one; a damaged file is an error,
    /// not a silent 0.5.
    pub fn read_threshold(&self) -> Result<Option<SavedThreshold>, RunFileError> {
        let path = self.threshold_path();
        if !path.is_file() {
            return Ok(None);
        }
        let saved: SavedThreshold = read_json(&path)?;
        if !(saved.threshold.is_finite() && (0.0..=1.0).contains(&saved.threshold)) {
            return Err(file_error(
                &path,
                format!("threshold {} is not between 0 and 1", saved.threshold),
            ));
        }
        Ok(Some(saved))
    }

    pub fn write_threshold(&self, saved: &SavedThreshold) -> Result<(), RunFileError> {
        write_json(&self.threshold_path(), saved)
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
    write_csv_atomic(path, rows).map_err(|err| file_error(path, err))
}

fn read_csv<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, RunFileError> {
    crate::atomic_file::read_csv(path).map_err(|err| file_error(path, err))
}

/// A new run's folder name, `run-YYYYMMDD-HHMMSS` in the user's local time (the time their
/// clock showed when they started it): sorts by time within a time zone.
pub fn timestamped_run_name() -> String {
    format!("run-{}", chrono::Local::now().format("%Y%m%d-%H%M%S"))
}

/// Where runs go when no folder is named: the same for the app and the command line, so a run
/// trained with `train` shows in the app's run list.
pub fn default_runs_folder() -> PathBuf {
    crate::user_folders::data_home().join("runs")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cancernet::BatchNormSettings;
    use crate::training::TrainConfig;

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
            label_changes: None,
            device: None,
            imported: None,
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
    fn runs_started_in_the_same_second_get_folders_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let folders: Vec<RunFolder> = (0..3)
            .map(|_| RunFolder::create_unique(dir.path()).unwrap())
            .collect();
        assert_ne!(folders[0], folders[1]);
        assert_ne!(folders[1], folders[2]);
        assert!(folders.iter().all(|run| run.root().is_dir()));
    }

    #[test]
    fn a_claimed_folder_is_refused_to_a_second_claim_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunFolder::new(dir.path().join("run"));
        let claim = run.claim().unwrap();
        let err = run.claim().unwrap_err().to_string();
        assert!(err.contains("another training is writing"), "{err}");
        drop(claim);
        run.claim().unwrap();
    }

    #[test]
    fn unreadable_settings_and_results_are_named_with_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunFolder::new(dir.path());
        let mut info = RunInfo {
            config: TrainConfig::default(),
            dataset: PathBuf::from("/data"),
            synthetic: false,
            class_weights: [1.0, 2.5],
            version: "0.1.0".into(),
            batch_norm: BatchNormSettings::MODEL,
            label_changes: None,
            device: None,
            imported: None,
        };
        info.batch_norm.momentum = 3.0;
        run.write_info(&info).unwrap();
        let err = run.read_info().unwrap_err().to_string();
        assert!(
            err.contains("batch-norm momentum 3 must be between 0 and 1"),
            "{err}"
        );
        info.batch_norm = BatchNormSettings::MODEL;
        info.class_weights = [-1.0, 1.0];
        run.write_info(&info).unwrap();
        assert!(run.read_info().unwrap_err().to_string().contains("class weights"));
    }
}
