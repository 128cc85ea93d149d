//! The runs in a folder, newest first, with how far each got: what the app's run list shows.

use std::path::{Path, PathBuf};

use super::run_folder::{RunFolder, RunInfo};
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
}

impl RunSummary {
    pub fn read(folder: &Path) -> Result<Self, String> {
        let run = RunFolder::open(folder).map_err(|err| err.to_string())?;
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
        })
    }
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
