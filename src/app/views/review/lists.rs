//! Review lists: tiles shown in place of a confusion cell's, with the same grid, keys and
//! annotations: patches alike, suspected label errors, and the verdicts two runs disagree on.

use std::collections::HashMap;

use crate::app::background::alike::AlikeList;

/// Where a review list's tiles come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ListKind {
    /// The patches most like one, by the open run's model.
    Alike(AlikeList),
    /// The patches whose given label the cross-validated models doubt, worst first.
    SuspectedLabels,
    /// A patient on whom the cross-validated models fail as a whole, its patches worst label
    /// first.
    UnlikePatient { patient: String, accuracy: f64 },
    /// Test verdicts the open run got right and the run `against` got wrong.
    Fixed { against: String },
    /// Test verdicts the open run got wrong and the run `against` got right.
    Broken { against: String },
    /// Tiles chosen elsewhere: on the map, or among duplicates.
    Chosen { heading: String },
}

/// Tiles to review, in order, with what the list knows of each.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewList {
    pub kind: ListKind,
    /// Store indices, in the order shown.
    pub tiles: Vec<usize>,
    /// The P(IDC) a tile shows where it is not the open run's (the fold model's, for label
    /// suspects).
    pub probabilities: HashMap<usize, f32>,
    /// A line about each tile, shown above its annotation panel: why it is on the list.
    pub reasons: HashMap<usize, String>,
}

impl ReviewList {
    pub fn new(kind: ListKind, tiles: Vec<usize>) -> Self {
        Self {
            kind,
            tiles,
            probabilities: HashMap::new(),
            reasons: HashMap::new(),
        }
    }

    /// The heading above the tiles.
    pub fn title(&self, describe_patch: impl Fn(usize) -> String) -> String {
        let count = self.tiles.len();
        match &self.kind {
            ListKind::Alike(list) => format!(
                "More like {}: the {count} most alike in the dataset, by the run's model",
                describe_patch(list.of)
            ),
            ListKind::SuspectedLabels => format!(
                "Suspected label errors: {count} patches whose label the cross-validated models doubt, worst first"
            ),
            ListKind::UnlikePatient { patient, accuracy } => format!(
                "Patient {patient}, unlike the others: out-of-fold accuracy {accuracy:.3}; its {count} patches, \
                 the labels the models doubt most first"
            ),
            ListKind::Fixed { against } => {
                format!("Fixed since {against}: {count} test verdicts wrong there and right here")
            }
            ListKind::Broken { against } => {
                format!("Broken since {against}: {count} test verdicts right there and wrong here")
            }
            ListKind::Chosen { heading } => format!("{heading}: {count} patches"),
        }
    }

    /// The tile to stand on when the list closes: the one a search started from.
    pub fn started_from(&self) -> Option<usize> {
        match &self.kind {
            ListKind::Alike(list) => Some(list.of),
            _ => None,
        }
    }
}
