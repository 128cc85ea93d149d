//! Patients unlike the others: each patient's out-of-fold scores, and the patients on which the
//! models that never saw them do far worse than on the rest. A slide stained, scanned or cut
//! unlike the others fails the model as a whole: its patches are not label errors one by one,
//! and must not be read as such.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset::Label;
use crate::dataset::stain::PatientStains;
use crate::metrics::{ConfusionMatrix, roc_auc};
use crate::training::cross_validation::OutOfFoldRow;

/// The per-patient file that `label-issues` writes beside `label_issues.csv`.
pub const PATIENTS_FILE: &str = "patients.csv";
/// What a patient flagged as unlike the others is called, here and in the app.
pub const UNLIKE_THE_OTHERS: &str = "unlike the others (stain, scanner or tissue)";
/// Patients with fewer patches than this are never flagged: their accuracy is too noisy.
const MIN_PATCHES: usize = 20;
/// How far below the median accuracy a patient must be, at the least, to be flagged.
const MIN_GAP: f64 = 0.10;
/// ... and in robust standard deviations of the patients' accuracies.
const ROBUST_DEVIATIONS: f64 = 3.0;

/// One patient's out-of-fold predictions, scored at P(IDC) 0.5.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientScores {
    pub patient: String,
    pub patches: usize,
    pub idc: usize,
    pub accuracy: f64,
    /// Empty where the patient has no IDC patch (sensitivity) or no other (specificity, AUC).
    pub sensitivity: Option<f64>,
    pub specificity: Option<f64>,
    pub auc: Option<f64>,
    /// The mean P(IDC) the models give its patches, beside its share of IDC labels: a patient
    /// whose every patch reads as cancer shows here.
    pub mean_prob_idc: f64,
    pub unlike_others: bool,
    /// Whether its stain's colour is far from the other patients' (the stain map's verdict):
    /// says whether to look at the slide's stain or at its tissue. Empty where not estimated.
    #[serde(default)]
    pub stain_unusual: Option<bool>,
}

/// Every patient's scores, worst accuracy first, with the patients unlike the others marked:
/// at least [`MIN_PATCHES`] patches and an accuracy below the median by more than
/// [`MIN_GAP`] and [`ROBUST_DEVIATIONS`] robust standard deviations.
pub fn patient_scores(rows: &[OutOfFoldRow]) -> Vec<PatientScores> {
    let mut by_patient: BTreeMap<&str, Vec<&OutOfFoldRow>> = BTreeMap::new();
    for row in rows {
        by_patient.entry(row.patient.as_str()).or_default().push(row);
    }
    let mut scores: Vec<PatientScores> = by_patient
        .into_iter()
        .map(|(patient, rows)| {
            let labels: Vec<Label> = rows.iter().map(|row| row.label).collect();
            let probabilities: Vec<f32> = rows.iter().map(|row| row.prob_idc).collect();
            let matrix = ConfusionMatrix::from_probabilities(&labels, &probabilities, 0.5);
            let ratio = |part: usize, whole: usize| (whole > 0).then(|| part as f64 / whole as f64);
            PatientScores {
                patient: patient.to_string(),
                patches: rows.len(),
                idc: matrix.tp + matrix.fn_,
                accuracy: ratio(matrix.tp + matrix.tn, matrix.total()).unwrap_or(0.0),
                sensitivity: ratio(matrix.tp, matrix.tp + matrix.fn_),
                specificity: ratio(matrix.tn, matrix.tn + matrix.fp),
                auc: roc_auc(&labels, &probabilities),
                mean_prob_idc: probabilities.iter().map(|&p| f64::from(p)).sum::<f64>() / rows.len() as f64,
                unlike_others: false,
                stain_unusual: None,
            }
        })
        .collect();
    let cut = flag_below(&scores);
    for patient in &mut scores {
        patient.unlike_others = patient.patches >= MIN_PATCHES && patient.accuracy < cut;
    }
    scores.sort_by(|a, b| a.accuracy.total_cmp(&b.accuracy).then(a.patient.cmp(&b.patient)));
    scores
}

/// Notes on each patient whether its stain is unusual, from the dataset's patient stains.
pub fn note_stains(scores: &mut [PatientScores], stains: &PatientStains) {
    let unusual = stains.unusual();
    for score in scores {
        score.stain_unusual = stains
            .patients
            .iter()
            .position(|stain| stain.patient == score.patient)
            .map(|index| unusual[index]);
    }
}

/// What a reader should look at on a patient unlike the others.
pub fn suspected_cause(patient: &PatientScores) -> &'static str {
    match patient.stain_unusual {
        Some(true) => "its stain is unlike the others': normalise or augment stain",
        Some(false) => "its stain is like the others': look at its tissue and its labels",
        None => "its stain was not estimated",
    }
}

/// The accuracy below which a patient is unlike the others.
fn flag_below(scores: &[PatientScores]) -> f64 {
    let mut accuracies: Vec<f64> = scores
        .iter()
        .filter(|patient| patient.patches >= MIN_PATCHES)
        .map(|patient| patient.accuracy)
        .collect();
    if accuracies.len() < 3 {
        return f64::NEG_INFINITY; // too few patients to say what "the others" do
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let centre = median(&mut accuracies);
    let spread = median(&mut accuracies.iter().map(|a| (a - centre).abs()).collect());
    centre - (ROBUST_DEVIATIONS * 1.4826 * spread).max(MIN_GAP)
}

/// A patients file that cannot be written or read back.
#[derive(Debug, thiserror::Error)]
#[error("{}: {why}", path.display())]
pub struct PatientsFileError {
    pub path: PathBuf,
    pub why: String,
}

/// Writes `scores` to [`PATIENTS_FILE`] in `folder`, atomically.
pub fn write_patient_scores(folder: &Path, scores: &[PatientScores]) -> Result<(), PatientsFileError> {
    let path = folder.join(PATIENTS_FILE);
    crate::atomic_file::write_csv_atomic(&path, scores).map_err(|err| PatientsFileError {
        path,
        why: err.to_string(),
    })
}

/// The scores written to `folder` earlier, or `None` where there are none.
pub fn read_patient_scores(folder: &Path) -> Result<Option<Vec<PatientScores>>, PatientsFileError> {
    let path = folder.join(PATIENTS_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    crate::atomic_file::read_csv(&path)
        .map(Some)
        .map_err(|err| PatientsFileError {
            path,
            why: err.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `patches` patches of `patient`, a third IDC, each predicted right with `right` of them.
    fn patient(name: &str, patches: usize, right: f64) -> Vec<OutOfFoldRow> {
        (0..patches)
            .map(|index| {
                let label = usize::from(index % 3 == 0);
                let correct = (index as f64) < right * patches as f64;
                let prob_idc = if (label == 1) == correct { 0.9 } else { 0.1 };
                OutOfFoldRow {
                    patient: name.into(),
                    x: index as u32 * 50,
                    y: 0,
                    path: format!("{name}_{index}.png").into(),
                    label: Label::from_index(label).unwrap(),
                    prob_idc,
                    fold: 0,
                }
            })
            .collect()
    }

    #[test]
    fn a_patient_far_below_the_rest_is_unlike_the_others_and_comes_first() {
        let mut rows = Vec::new();
        for (name, right) in [("a", 0.93), ("b", 0.9), ("c", 0.95), ("d", 0.91), ("e", 0.6)] {
            rows.extend(patient(name, 60, right));
        }
        rows.extend(patient("tiny", 5, 0.0)); // too few patches to judge
        let scores = patient_scores(&rows);
        assert_eq!(scores[0].patient, "tiny");
        assert!(!scores[0].unlike_others);
        assert_eq!(scores[1].patient, "e");
        assert!(scores[1].unlike_others);
        assert!((scores[1].accuracy - 0.6).abs() < 0.02);
        assert_eq!(scores.iter().filter(|s| s.unlike_others).count(), 1);
        assert_eq!(scores[1].idc, 20);
    }

    #[test]
    fn patients_that_differ_a_little_are_none_of_them_flagged() {
        let mut rows = Vec::new();
        for (name, right) in [("a", 0.93), ("b", 0.86), ("c", 0.95), ("d", 0.89)] {
            rows.extend(patient(name, 60, right));
        }
        assert!(patient_scores(&rows).iter().all(|s| !s.unlike_others));
    }

    #[test]
    fn the_file_reads_back_as_written() {
        let folder = tempfile::tempdir().unwrap();
        assert!(read_patient_scores(folder.path()).unwrap().is_none());
        let scores = patient_scores(&patient("a", 30, 0.8));
        write_patient_scores(folder.path(), &scores).unwrap();
        assert_eq!(read_patient_scores(folder.path()).unwrap(), Some(scores));
    }
}
