//! The labels readers gave, as corrections a training run applies: one reader's judgements, or
//! the consensus of all readers.

use std::collections::BTreeMap;

use super::annotations::{Judged, PatchKey};
use super::reviews::Reviews;
use crate::dataset::LabelOverride;

/// The corrections of `reader`'s judgements, or with `None` of the consensus: a patch takes the
/// label every reader who judged it gave; where readers differ, or one is unsure, it is left out.
/// Patches nobody judged are not listed (they keep the dataset's label).
pub fn reviewed_corrections(reviews: &Reviews, reader: Option<&str>) -> Vec<LabelOverride> {
    let mut judged: BTreeMap<PatchKey, Judged> = BTreeMap::new();
    let readers: Vec<&str> = match reader {
        Some(reader) => vec![reader],
        None => reviews.readers().collect(),
    };
    for reader in readers {
        for annotation in reviews.book(reader).iter() {
            let Some(verdict) = annotation.judged() else {
                continue;
            };
            judged
                .entry(annotation.key())
                .and_modify(|agreed| {
                    if *agreed != verdict {
                        *agreed = Judged::Unsure;
                    }
                })
                .or_insert(verdict);
        }
    }
    judged
        .into_iter()
        .map(|(key, verdict)| LabelOverride {
            patient: key.patient,
            x: key.x,
            y: key.y,
            label: match verdict {
                Judged::Label(label) => Some(label),
                Judged::Unsure => None,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Label;
    use crate::review::{Annotation, ReviewState};

    #[test]
    fn the_consensus_takes_agreed_labels_and_leaves_out_disputed_and_unsure_patches() {
        let dir = tempfile::tempdir().unwrap();
        let (mut reviews, _) = Reviews::open(dir.path()).unwrap();
        let mut judge = |reader: &str, x: u32, state: ReviewState| {
            let key = PatchKey {
                patient: "1".into(),
                x,
                y: 0,
            };
            let mut annotation = Annotation::blank(&key, "p.png".into(), Label::Idc, reader);
            annotation.state = state;
            reviews.record(annotation).unwrap();
        };
        judge("ana", 0, ReviewState::RelabelNonIdc);
        judge("bo", 0, ReviewState::RelabelNonIdc);
        judge("ana", 1, ReviewState::Agree);
        judge("bo", 1, ReviewState::RelabelNonIdc);
        judge("ana", 2, ReviewState::Unsure);
        judge("bo", 3, ReviewState::Agree);
        let labels = |corrections: Vec<LabelOverride>| -> Vec<(u32, Option<Label>)> {
            corrections.into_iter().map(|c| (c.x, c.label)).collect()
        };
        assert_eq!(
            labels(reviewed_corrections(&reviews, None)),
            [
                (0, Some(Label::NonIdc)),
                (1, None),
                (2, None),
                (3, Some(Label::Idc))
            ]
        );
        assert_eq!(
            labels(reviewed_corrections(&reviews, Some("ana"))),
            [(0, Some(Label::NonIdc)), (1, Some(Label::Idc)), (2, None)]
        );
    }
}
