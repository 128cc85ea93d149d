//! A run's test results patient by patient: missed cancers gathered in a few patients point at
//! those slides (staining, scanner, a region the labels got wrong), scattered ones at the model.

use std::collections::BTreeMap;

use crate::metrics::ConfusionMatrix;
use crate::training::PredictionRow;

/// One patient's test patches at a threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientResult {
    pub patient: String,
    pub confusion: ConfusionMatrix,
}

impl PatientResult {
    pub fn test_patches(&self) -> usize {
        self.confusion.total()
    }

    pub fn idc_patches(&self) -> usize {
        self.confusion.tp + self.confusion.fn_
    }

    /// Missed cancer: IDC patches predicted non-IDC.
    pub fn missed(&self) -> usize {
        self.confusion.fn_
    }

    pub fn false_alarms(&self) -> usize {
        self.confusion.fp
    }

    /// `None` where the patient has no IDC test patch.
    pub fn sensitivity(&self) -> Option<f64> {
        let idc = self.idc_patches();
        (idc > 0).then(|| self.confusion.tp as f64 / idc as f64)
    }

    /// `None` where the patient has no non-IDC test patch.
    pub fn specificity(&self) -> Option<f64> {
        let non_idc = self.confusion.tn + self.confusion.fp;
        (non_idc > 0).then(|| self.confusion.tn as f64 / non_idc as f64)
    }
}

/// Each patient's confusion matrix at `threshold`, most missed cancers first (then most false
/// alarms, then by name).
pub fn results_by_patient(rows: &[PredictionRow], threshold: f32) -> Vec<PatientResult> {
    let mut by_patient: BTreeMap<&str, ConfusionMatrix> = BTreeMap::new();
    for row in rows {
        by_patient
            .entry(row.patient.as_str())
            .or_default()
            .add(row.label, row.prob_idc >= threshold);
    }
    let mut results: Vec<PatientResult> = by_patient
        .into_iter()
        .map(|(patient, confusion)| PatientResult {
            patient: patient.to_string(),
            confusion,
        })
        .collect();
    results.sort_by(|a, b| {
        b.missed()
            .cmp(&a.missed())
            .then(b.false_alarms().cmp(&a.false_alarms()))
            .then(a.patient.cmp(&b.patient))
    });
    results
}

/// The share of all missed cancers that the `top` patients with the most hold.
pub fn missed_share_of_top(results: &[PatientResult], top: usize) -> f64 {
    let missed: usize = results.iter().map(PatientResult::missed).sum();
    if missed == 0 {
        return 0.0;
    }
    let in_top: usize = results.iter().take(top).map(PatientResult::missed).sum();
    in_top as f64 / missed as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Label;

    fn row(patient: &str, label: Label, prob_idc: f32) -> PredictionRow {
        PredictionRow {
            path: format!("{patient}.png").into(),
            patient: patient.into(),
            x: 0,
            y: 0,
            label,
            prob_idc,
        }
    }

    #[test]
    fn patients_with_the_most_missed_cancers_come_first_and_sum_to_the_run() {
        let rows = [
            row("a", Label::Idc, 0.9),
            row("a", Label::NonIdc, 0.1),
            row("b", Label::Idc, 0.2),
            row("b", Label::Idc, 0.3),
            row("b", Label::NonIdc, 0.7),
            row("c", Label::Idc, 0.1),
        ];
        let results = results_by_patient(&rows, 0.5);
        let names: Vec<&str> = results.iter().map(|r| r.patient.as_str()).collect();
        assert_eq!(names, ["b", "c", "a"]);
        assert_eq!((results[0].missed(), results[0].false_alarms()), (2, 1));
        assert_eq!(results[0].sensitivity(), Some(0.0));
        assert_eq!(results[1].specificity(), None, "c has no non-IDC patch");
        let labels: Vec<Label> = rows.iter().map(|row| row.label).collect();
        let probabilities: Vec<f32> = rows.iter().map(|r| r.prob_idc).collect();
        let whole = ConfusionMatrix::from_probabilities(&labels, &probabilities, 0.5);
        let mut summed = ConfusionMatrix::default();
        for result in &results {
            summed.tp += result.confusion.tp;
            summed.tn += result.confusion.tn;
            summed.fp += result.confusion.fp;
            summed.fn_ += result.confusion.fn_;
        }
        assert_eq!(summed, whole);
        assert!((missed_share_of_top(&results, 1) - 2.0 / 3.0).abs() < 1e-9);
    }
}
