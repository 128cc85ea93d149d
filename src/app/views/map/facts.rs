//! What the map knows of each patch for its colours: gathered from the dataset, the run, the
//! reader's marks, the readers' books and the label-issue search, once a colouring changes.

use std::collections::HashMap;

use super::colouring::PointFacts;
use crate::app::background::dataset_map::MapOfRun;
use crate::app::state::workspace::Workspace;
use crate::dataset::Dataset;
use crate::review::annotations::ReviewState;
use crate::review::label_issues::LabelIssueRow;

/// Each patch's facts, in store order.
pub fn gather(
    ws: &Workspace,
    dataset: &Dataset,
    made: &MapOfRun,
    label_issues: Option<&[LabelIssueRow]>,
) -> Vec<PointFacts> {
    let run = ws.run.as_ref();
    let threshold = run.map_or(0.5, |run| run.threshold());
    let doubts = label_doubts(dataset, label_issues);
    let disagreements = readers_disagree(ws, dataset);
    let marks = ws.marks_snapshot();
    (0..dataset.store.len())
        .map(|index| {
            let patch = dataset.store.patch(index);
            PointFacts {
                label: patch.label,
                prob_idc: made.map.prob_idc[index],
                part: made.parts[index],
                cell: run.and_then(|run| run.cell_of(index, threshold)),
                patient: patch.patient,
                judgement: marks
                    .get(&index)
                    .map_or(ReviewState::Unreviewed, |mark| mark.state),
                label_doubt: doubts.get(&index).copied(),
                readers_disagree: disagreements.get(&index).copied(),
            }
        })
        .collect()
}

/// 1 - label quality of every patch the label-issue search ranked.
fn label_doubts(dataset: &Dataset, rows: Option<&[LabelIssueRow]>) -> HashMap<usize, f32> {
    rows.unwrap_or_default()
        .iter()
        .filter_map(|row| {
            let index = dataset.find(&row.patient, row.x, row.y)?;
            Some((index, (1.0 - row.label_quality) as f32))
        })
        .collect()
}

/// For each patch judged by two readers or more, whether their judgements differ.
fn readers_disagree(ws: &Workspace, dataset: &Dataset) -> HashMap<usize, bool> {
    let Some(reviews) = &ws.annotating.reviews else {
        return HashMap::new();
    };
    let mut judged: HashMap<usize, Vec<ReviewState>> = HashMap::new();
    for reader in reviews.readers() {
        for annotation in reviews.book(reader).iter() {
            if annotation.state == ReviewState::Unreviewed {
                continue;
            }
            if let Some(index) = dataset.find(&annotation.patient, annotation.x, annotation.y) {
                judged.entry(index).or_default().push(annotation.state);
            }
        }
    }
    judged
        .into_iter()
        .filter(|(_, states)| states.len() > 1)
        .map(|(index, states)| (index, states.iter().any(|state| *state != states[0])))
        .collect()
}
