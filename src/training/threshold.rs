//! The threshold a run is read at: the one a reader saved with it, or the one asked for.

use serde::{Deserialize, Serialize};

use super::run_folder::{RunFileError, RunFolder};

/// The threshold a reader settled on for a run: `eval`, `predict` and Review use it unless told
/// otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedThreshold {
    pub threshold: f32,
    /// Who saved it, where the reader is known.
    #[serde(default)]
    pub reader: Option<String>,
    /// When, local time with its offset.
    #[serde(default)]
    pub saved_at: String,
}

impl SavedThreshold {
    pub fn now(threshold: f32, reader: Option<String>) -> Self {
        Self {
            threshold,
            reader,
            saved_at: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        }
    }

    /// `0.420 (saved with the run by ana)`, for a person to read.
    pub fn describe(&self) -> String {
        match &self.reader {
            Some(reader) => format!("{:.3} (saved with the run by {reader})", self.threshold),
            None => format!("{:.3} (saved with the run)", self.threshold),
        }
    }
}

/// The threshold a command uses for a run, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ChosenThreshold {
    pub threshold: f32,
    /// How to name it: the value, and given, saved (by whom, when) or the default.
    pub described: String,
    /// Neither given nor saved with the run: 0.5.
    pub is_default: bool,
}

/// The threshold for `run`: `asked` if given, else the one saved with it, else 0.5.
pub fn threshold_for(run: &RunFolder, asked: Option<f32>) -> Result<ChosenThreshold, RunFileError> {
    if let Some(threshold) = asked {
        return Ok(ChosenThreshold {
            threshold,
            described: format!("{threshold:.3} (given)"),
            is_default: false,
        });
    }
    Ok(match run.read_threshold()? {
        Some(saved) => ChosenThreshold {
            threshold: saved.threshold,
            described: saved.describe(),
            is_default: false,
        },
        None => ChosenThreshold {
            threshold: 0.5,
            described: "0.500 (the default; none saved with the run)".into(),
            is_default: true,
        },
    })
}
