//! The IDC dataset: its folder layout and file names, decoding patches into a compact
//! in-memory store, slides rebuilt from patch coordinates, the synthetic demo dataset, and
//! train/validation/test splits.
//!
//! Nothing here knows about burn or the UI.

pub mod annotations_folder;
pub mod corrections;
pub mod decode;
pub mod demo;
pub mod filename;
pub mod label_noise;
pub mod opened;
pub mod scan;
pub mod slide;
pub mod split;
pub mod stain;
pub mod store;

pub use corrections::{LabelChanges, LabelOverride, LabelSource};
pub use filename::{PatchName, PatchNameError, parse_patch_name};
pub use opened::Dataset;
pub use scan::{ScanReport, SkipReason, SkippedFile, scan_dataset};
pub use slide::{SlideImage, SlideLayout};
pub use split::{Split, SplitKind, SplitPart};
pub use store::{Patch, PatchStore};

/// Side of a full patch in pixels, as cut from the slide.
pub const PATCH_SIDE: usize = 50;
/// Bytes of one patch in the store: RGB, u8, row-major.
pub const PATCH_BYTES: usize = PATCH_SIDE * PATCH_SIDE * 3;
/// The Kaggle archive holds a second copy of every patient under this folder name.
pub const NESTED_COPY_FOLDER: &str = "IDC_regular_ps50_idx5";
/// A file the demo generator writes at the root, so the data is never mistaken for real tissue.
pub const SYNTHETIC_MARKER_FILE: &str = "SYNTHETIC_DEMO_DATA.txt";

/// A patch's identity on its slide: stable across scans and runs, what annotations and run
/// files name a patch by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct PatchKey {
    pub patient: String,
    pub x: u32,
    pub y: u32,
}

/// The class of a patch: invasive ductal carcinoma or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Label {
    /// Class 0: no IDC.
    NonIdc = 0,
    /// Class 1: IDC.
    Idc = 1,
}

/// A label in a file as its class index, 0 or 1: `#[serde(with = "label_index")]`. Anything
/// else is an error that the CSV reader reports with its row, never a number to index with.
pub mod label_index {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Label;

    pub fn serialize<S: Serializer>(label: &Label, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(label.index() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Label, D::Error> {
        let index = i64::deserialize(deserializer)?;
        usize::try_from(index)
            .ok()
            .and_then(Label::from_index)
            .ok_or_else(|| D::Error::custom(format!("label {index} is not 0 or 1")))
    }
}

impl Label {
    pub const ALL: [Label; 2] = [Label::NonIdc, Label::Idc];

    /// The class index used in folder names, file names and the model's outputs.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_index(index: usize) -> Option<Label> {
        match index {
            0 => Some(Label::NonIdc),
            1 => Some(Label::Idc),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Label::NonIdc => "non-IDC",
            Label::Idc => "IDC",
        }
    }
    /// The other class.
    pub fn other(self) -> Label {
        match self {
            Label::NonIdc => Label::Idc,
            Label::Idc => Label::NonIdc,
        }
    }
}
