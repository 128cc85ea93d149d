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
    pub label: usize,
    pub prob_idc: f32,
}

impl PredictionRow {
    pub fn truth(&self) -> Label {
        Label::from_index(self.label).unwrap_or(Label::NonIdc)
    }

    /// What is wrong with a row read from a file: a label other than 0 or 1, or a probability
    /// that is not a number between 0 and 1 (a damaged model's NaN scores as "not IDC").
    pub(super) fn check(&self) -> Result<(), RowError> {
        if Label::from_index(self.label).is_none() {
            return Err(RowError::Label(self.label));
        }
        if !(self.prob_idc.is_finite() && (0.0..=1.0).contains(&self.prob_idc)) {
            return Err(RowError::Probability(self.prob_idc));
        }
        Ok(())
    }
}

/// What is wrong with a row of `predictions.csv`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(super) enum RowError {
    #[error("label {0} is not 0 or 1")]
    Label(usize),
    #[error("probability {0} is not between 0 and 1")]
    Probability(f32),
}
