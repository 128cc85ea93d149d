//! A row of a run's `predictions.csv`: one test patch, its label and P(IDC), checked when read.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::dataset::Label;

/// One test patch's prediction, a row of `predictions.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionRow {
    pub path: PathBuf,
    pub patient: String,
    pub x: u32,
    pub y: u32,
    /// The test label, 0 or 1 in the file: anything else is refused as it is read.
    #[serde(with = "crate::dataset::label_index")]
    pub label: Label,
    pub prob_idc: f32,
}

impl PredictionRow {
    /// The row of patch `index` of `store`, with its P(IDC).
    pub fn of_patch(store: &crate::dataset::PatchStore, index: usize, prob_idc: f32) -> Self {
        let patch = store.patch(index);
        PredictionRow {
            path: patch.path.clone(),
            patient: store.patient_name(patch).to_string(),
            x: patch.x,
            y: patch.y,
            label: patch.label,
            prob_idc,
        }
    }

    /// What is wrong with a row read from a file: a probability that is not a number between 0
    /// and 1 (a damaged model's NaN would score as "not IDC").
    pub(super) fn check(&self) -> Result<(), RowError> {
        if !(self.prob_idc.is_finite() && (0.0..=1.0).contains(&self.prob_idc)) {
            return Err(RowError::Probability(self.prob_idc));
        }
        Ok(())
    }
}

/// What is wrong with a row of `predictions.csv`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(super) enum RowError {
    #[error("probability {0} is not between 0 and 1")]
    Probability(f32),
}
