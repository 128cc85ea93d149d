//! Which given labels to doubt, by confident learning (Northcutt, Jiang and Chuang, 2021) on
//! out-of-sample probabilities: each patch predicted by a model that never saw it.
//!
//! A class's threshold is the average confidence the models give that class on the patches
//! labelled with it (the "average self-confidence"). A patch is suspected when its confidence
//! in its own label falls below its class's threshold while the other class reaches the other
//! class's threshold: the models are as sure of the other class there as they are, on average,
//! of the patches that carry it. Every patch is ranked by its label quality, the confidence in
//! its given label (cleanlab's `self_confidence`), worst first. Thresholds per class, not 0.5,
//! because a classifier is less sure of the rarer class; a fixed cut would suspect mostly IDC.
//!
//! Thresholds per patient too: a slide stained unlike the others shifts every confidence on it,
//! and against the dataset's thresholds all its patches would look mislabelled. Each patch is
//! judged against its own patient's average self-confidence (shrunk towards the dataset's for
//! patients with few patches of a class) and ranked by how far below it falls; to be suspected,
//! the other class must also reach the dataset's threshold. Patients on whom
//! the models fail as a whole (`unlike_patients.rs`) are listed apart: their patches are
//! ranked after every other and none is suspected, since what is wrong there is the slide.

use std::path::{Path, PathBuf};

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::unlike_patients::patient_scores;
use crate::dataset::Label;
pub use crate::training::cross_validation::OutOfFoldRow;

/// A patient's thresholds lean towards the dataset's as if this many patches of each class at
/// the dataset's average were added to its own.
const THRESHOLD_SHRINKAGE: f64 = 20.0;

/// The name of the ranked file, worst label first.
pub const LABEL_ISSUES_FILE: &str = "label_issues.csv";

/// Where the app keeps a dataset's label issues: with its annotations, because they are a
/// judgement on the dataset's labels, not on one run.
pub fn label_issues_folder(annotations_folder: &Path) -> PathBuf {
    annotations_folder.join("label-issues")
}

/// A label issues file that cannot be written or read back.
#[derive(Debug, thiserror::Error)]
#[error("{}: {why}", path.display())]
pub struct LabelIssuesFileError {
    pub path: PathBuf,
    pub why: String,
}

/// Ranks `rows` and writes them, worst first, to [`LABEL_ISSUES_FILE`] in `folder` (atomically).
pub fn write_label_issues(
    folder: &Path,
    rows: &[OutOfFoldRow],
) -> Result<Vec<LabelIssueRow>, LabelIssuesFileError> {
    let ranked = rank_label_issues(rows);
    let path = folder.join(LABEL_ISSUES_FILE);
    crate::atomic_file::write_csv_atomic(&path, &ranked).map_err(|err| LabelIssuesFileError {
        path,
        why: err.to_string(),
    })?;
    Ok(ranked)
}

/// The ranked rows written earlier to `folder`, or `None` where there are none yet.
pub fn read_label_issues(folder: &Path) -> Result<Option<Vec<LabelIssueRow>>, LabelIssuesFileError> {
    let path = folder.join(LABEL_ISSUES_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let rows = crate::atomic_file::read_csv(&path).map_err(|err| LabelIssuesFileError {
        path,
        why: err.to_string(),
    })?;
    Ok(Some(rows))
}

/// A row of `label_issues.csv`, worst label first. The last three columns are what cleanlab's
/// `find_label_issues(labels, pred_probs)` reads, to cross-check these results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelIssueRow {
    pub patient: String,
    pub x: u32,
    pub y: u32,
    pub path: std::path::PathBuf,
    #[serde(with = "crate::dataset::label_index")]
    pub label: Label,
    pub prob_idc: f32,
    /// The confidence in the given label: 0 (surely wrong) to 1 (surely right).
    pub label_quality: f64,
    /// The average self-confidence of its patient's patches of its label (shrunk towards the
    /// dataset's), against which it is judged; empty in files written before it was kept.
    #[serde(default)]
    pub patient_threshold: Option<f64>,
    pub suspected: bool,
    /// Its patient is unlike the others: listed apart, never suspected.
    #[serde(default)]
    pub unlike_others: bool,
    #[serde(with = "crate::dataset::label_index")]
    pub given_label: Label,
    pub pred_probs_0: f32,
    pub pred_probs_1: f32,
}

/// Each class's threshold: the mean confidence in that class over the patches given it. A
/// class no patch carries gets 1.0, which nothing below it reaches.
pub fn class_thresholds(rows: &[OutOfFoldRow]) -> [f64; 2] {
    let mut sums = [0.0f64; 2];
    let mut counts = [0usize; 2];
    for row in rows {
        sums[row.label.index()] += row.confidence_in(row.label);
        counts[row.label.index()] += 1;
    }
    [0, 1].map(|class| {
        if counts[class] == 0 {
            1.0
        } else {
            sums[class] / counts[class] as f64
        }
    })
}

/// Each patient's class thresholds: its own average self-confidence per class, shrunk towards
/// the dataset's by [`THRESHOLD_SHRINKAGE`] patches.
pub fn patient_thresholds(rows: &[OutOfFoldRow]) -> HashMap<&str, [f64; 2]> {
    let dataset = class_thresholds(rows);
    let mut sums: HashMap<&str, ([f64; 2], [usize; 2])> = HashMap::new();
    for row in rows {
        let (sum, count) = sums.entry(row.patient.as_str()).or_default();
        sum[row.label.index()] += row.confidence_in(row.label);
        count[row.label.index()] += 1;
    }
    sums.into_iter()
        .map(|(patient, (sum, count))| {
            let thresholds = [0, 1].map(|class| {
                (sum[class] + THRESHOLD_SHRINKAGE * dataset[class])
                    / (count[class] as f64 + THRESHOLD_SHRINKAGE)
            });
            (patient, thresholds)
        })
        .collect()
}

/// Every patch ranked worst first by how far its confidence in its label falls below its
/// patient's threshold for that label (ties in dataset order), patients unlike the others
/// last, with whether confident learning suspects its label.
pub fn rank_label_issues(rows: &[OutOfFoldRow]) -> Vec<LabelIssueRow> {
    let thresholds = patient_thresholds(rows);
    let dataset = class_thresholds(rows);
    let unlike: HashSet<String> = patient_scores(rows)
        .into_iter()
        .filter(|patient| patient.unlike_others)
        .map(|patient| patient.patient)
        .collect();
    let mut ranked: Vec<(f64, LabelIssueRow)> = rows
        .iter()
        .map(|row| {
            let own = thresholds[row.patient.as_str()];
            let other = row.label.other();
            let quality = row.confidence_in(row.label);
            let unlike_others = unlike.contains(&row.patient);
            // The other class must reach the dataset's threshold too: a patient whose models
            // are unsure of everything has low thresholds of its own, which alone would suspect
            // half its patches.
            let suspected = !unlike_others
                && quality < own[row.label.index()]
                && row.confidence_in(other) >= own[other.index()].max(dataset[other.index()]);
            let issue = LabelIssueRow {
                patient: row.patient.clone(),
                x: row.x,
                y: row.y,
                path: row.path.clone(),
                label: row.label,
                prob_idc: row.prob_idc,
                label_quality: quality,
                patient_threshold: Some(own[row.label.index()]),
                suspected,
                unlike_others,
                given_label: row.label,
                pred_probs_0: 1.0 - row.prob_idc,
                pred_probs_1: row.prob_idc,
            };
            (quality - own[row.label.index()], issue)
        })
        .collect();
    ranked.sort_by(|(a_margin, a), (b_margin, b)| {
        a.unlike_others
            .cmp(&b.unlike_others)
            .then(a_margin.total_cmp(b_margin))
    });
    ranked.into_iter().map(|(_, issue)| issue).collect()
}

/// How well a ranking finds known label errors: the precision and recall of `suspected`, and
/// the precision of the worst `planted` (N = how many were planted), against the share of
/// errors in the whole, which is what random picks would score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectionScore {
    pub planted: usize,
    pub suspected: usize,
    pub suspected_precision: f64,
    pub suspected_recall: f64,
    pub worst_n_precision: f64,
    pub random_precision: f64,
}

/// Scores `ranked` against the patches whose label is known to be wrong.
pub fn score_detection(
    ranked: &[LabelIssueRow],
    is_planted: impl Fn(&LabelIssueRow) -> bool,
) -> DetectionScore {
    let planted = ranked.iter().filter(|row| is_planted(row)).count();
    let suspected: Vec<&LabelIssueRow> = ranked.iter().filter(|row| row.suspected).collect();
    let true_suspects = suspected.iter().filter(|row| is_planted(row)).count();
    let worst_hits = ranked.iter().take(planted).filter(|row| is_planted(row)).count();
    let ratio = |part: usize, whole: usize| {
        if whole == 0 {
            0.0
        } else {
            part as f64 / whole as f64
        }
    };
    DetectionScore {
        planted,
        suspected: suspected.len(),
        suspected_precision: ratio(true_suspects, suspected.len()),
        suspected_recall: ratio(true_suspects, planted),
        worst_n_precision: ratio(worst_hits, planted),
        random_precision: ratio(planted, ranked.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: usize, prob_idc: f32) -> OutOfFoldRow {
        OutOfFoldRow {
            patient: "p".into(),
            x: 0,
            y: 0,
            path: "p.png".into(),
            label: Label::from_index(label).unwrap(),
            prob_idc,
            fold: 0,
        }
    }

    #[test]
    fn thresholds_are_each_classs_average_self_confidence() {
        let rows = [row(0, 0.1), row(0, 0.3), row(1, 0.9), row(1, 0.5)];
        let [non_idc, idc] = class_thresholds(&rows);
        assert!((non_idc - 0.8).abs() < 1e-6, "{non_idc}");
        assert!((idc - 0.7).abs() < 1e-6, "{idc}");
    }

    #[test]
    fn suspects_a_label_whose_other_class_passes_its_own_threshold() {
        // Non-IDC threshold: (0.95 + 0.9 + 0.85 + 0.2) / 4 = 0.725; IDC: (0.9 + 0.8 + 0.7) / 3 = 0.8.
        let rows = [
            row(0, 0.05),
            row(0, 0.1),
            row(0, 0.15),
            row(0, 0.8), // confidence in IDC 0.8 reaches IDC's threshold: suspected
            row(1, 0.9),
            row(1, 0.8),
            row(1, 0.7), // below IDC's threshold, but non-IDC (0.3) is far from its own: kept
        ];
        let ranked = rank_label_issues(&rows);
        assert_eq!(ranked[0].prob_idc, 0.8, "the worst label comes first");
        assert!(ranked[0].suspected);
        assert_eq!(ranked.iter().filter(|row| row.suspected).count(), 1);
        let margin = |row: &LabelIssueRow| row.label_quality - row.patient_threshold.unwrap();
        assert!(ranked.windows(2).all(|pair| margin(&pair[0]) <= margin(&pair[1])));
        assert_eq!(
            (ranked[0].given_label, ranked[0].pred_probs_1),
            (Label::NonIdc, 0.8)
        );
    }

    #[test]
    fn a_patient_whose_every_patch_leans_to_idc_does_not_outrank_a_flipped_label_elsewhere() {
        let of = |patient: &str, label: usize, prob_idc: f32| OutOfFoldRow {
            patient: patient.into(),
            ..row(label, prob_idc)
        };
        let mut rows = vec![of("a", 0, 0.9)]; // the one wrong label
        for _ in 0..30 {
            rows.extend([of("a", 0, 0.05), of("b", 0, 0.92)]);
        }
        for _ in 0..10 {
            rows.extend([of("a", 1, 0.95), of("b", 1, 0.97)]);
        }
        let ranked = rank_label_issues(&rows);
        assert_eq!((ranked[0].patient.as_str(), ranked[0].prob_idc), ("a", 0.9));
        // Against the dataset's thresholds alone, patient b's 30 patches came first.
        assert!(ranked[0].label_quality > ranked[1].label_quality);
    }

    #[test]
    fn the_ranked_file_reads_back_as_written_and_a_damaged_one_is_named() {
        let folder = tempfile::tempdir().unwrap();
        assert!(read_label_issues(folder.path()).unwrap().is_none());
        let written = write_label_issues(folder.path(), &[row(0, 0.9), row(1, 0.8)]).unwrap();
        assert_eq!(read_label_issues(folder.path()).unwrap(), Some(written));
        std::fs::write(folder.path().join(LABEL_ISSUES_FILE), "patient,x\np,zero\n").unwrap();
        let err = read_label_issues(folder.path()).unwrap_err().to_string();
        assert!(err.contains(LABEL_ISSUES_FILE) && err.contains("line 2"), "{err}");
    }

    #[test]
    fn scores_detection_against_what_random_picks_would_get() {
        let rows = [row(0, 0.9), row(1, 0.2), row(0, 0.1), row(0, 0.2), row(1, 0.9)];
        let ranked = rank_label_issues(&rows);
        let planted = |row: &LabelIssueRow| row.label_quality < 0.5;
        let score = score_detection(&ranked, planted);
        assert_eq!(score.planted, 2);
        assert_eq!(score.worst_n_precision, 1.0);
        assert!((score.random_precision - 0.4).abs() < 1e-9);
    }
}
