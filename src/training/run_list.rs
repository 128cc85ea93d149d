//! The runs in a folder, newest first, with how far each got: what the app's run list shows.

use std::path::{Path, PathBuf};

use super::events::EpochMetrics;
use super::run_folder::{RunFileError, RunFolder, RunInfo};
use crate::metrics::Metrics;

#[derive(Debug, Clone, PartialEq)]
pub enum RunState {
    /// Test predictions and metrics are written.
    Finished(Box<Metrics>),
    /// Stopped or interrupted; resumable from this many completed epochs.
    Unfinished { completed_epochs: usize },
    /// Its files cannot be read; the reason names the file.
    Damaged(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub folder: PathBuf,
    pub name: String,
    pub info: Option<RunInfo>,
    pub state: RunState,
    /// Its epochs so far (empty where `epochs.csv` is missing or damaged).
    pub epochs: Vec<EpochMetrics>,
}

impl RunSummary {
    pub fn read(folder: &Path) -> Result<Self, RunFileError> {
        let run = RunFolder::open(folder)?;
        let name = folder.file_name().map_or_else(
            || folder.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        );
        let info = run.read_info();
        let state = match (&info, run.read_metrics(), run.read_checkpoint()) {
            (Err(err), _, _) => RunState::Damaged(err.to_string()),
            (_, Ok(Some(metrics)), _) => RunState::Finished(Box::new(metrics)),
            (_, Ok(None), Ok(checkpoint)) => RunState::Unfinished {
                completed_epochs: checkpoint.map_or(0, |state| state.completed_epochs),
            },
            (_, Err(err), _) | (_, _, Err(err)) => RunState::Damaged(err.to_string()),
        };
        Ok(Self {
            folder: folder.to_path_buf(),
            name,
            info: info.ok(),
            state,
            epochs: run.read_epochs().unwrap_or_default(),
        })
    }

    /// The test metrics of a finished run.
    pub fn metrics(&self) -> Option<&Metrics> {
        match &self.state {
            RunState::Finished(metrics) => Some(metrics),
            _ => None,
        }
    }

    /// Seconds spent in its epochs (training and validation), all sessions together.
    pub fn training_seconds(&self) -> f64 {
        self.epochs.iter().map(|epoch| epoch.seconds).sum()
    }

    /// The device it trained on, in words; the choice it was given where a run predates the
    /// record.
    pub fn device(&self) -> String {
        self.info.as_ref().map_or_else(String::new, |info| {
            info.device
                .clone()
                .unwrap_or_else(|| format!("{:?}", info.config.device).to_lowercase())
        })
    }

    /// Its settings as `(name, value)`, in a fixed order, for comparing runs.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let Some(info) = &self.info else {
            return Vec::new();
        };
        let config = &info.config;
        vec![
            ("epochs", config.epochs.to_string()),
            ("batch", config.batch_size.to_string()),
            ("lr", config.learning_rate.to_string()),
            ("lr decay", config.lr_decay.to_string()),
            ("split", format!("{:?}", config.split).to_lowercase()),
            ("seed", config.seed.to_string()),
            ("augment", if config.augment { "on" } else { "off" }.to_string()),
            ("stain augment", config.stain_augment.name().to_string()),
            ("stain norm", config.normalize_stain.name().to_string()),
            ("labels", format!("{:?}", config.labels)),
            ("bn epsilon", info.batch_norm.epsilon.to_string()),
            ("dataset", info.dataset.display().to_string()),
        ]
    }

    /// `name=value` for each of its settings in `names`.
    pub fn describe_settings(&self, names: &[&str]) -> String {
        self.settings()
            .into_iter()
            .filter(|(name, _)| names.contains(name))
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The names of the settings whose values are not the same in all of `runs`.
pub fn differing_settings(runs: &[RunSummary]) -> Vec<&'static str> {
    let all: Vec<Vec<(&'static str, String)>> = runs.iter().map(RunSummary::settings).collect();
    let Some(first) = all.iter().find(|settings| !settings.is_empty()) else {
        return Vec::new();
    };
    first
        .iter()
        .enumerate()
        .filter(|(index, (_, value))| {
            all.iter()
                .filter(|settings| !settings.is_empty())
                .any(|settings| settings[*index].1 != *value)
        })
        .map(|(_, (name, _))| *name)
        .collect()
}

/// Every run folder directly inside `folder`, newest name first (names carry the start time).
/// A missing folder has no runs.
pub fn list_runs(folder: &Path) -> Vec<RunSummary> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut runs: Vec<RunSummary> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("config.json").is_file())
        .filter_map(|entry| RunSummary::read(&entry.path()).ok())
        .collect();
    runs.sort_by(|a, b| b.name.cmp(&a.name));
    runs
}
