//! What a run was made with: its settings, dataset and device, or the file it was imported from.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::config::{ConfigError, TrainConfig};
use super::prediction_row::PredictionRow;
use crate::dataset::LabelChanges;
use crate::model::cancernet::{BatchNormError, BatchNormSettings};

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
    /// What the readers' corrections changed, when the run trained on reviewed labels (the
    /// corrections themselves are in `labels.csv`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_changes: Option<LabelChanges>,
    /// The device it trained on, in words (the last one, where a resume moved it); absent in
    /// runs saved before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Where the predictions came from, for a run imported from another tool: it has no model,
    /// and its `config` only records the split's kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<ImportedFrom>,
}

/// An imported run's source: the predictions file a reader gave and what it held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedFrom {
    pub predictions: PathBuf,
    /// Rows of the file (every one matched a patch).
    pub rows: usize,
    /// The embeddings file given with it, if one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<PathBuf>,
    /// Whether its rows named their parts (else every row is in the test part).
    pub had_parts: bool,
}

impl RunInfo {
    /// An imported run's words for what made it, where a trained run shows its device.
    pub const IMPORTED: &'static str = "imported (no model)";

    pub fn is_imported(&self) -> bool {
        self.imported.is_some()
    }
}

/// A row of `part_predictions.csv`: a patch outside the test part and its P(IDC). Flat, as
/// CSV needs: a prediction row with its part first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartPredictionRow {
    pub part: crate::dataset::split::SplitPart,
    pub path: PathBuf,
    pub patient: String,
    pub x: u32,
    pub y: u32,
    #[serde(with = "crate::dataset::label_index")]
    pub label: crate::dataset::Label,
    pub prob_idc: f32,
}

impl PartPredictionRow {
    pub fn new(part: crate::dataset::split::SplitPart, row: PredictionRow) -> Self {
        Self {
            part,
            path: row.path,
            patient: row.patient,
            x: row.x,
            y: row.y,
            label: row.label,
            prob_idc: row.prob_idc,
        }
    }

    pub fn prediction(&self) -> PredictionRow {
        PredictionRow {
            path: self.path.clone(),
            patient: self.patient.clone(),
            x: self.x,
            y: self.y,
            label: self.label,
            prob_idc: self.prob_idc,
        }
    }
}

impl RunInfo {
    /// What is wrong with settings read from a `config.json`: what the trainer or the model
    /// would otherwise panic on, or train on silently.
    pub(super) fn check(&self) -> Result<(), SettingsError> {
        self.config.validate()?;
        if !self
            .class_weights
            .iter()
            .all(|weight| weight.is_finite() && *weight > 0.0)
        {
            return Err(SettingsError::ClassWeights(self.class_weights));
        }
        Ok(self.batch_norm.validate()?)
    }
}

/// What is wrong with the settings in a run's `config.json`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(super) enum SettingsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("class weights {0:?} must be positive numbers")]
    ClassWeights([f32; 2]),
    #[error(transparent)]
    BatchNorm(#[from] BatchNormError),
}
