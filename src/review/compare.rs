//! Two runs on the same test patches: which verdicts the newer run fixed and which it broke.
//! Accuracy alone can hide a trade (a few missed cancers found, as many new ones missed); the
//! changed tiles show what was traded.

use std::collections::HashMap;

use crate::dataset::Label;
use crate::training::PredictionRow;

/// A test patch whose verdict differs between two runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedVerdict {
    pub patient: String,
    pub x: u32,
    pub y: u32,
    /// P(IDC) under the run compared against, and under this run.
    pub prob_before: f32,
    pub prob_now: f32,
}

/// This run against an earlier one, on the test patches both predicted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunComparison {
    /// Test patches both runs predicted (two runs split with other seeds share only some).
    pub common: usize,
    /// Wrong before, right now; largest change of P(IDC) first.
    pub fixed: Vec<ChangedVerdict>,
    /// Right before, wrong now; largest change first.
    pub broken: Vec<ChangedVerdict>,
    /// Wrong under both.
    pub still_wrong: usize,
}

/// Compares `now` (at `now_threshold`) with `before` (at `before_threshold`). Truth is `now`'s
/// label, so a run scored against a reader's corrections is compared on those.
pub fn compare_runs(
    now: &[PredictionRow],
    now_threshold: f32,
    before: &[PredictionRow],
    before_threshold: f32,
) -> RunComparison {
    let earlier: HashMap<(&str, u32, u32), f32> = before
        .iter()
        .map(|row| ((row.patient.as_str(), row.x, row.y), row.prob_idc))
        .collect();
    let mut comparison = RunComparison::default();
    for row in now {
        let Some(&prob_before) = earlier.get(&(row.patient.as_str(), row.x, row.y)) else {
            continue;
        };
        comparison.common += 1;
        let idc = row.label == Label::Idc;
        let right_before = (prob_before >= before_threshold) == idc;
        let right_now = (row.prob_idc >= now_threshold) == idc;
        let changed = || ChangedVerdict {
            patient: row.patient.clone(),
            x: row.x,
            y: row.y,
            prob_before,
            prob_now: row.prob_idc,
        };
        match (right_before, right_now) {
            (false, true) => comparison.fixed.push(changed()),
            (true, false) => comparison.broken.push(changed()),
            (false, false) => comparison.still_wrong += 1,
            (true, true) => {}
        }
    }
    let by_change = |a: &ChangedVerdict, b: &ChangedVerdict| {
        (b.prob_now - b.prob_before)
            .abs()
            .total_cmp(&(a.prob_now - a.prob_before).abs())
    };
    comparison.fixed.sort_by(by_change);
    comparison.broken.sort_by(by_change);
    comparison
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(patient: &str, x: u32, label: usize, prob_idc: f32) -> PredictionRow {
        PredictionRow {
            path: format!("{patient}-{x}.png").into(),
            patient: patient.into(),
            x,
            y: 0,
            label: Label::from_index(label).unwrap(),
            prob_idc,
        }
    }

    #[test]
    fn fixed_and_broken_tiles_are_the_verdicts_that_changed_on_common_patches() {
        let before = [
            row("a", 0, 1, 0.2), // missed, then found: fixed
            row("a", 1, 1, 0.9), // found, then missed: broken
            row("a", 2, 0, 0.7), // false alarm, then right: fixed, a smaller change
            row("a", 3, 0, 0.6), // false alarm both times
            row("b", 0, 0, 0.1), // only in the earlier run's test part
        ];
        let now = [
            row("a", 0, 1, 0.95),
            row("a", 1, 1, 0.3),
            row("a", 2, 0, 0.4),
            row("a", 3, 0, 0.8),
            row("c", 0, 1, 0.9), // only in this run's
        ];
        let comparison = compare_runs(&now, 0.5, &before, 0.5);
        assert_eq!(comparison.common, 4);
        let places = |changed: &[ChangedVerdict]| changed.iter().map(|c| c.x).collect::<Vec<_>>();
        assert_eq!(places(&comparison.fixed), [0, 2], "largest change first");
        assert_eq!(places(&comparison.broken), [1]);
        assert_eq!(comparison.still_wrong, 1);
    }

    #[test]
    fn each_run_is_judged_at_its_own_threshold() {
        let before = [row("a", 0, 1, 0.4)];
        let now = [row("a", 0, 1, 0.4)];
        // 0.4 is a miss at 0.5 and a find at 0.3: the same probability, a fixed verdict.
        let comparison = compare_runs(&now, 0.3, &before, 0.5);
        assert_eq!(comparison.fixed.len(), 1);
        assert!(compare_runs(&now, 0.5, &before, 0.5).fixed.is_empty());
    }
}
