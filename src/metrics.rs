//! Confusion matrices and the scores a pathologist reads off them. IDC (class 1) is the positive
//! class throughout: sensitivity is the share of IDC patches the model catches.

use serde::{Deserialize, Serialize};

use crate::dataset::Label;

pub mod calibration;

/// Counts of (truth, prediction) pairs, positive class IDC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    pub tn: usize,
    pub fp: usize,
    pub fn_: usize,
    pub tp: usize,
}

impl ConfusionMatrix {
    /// Counts predictions `probability of IDC >= threshold` against the truth.
    pub fn from_probabilities(labels: &[Label], prob_idc: &[f32], threshold: f32) -> Self {
        assert_eq!(labels.len(), prob_idc.len(), "one probability per label");
        let mut matrix = ConfusionMatrix::default();
        for (&label, &prob) in labels.iter().zip(prob_idc) {
            matrix.add(label, prob >= threshold);
        }
        matrix
    }

    pub fn add(&mut self, truth: Label, predicted_idc: bool) {
        match (truth, predicted_idc) {
            (Label::NonIdc, false) => self.tn += 1,
            (Label::NonIdc, true) => self.fp += 1,
            (Label::Idc, false) => self.fn_ += 1,
            (Label::Idc, true) => self.tp += 1,
        }
    }

    /// `[[tn, fp], [fn, tp]]`: rows are the truth, columns the prediction.
    pub fn rows(&self) -> [[usize; 2]; 2] {
        [[self.tn, self.fp], [self.fn_, self.tp]]
    }

    pub fn total(&self) -> usize {
        self.tn + self.fp + self.fn_ + self.tp
    }
}

/// Scores at one threshold, as saved in a run's `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub threshold: f32,
    pub patches: usize,
    pub accuracy: f64,
    /// Recall of IDC: the share of cancer the model catches.
    pub sensitivity: f64,
    /// Recall of non-IDC.
    pub specificity: f64,
    /// Of the patches called IDC, the share that are.
    pub precision: f64,
    pub f1: f64,
    pub balanced_accuracy: f64,
    /// Area under the ROC curve; independent of the threshold. None with a single class.
    pub roc_auc: Option<f64>,
    /// `[[tn, fp], [fn, tp]]`.
    pub confusion: [[usize; 2]; 2],
    /// Whether P(IDC) reads as a probability on these patches (files from before: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<calibration::CalibrationScores>,
}

impl Metrics {
    pub fn from_matrix(matrix: &ConfusionMatrix, threshold: f32, roc_auc: Option<f64>) -> Self {
        let ratio = |num: usize, den: usize| if den == 0 { 0.0 } else { num as f64 / den as f64 };
        let sensitivity = ratio(matrix.tp, matrix.tp + matrix.fn_);
        let specificity = ratio(matrix.tn, matrix.tn + matrix.fp);
        let precision = ratio(matrix.tp, matrix.tp + matrix.fp);
        let f1 = if precision + sensitivity == 0.0 {
            0.0
        } else {
            2.0 * precision * sensitivity / (precision + sensitivity)
        };
        Metrics {
            threshold,
            patches: matrix.total(),
            accuracy: ratio(matrix.tp + matrix.tn, matrix.total()),
            sensitivity,
            specificity,
            precision,
            f1,
            balanced_accuracy: (sensitivity + specificity) / 2.0,
            roc_auc,
            confusion: matrix.rows(),
            calibration: None,
        }
    }

    pub fn from_probabilities(labels: &[Label], prob_idc: &[f32], threshold: f32) -> Self {
        let matrix = ConfusionMatrix::from_probabilities(labels, prob_idc, threshold);
        Metrics {
            calibration: Some(calibration::calibration_scores(labels, prob_idc)),
            ..Metrics::from_matrix(&matrix, threshold, roc_auc(labels, prob_idc))
        }
    }
}

/// Area under the ROC curve: the chance that a random IDC patch scores above a random non-IDC
/// one, ties counting half (the Mann-Whitney statistic). None when a class is absent.
pub fn roc_auc(labels: &[Label], prob_idc: &[f32]) -> Option<f64> {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&a, &b| prob_idc[a].total_cmp(&prob_idc[b]));
    let positives = labels.iter().filter(|&&label| label == Label::Idc).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Sum of the (average, for ties) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && prob_idc[order[end]] == prob_idc[order[start]] {
            end += 1;
        }
        let average_rank = (start + 1 + end) as f64 / 2.0;
        let tied_positives = order[start..end]
            .iter()
            .filter(|&&index| labels[index] == Label::Idc)
            .count();
        rank_sum += average_rank * tied_positives as f64;
        start = end;
    }
    let positives = positives as f64;
    Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives as f64))
}

/// Points of the ROC curve (false positive rate, true positive rate), from (0,0) to (1,1).
pub fn roc_curve(labels: &[Label], prob_idc: &[f32]) -> Vec<(f64, f64)> {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&a, &b| prob_idc[b].total_cmp(&prob_idc[a]));
    let positives = labels.iter().filter(|&&label| label == Label::Idc).count().max(1) as f64;
    let negatives = labels
        .iter()
        .filter(|&&label| label == Label::NonIdc)
        .count()
        .max(1) as f64;
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut points = vec![(0.0, 0.0)];
    for (position, &index) in order.iter().enumerate() {
        match labels[index] {
            Label::Idc => tp += 1.0,
            Label::NonIdc => fp += 1.0,
        }
        let last_of_tie = order
            .get(position + 1)
            .is_none_or(|&next| prob_idc[next] != prob_idc[index]);
        if last_of_tie {
            points.push((fp / negatives, tp / positives));
        }
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tutorials_matrix_gives_its_published_scores() {
        // CancerNet's published test matrix: [[35867 3853] [4272 11513]].
        let matrix = ConfusionMatrix {
            tn: 35867,
            fp: 3853,
            fn_: 4272,
            tp: 11513,
        };
        let metrics = Metrics::from_matrix(&matrix, 0.5, None);
        assert_eq!(metrics.patches, 55505);
        assert_eq!(format!("{:.3}", metrics.sensitivity), "0.729");
        assert_eq!(format!("{:.3}", metrics.specificity), "0.903");
        assert_eq!(format!("{:.3}", metrics.accuracy), "0.854");
        assert_eq!(format!("{:.3}", metrics.balanced_accuracy), "0.816");
        assert_eq!(format!("{:.3}", metrics.f1), "0.739");
        assert_eq!(metrics.confusion, [[35867, 3853], [4272, 11513]]);
    }

    #[test]
    fn counts_a_small_hand_made_case() {
        use Label::{Idc, NonIdc};
        let labels = [NonIdc, NonIdc, NonIdc, Idc, Idc];
        let probs = [0.1, 0.6, 0.4, 0.9, 0.3];
        let matrix = ConfusionMatrix::from_probabilities(&labels, &probs, 0.5);
        assert_eq!(matrix.rows(), [[2, 1], [1, 1]]);
        let metrics = Metrics::from_probabilities(&labels, &probs, 0.5);
        assert_eq!(metrics.sensitivity, 0.5);
        assert!((metrics.specificity - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(metrics.precision, 0.5);
        // IDC 0.9 beats all three negatives, 0.3 beats only 0.1: 4 of 6 pairs.
        assert!((metrics.roc_auc.unwrap() - 4.0 / 6.0).abs() < 1e-12);
        // A lower threshold catches the missed cancer.
        let lenient = ConfusionMatrix::from_probabilities(&labels, &probs, 0.25);
        assert_eq!(lenient.rows(), [[1, 2], [0, 2]]);
    }

    #[test]
    fn roc_auc_counts_ties_as_half_and_needs_both_classes() {
        use Label::{Idc, NonIdc};
        assert_eq!(roc_auc(&[NonIdc, Idc], &[0.5, 0.5]), Some(0.5));
        assert_eq!(roc_auc(&[NonIdc, Idc], &[0.2, 0.8]), Some(1.0));
        assert_eq!(roc_auc(&[Idc, Idc], &[0.2, 0.8]), None);
        let curve = roc_curve(&[NonIdc, Idc, Idc], &[0.1, 0.8, 0.8]);
        assert_eq!(curve, vec![(0.0, 0.0), (0.0, 1.0), (1.0, 1.0)]);
    }

    #[test]
    fn empty_classes_give_zeros_not_nan() {
        let metrics = Metrics::from_matrix(&ConfusionMatrix::default(), 0.5, None);
        assert_eq!(metrics.accuracy, 0.0);
        assert_eq!(metrics.f1, 0.0);
    }
}
