//! A run's test predictions seen at a chosen threshold: the confusion matrix and metrics, the
//! ROC curve and its operating point, and each cell's patches with the surest first.

use crate::dataset::Label;
use crate::metrics::{ConfusionMatrix, Metrics, roc_auc, roc_curve};
use crate::training::PredictionRow;

/// A cell of the confusion matrix. IDC is the positive class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Cell {
    TrueNegative,
    FalsePositive,
    FalseNegative,
    TruePositive,
}

impl Cell {
    /// In the matrix's reading order: truth by rows, prediction by columns.
    pub const ALL: [Cell; 4] = [
        Cell::TrueNegative,
        Cell::FalsePositive,
        Cell::FalseNegative,
        Cell::TruePositive,
    ];

    pub fn of(truth: Label, prob_idc: f32, threshold: f32) -> Cell {
        match (truth, prob_idc >= threshold) {
            (Label::NonIdc, false) => Cell::TrueNegative,
            (Label::NonIdc, true) => Cell::FalsePositive,
            (Label::Idc, false) => Cell::FalseNegative,
            (Label::Idc, true) => Cell::TruePositive,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Cell::TrueNegative => "True negatives",
            Cell::FalsePositive => "False positives",
            Cell::FalseNegative => "False negatives",
            Cell::TruePositive => "True positives",
        }
    }

    pub fn short_name(self) -> &'static str {
        match self {
            Cell::TrueNegative => "TN",
            Cell::FalsePositive => "FP",
            Cell::FalseNegative => "FN",
            Cell::TruePositive => "TP",
        }
    }

    pub fn truth(self) -> Label {
        match self {
            Cell::TrueNegative | Cell::FalsePositive => Label::NonIdc,
            Cell::FalseNegative | Cell::TruePositive => Label::Idc,
        }
    }

    pub fn predicts_idc(self) -> bool {
        matches!(self, Cell::FalsePositive | Cell::TruePositive)
    }

    pub fn is_mistake(self) -> bool {
        matches!(self, Cell::FalsePositive | Cell::FalseNegative)
    }

    /// How many patches of `matrix` fall in this cell.
    pub fn count(self, matrix: &ConfusionMatrix) -> usize {
        match self {
            Cell::TrueNegative => matrix.tn,
            Cell::FalsePositive => matrix.fp,
            Cell::FalseNegative => matrix.fn_,
            Cell::TruePositive => matrix.tp,
        }
    }
}

/// The ROC curve is drawn every frame: points closer than this to the last one kept are dropped
/// (at most a few hundred remain; 55,000 test patches would give as many points).
const ROC_RESOLUTION: f64 = 0.002;

/// Keeps the first and last points and each point at least `resolution` away (in either rate)
/// from the previous point kept.
fn thin_curve(points: Vec<(f64, f64)>, resolution: f64) -> Vec<(f64, f64)> {
    let Some(&last) = points.last() else {
        return points;
    };
    let mut kept: Vec<(f64, f64)> = Vec::new();
    for point in points {
        let far = kept
            .last()
            .is_none_or(|&(x, y)| (point.0 - x).abs() >= resolution || (point.1 - y).abs() >= resolution);
        if far {
            kept.push(point);
        }
    }
    if kept.last() != Some(&last) {
        kept.push(last);
    }
    kept
}

/// The test predictions of one run.
#[derive(Debug, Clone)]
pub struct ReviewSet {
    rows: Vec<PredictionRow>,
    labels: Vec<Label>,
    prob_idc: Vec<f32>,
    roc_auc: Option<f64>,
    roc: Vec<(f64, f64)>,
}

impl ReviewSet {
    pub fn new(rows: Vec<PredictionRow>) -> Self {
        let labels: Vec<Label> = rows.iter().map(|row| row.label).collect();
        let prob_idc: Vec<f32> = rows.iter().map(|row| row.prob_idc).collect();
        // Both depend on the ranking only, not the threshold: computed once.
        let roc_auc = roc_auc(&labels, &prob_idc);
        let roc = thin_curve(roc_curve(&labels, &prob_idc), ROC_RESOLUTION);
        Self {
            rows,
            labels,
            prob_idc,
            roc_auc,
            roc,
        }
    }

    pub fn rows(&self) -> &[PredictionRow] {
        &self.rows
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn matrix(&self, threshold: f32) -> ConfusionMatrix {
        ConfusionMatrix::from_probabilities(&self.labels, &self.prob_idc, threshold)
    }

    pub fn metrics(&self, threshold: f32) -> Metrics {
        Metrics::from_matrix(&self.matrix(threshold), threshold, self.roc_auc)
    }

    /// (false positive rate, true positive rate) points from the strictest threshold down.
    pub fn roc_curve(&self) -> &[(f64, f64)] {
        &self.roc
    }

    /// Where `threshold` sits on the ROC curve: (false positive rate, true positive rate).
    pub fn operating_point(&self, threshold: f32) -> (f64, f64) {
        let matrix = self.matrix(threshold);
        let rate = |num: usize, den: usize| if den == 0 { 0.0 } else { num as f64 / den as f64 };
        (
            rate(matrix.fp, matrix.fp + matrix.tn),
            rate(matrix.tp, matrix.tp + matrix.fn_),
        )
    }

    /// Rows in `cell` at `threshold`, the model's surest first: for a mistake, the most
    /// confident mistake leads.
    pub fn cell_rows(&self, cell: Cell, threshold: f32) -> Vec<usize> {
        let mut members: Vec<usize> = (0..self.rows.len())
            .filter(|&row| Cell::of(self.labels[row], self.prob_idc[row], threshold) == cell)
            .collect();
        let probability = |row: &usize| self.prob_idc[*row];
        if cell.predicts_idc() {
            members.sort_by(|a, b| probability(b).total_cmp(&probability(a)));
        } else {
            members.sort_by(|a, b| probability(a).total_cmp(&probability(b)));
        }
        members
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: usize, prob_idc: f32) -> PredictionRow {
        PredictionRow {
            path: format!("p{label}-{prob_idc}.png").into(),
            patient: "1".into(),
            x: 0,
            y: 0,
            label: Label::from_index(label).unwrap(),
            prob_idc,
        }
    }

    #[test]
    fn cells_follow_the_threshold_and_put_confident_mistakes_first() {
        let set = ReviewSet::new(vec![
            row(1, 0.40),
            row(1, 0.05),
            row(1, 0.90),
            row(0, 0.70),
            row(0, 0.95),
            row(0, 0.10),
        ]);
        assert_eq!(set.cell_rows(Cell::FalseNegative, 0.5), vec![1, 0]);
        assert_eq!(set.cell_rows(Cell::FalsePositive, 0.5), vec![4, 3]);
        assert_eq!(set.cell_rows(Cell::TruePositive, 0.5), vec![2]);
        let matrix = set.matrix(0.5);
        assert_eq!((matrix.tn, matrix.fp, matrix.fn_, matrix.tp), (1, 2, 2, 1));

        // Lowering the threshold turns the 0.40 miss into a hit.
        assert_eq!(set.cell_rows(Cell::FalseNegative, 0.3), vec![1]);
        let metrics = set.metrics(0.3);
        assert!((metrics.sensitivity - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(set.operating_point(0.3), (2.0 / 3.0, 2.0 / 3.0));
        assert_eq!(set.metrics(0.9).roc_auc, set.metrics(0.1).roc_auc);
    }

    #[test]
    fn a_long_roc_curve_is_thinned_but_keeps_its_ends() {
        let points: Vec<(f64, f64)> = (0..=50_000).map(|step| (step as f64 / 50_000.0, 1.0)).collect();
        let thinned = thin_curve(points, ROC_RESOLUTION);
        assert!(thinned.len() <= 502, "{}", thinned.len());
        assert_eq!(thinned.first(), Some(&(0.0, 1.0)));
        assert_eq!(thinned.last(), Some(&(1.0, 1.0)));
    }
}
