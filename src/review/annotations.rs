//! A reviewer's annotations on test patches: a flag, a corrected label, a note. They live in the
//! run folder as `annotations.json` and export to CSV; a relabel is recorded here only and never
//! touches the user's image files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset::Label;

/// The file in a run folder that holds its annotations.
pub const ANNOTATIONS_FILE: &str = "annotations.json";
/// Where "Export CSV" writes, beside it.
pub const ANNOTATIONS_CSV: &str = "annotations.csv";
const FORMAT_VERSION: u32 = 1;

/// A patch's identity on its slide: stable across scans and runs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PatchKey {
    pub patient: String,
    pub x: u32,
    pub y: u32,
}

/// What the reviewer said about one patch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    pub patient: String,
    pub x: u32,
    pub y: u32,
    pub path: PathBuf,
    /// The label the dataset gives the patch.
    pub label: Label,
    /// The run's probability of IDC for the patch. JSON has no NaN: a probability that is not a
    /// number is written as `null` and read back as NaN, so it never makes the file unreadable.
    #[serde(deserialize_with = "number_or_nan")]
    pub prob_idc: f32,
    #[serde(default)]
    pub flagged: bool,
    /// The label the reviewer believes is right, when it differs from the dataset's.
    #[serde(default)]
    pub relabel: Option<Label>,
    #[serde(default)]
    pub note: String,
    /// Seconds since 1970 of the last change.
    #[serde(default)]
    pub updated_unix_secs: u64,
}

impl Annotation {
    pub fn key(&self) -> PatchKey {
        PatchKey {
            patient: self.patient.clone(),
            x: self.x,
            y: self.y,
        }
    }

    /// True when the annotation says nothing and need not be kept.
    pub fn is_blank(&self) -> bool {
        !self.flagged && self.relabel.is_none() && self.note.trim().is_empty()
    }
}

fn number_or_nan<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f32, D::Error> {
    Ok(Option::<f32>::deserialize(deserializer)?.unwrap_or(f32::NAN))
}

#[derive(Debug, thiserror::Error)]
#[error("{}: {why}", path.display())]
pub struct AnnotationFileError {
    pub path: PathBuf,
    pub why: String,
}

#[derive(Serialize, Deserialize)]
struct AnnotationFile {
    version: u32,
    annotations: Vec<Annotation>,
}

/// One CSV row of the export.
#[derive(Serialize)]
struct ExportRow<'a> {
    patient: &'a str,
    x: u32,
    y: u32,
    path: String,
    label: usize,
    prob_idc: f32,
    flagged: bool,
    relabel: Option<usize>,
    note: &'a str,
    updated_unix_secs: u64,
}

/// All annotations of a run, in patch order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnnotationBook {
    entries: BTreeMap<PatchKey, Annotation>,
}

impl AnnotationBook {
    /// Reads `path`; a missing file is an empty book.
    pub fn load(path: &Path) -> Result<Self, AnnotationFileError> {
        let fail = |why: String| AnnotationFileError {
            path: path.to_path_buf(),
            why,
        };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(err) => return Err(fail(err.to_string())),
        };
        let file: AnnotationFile =
            serde_json::from_slice(&bytes).map_err(|err| fail(format!("not an annotations file: {err}")))?;
        if file.version > FORMAT_VERSION {
            return Err(fail(format!(
                "written by a newer idc-studio (format {}, this one reads {FORMAT_VERSION})",
                file.version
            )));
        }
        Ok(Self {
            entries: file
                .annotations
                .into_iter()
                .map(|annotation| (annotation.key(), annotation))
                .collect(),
        })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &PatchKey) -> Option<&Annotation> {
        self.entries.get(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Annotation> {
        self.entries.values()
    }

    /// Stores `annotation` (stamped with the time), or forgets the patch when it is blank.
    pub fn set(&mut self, mut annotation: Annotation) {
        let key = annotation.key();
        if annotation.is_blank() {
            self.entries.remove(&key);
        } else {
            annotation.updated_unix_secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_secs());
            self.entries.insert(key, annotation);
        }
    }

    /// The file's bytes, for an atomic write.
    pub fn to_json(&self) -> Vec<u8> {
        let file = AnnotationFile {
            version: FORMAT_VERSION,
            annotations: self.entries.values().cloned().collect(),
        };
        // Serialising plain data into memory cannot fail.
        serde_json::to_vec_pretty(&file).unwrap_or_default()
    }

    /// The export: one row per annotated patch, labels as class indices.
    pub fn to_csv(&self) -> Vec<u8> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        for annotation in self.entries.values() {
            // Writing into memory cannot fail.
            let _ = writer.serialize(ExportRow {
                patient: &annotation.patient,
                x: annotation.x,
                y: annotation.y,
                path: annotation.path.display().to_string(),
                label: annotation.label.index(),
                prob_idc: annotation.prob_idc,
                flagged: annotation.flagged,
                relabel: annotation.relabel.map(Label::index),
                note: &annotation.note,
                updated_unix_secs: annotation.updated_unix_secs,
            });
        }
        writer.into_inner().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotation(note: &str) -> Annotation {
        Annotation {
            patient: "10253".into(),
            x: 1001,
            y: 551,
            path: "/data/10253/1/10253_idx5_x1001_y551_class1.png".into(),
            label: Label::Idc,
            prob_idc: 0.12,
            flagged: true,
            relabel: Some(Label::NonIdc),
            note: note.into(),
            updated_unix_secs: 0,
        }
    }

    #[test]
    fn annotations_survive_a_round_trip_and_export_to_csv() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ANNOTATIONS_FILE);
        let mut book = AnnotationBook::default();
        book.set(annotation("stroma, \"not\" IDC"));
        std::fs::write(&path, book.to_json()).unwrap();
        let loaded = AnnotationBook::load(&path).unwrap();
        assert_eq!(loaded, book);

        let csv = String::from_utf8(book.to_csv()).unwrap();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next().unwrap(),
            "patient,x,y,path,label,prob_idc,flagged,relabel,note,updated_unix_secs"
        );
        let row = lines.next().unwrap();
        assert!(
            row.starts_with("10253,1001,551,/data/10253/1/10253_idx5_x1001_y551_class1.png,1,0.12,true,0,")
        );
        assert!(row.contains("\"stroma, \"\"not\"\" IDC\""), "{row}");
    }

    #[test]
    fn a_blank_annotation_is_forgotten() {
        let mut book = AnnotationBook::default();
        book.set(annotation("x"));
        let mut cleared = annotation("  ");
        cleared.flagged = false;
        cleared.relabel = None;
        book.set(cleared);
        assert!(book.is_empty());
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ANNOTATIONS_FILE);
        std::fs::write(&path, b"{\"version\": 1, \"annot").unwrap();
        let err = AnnotationBook::load(&path).unwrap_err().to_string();
        assert!(
            err.contains(ANNOTATIONS_FILE) && err.contains("not an annotations file"),
            "{err}"
        );
        assert!(
            AnnotationBook::load(&dir.path().join("none.json"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_probability_that_is_not_a_number_never_makes_the_file_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ANNOTATIONS_FILE);
        let mut book = AnnotationBook::default();
        let mut damaged = annotation("scored by a damaged model");
        damaged.prob_idc = f32::NAN;
        book.set(damaged);
        std::fs::write(&path, book.to_json()).unwrap();
        let loaded = AnnotationBook::load(&path).unwrap();
        let only = loaded.iter().next().unwrap();
        assert!(only.prob_idc.is_nan());
        assert_eq!(only.note, "scored by a damaged model");
    }
}
