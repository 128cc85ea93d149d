//! Which labels a training run uses: the dataset's own, or the ones its readers gave
//! (`reviewed`: all readers' consensus; `reviewed:NAME`: one reader's), and the corrections that
//! turn one into the other.

use serde::{Deserialize, Serialize};

use super::Label;

/// Where a run's labels come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LabelSource {
    /// As the dataset's folders say.
    #[default]
    Dataset,
    /// As reviewed: relabels apply and patches judged unsure are left out. `None`: the
    /// consensus of all readers (a patch on which readers differ counts as unsure).
    Reviewed { reader: Option<String> },
}

impl std::fmt::Display for LabelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LabelSource::Dataset => f.write_str("dataset"),
            LabelSource::Reviewed { reader: None } => f.write_str("reviewed"),
            LabelSource::Reviewed { reader: Some(reader) } => write!(f, "reviewed:{reader}"),
        }
    }
}

impl std::str::FromStr for LabelSource {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once(':') {
            None if text == "dataset" => Ok(LabelSource::Dataset),
            None if text == "reviewed" => Ok(LabelSource::Reviewed { reader: None }),
            Some(("reviewed", reader)) if !reader.trim().is_empty() => Ok(LabelSource::Reviewed {
                reader: Some(reader.trim().to_string()),
            }),
            _ => Err(format!(
                "labels {text:?}: say dataset, reviewed (all readers' consensus) or reviewed:READER"
            )),
        }
    }
}

impl Serialize for LabelSource {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LabelSource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A reviewer's correction of one patch, by its identity on the slide: a new label, or none
/// (left out of training: the reader could not tell).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelOverride {
    pub patient: String,
    pub x: u32,
    pub y: u32,
    pub label: Option<Label>,
}

/// What a set of overrides changed in a store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelChanges {
    /// Patches that took another label.
    pub relabelled: usize,
    /// Patches left out.
    pub left_out: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sources_read_as_they_are_written() {
        for text in ["dataset", "reviewed", "reviewed:Dr Ana"] {
            let source: LabelSource = text.parse().unwrap();
            assert_eq!(source.to_string(), text);
            let json = serde_json::to_string(&source).unwrap();
            assert_eq!(serde_json::from_str::<LabelSource>(&json).unwrap(), source);
        }
        assert!("reviewed:".parse::<LabelSource>().is_err());
        assert!(
            "mine"
                .parse::<LabelSource>()
                .unwrap_err()
                .contains("reviewed:READER")
        );
    }
}
