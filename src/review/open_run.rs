//! A finished run opened for audit: its test predictions matched to the open dataset's patches
//! and scored against the dataset's labels or the readers' corrections.

use std::collections::HashMap;

use super::ReviewSet;
use crate::dataset::split::SplitPart;
use crate::dataset::{Dataset, Label, LabelOverride, LabelSource};
use crate::training::run_folder::{PartPredictionRow, RunFileError};
use crate::training::{PredictionRow, RunFolder, RunInfo, SavedThreshold};

/// A trained run opened for review, its test rows matched to the open dataset and scored
/// against the labels the reader chose.
pub struct OpenRun {
    pub folder: RunFolder,
    pub info: RunInfo,
    /// The rows as `predictions.csv` holds them.
    recorded: Vec<PredictionRow>,
    /// The labels the rows are scored against.
    pub scored_by: LabelSource,
    /// Test rows left out because the chosen readers were unsure or disagreed.
    pub left_out: usize,
    pub review: ReviewSet,
    /// Per review row: the store index of its patch, if the dataset still has it.
    pub store_index: Vec<Option<usize>>,
    /// Store index -> review row, for the patients view and slide heatmaps.
    pub row_of_patch: HashMap<usize, usize>,
    /// The threshold a reader saved with the run, where one did.
    pub saved_threshold: Option<SavedThreshold>,
    /// The P(IDC) the run kept outside its test part (the validation part; an imported run's
    /// training part too), scored against the dataset's labels.
    pub part_rows: Vec<PartPredictionRow>,
    /// Store index -> P(IDC) of `part_rows`.
    part_prob_idc: HashMap<usize, f32>,
}

impl OpenRun {
    /// Reads a finished run and matches its test rows to `dataset`, scored against the
    /// dataset's labels.
    pub fn load(folder: &std::path::Path, dataset: &Dataset) -> Result<OpenRun, RunFileError> {
        let run = RunFolder::open(folder)?;
        let info = run.read_info()?;
        if !run.predictions_path().is_file() {
            return Err(RunFileError {
                path: folder.to_path_buf(),
                why: "this run has no test predictions yet (it has not finished); resume it from Training"
                    .into(),
            });
        }
        let recorded = run.read_predictions()?;
        let saved_threshold = run.read_threshold()?;
        let mut part_rows = run.read_part_predictions()?;
        let mut part_prob_idc = HashMap::new();
        for part_row in &mut part_rows {
            if let Some(index) = dataset.find(&part_row.patient, part_row.x, part_row.y) {
                part_row.label = dataset.store.patch(index).label;
                part_prob_idc.insert(index, part_row.prob_idc);
            }
        }
        let mut open = OpenRun {
            folder: run,
            info,
            recorded,
            scored_by: LabelSource::Dataset,
            left_out: 0,
            review: ReviewSet::new(Vec::new()),
            store_index: Vec::new(),
            row_of_patch: HashMap::new(),
            saved_threshold,
            part_rows,
            part_prob_idc,
        };
        open.rescore(dataset, LabelSource::Dataset, &[]);
        Ok(open)
    }

    /// Scores the run against `labels`: the dataset's, or the readers' `corrections` (a patch
    /// they were unsure of, or disagree on, is left out).
    pub fn rescore(&mut self, dataset: &Dataset, labels: LabelSource, corrections: &[LabelOverride]) {
        let corrected: HashMap<(&str, u32, u32), Option<Label>> = corrections
            .iter()
            .map(|correction| {
                (
                    (correction.patient.as_str(), correction.x, correction.y),
                    correction.label,
                )
            })
            .collect();
        let mut rows = Vec::with_capacity(self.recorded.len());
        let mut left_out = 0;
        for row in &self.recorded {
            let index = dataset.find(&row.patient, row.x, row.y);
            let dataset_label = index.map_or_else(|| row.label, |index| dataset.store.patch(index).label);
            let truth = match corrected.get(&(row.patient.as_str(), row.x, row.y)) {
                Some(Some(label)) => *label,
                Some(None) => {
                    left_out += 1;
                    continue;
                }
                None => dataset_label,
            };
            rows.push(PredictionRow {
                label: truth,
                ..row.clone()
            });
        }
        self.review = ReviewSet::new(rows);
        self.store_index = self
            .review
            .rows()
            .iter()
            .map(|row| dataset.find(&row.patient, row.x, row.y))
            .collect();
        self.row_of_patch = self
            .store_index
            .iter()
            .enumerate()
            .filter_map(|(row, index)| index.map(|index| (index, row)))
            .collect();
        self.scored_by = labels;
        self.left_out = left_out;
    }

    pub fn name(&self) -> String {
        self.folder.root().file_name().map_or_else(
            || self.folder.root().display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        )
    }

    /// The run's probability of IDC for a test patch.
    pub fn prob_idc(&self, patch: usize) -> Option<f32> {
        self.row_of_patch
            .get(&patch)
            .map(|&row| self.review.rows()[row].prob_idc)
    }

    /// The P(IDC) the run recorded for a patch of any part: what an imported run, which has no
    /// model to ask, shows on the slide.
    pub fn recorded_prob_idc(&self, patch: usize) -> Option<f32> {
        self.prob_idc(patch)
            .or_else(|| self.part_prob_idc.get(&patch).copied())
    }

    /// The validation part's labels and P(IDC), where the run kept them.
    pub fn validation(&self) -> (Vec<Label>, Vec<f32>) {
        self.part_rows
            .iter()
            .filter(|row| row.part == SplitPart::Validation)
            .map(|row| (row.label, row.prob_idc))
            .unzip()
    }

    /// The confusion-matrix cell a test patch falls in at `threshold`, scored against the
    /// labels the run is scored by; `None` for a patch outside the test part.
    pub fn cell_of(&self, patch: usize, threshold: f32) -> Option<super::Cell> {
        let row = &self.review.rows()[*self.row_of_patch.get(&patch)?];
        Some(super::Cell::of(row.label, row.prob_idc, threshold))
    }

    /// The threshold the run's verdicts are shown at outside Review: the one saved with it, or
    /// 0.5.
    pub fn threshold(&self) -> f32 {
        self.saved_threshold.as_ref().map_or(0.5, |saved| saved.threshold)
    }

    pub fn missing_patches(&self) -> usize {
        self.store_index.iter().filter(|index| index.is_none()).count()
    }
}
