//! What one reader said about one patch: a judgement of its label (agree, relabel, unsure), a
//! flag and a note, with who said it, when, and what run and probability they were looking at.
//! A reader's annotations form an [`AnnotationBook`]. A relabel is recorded here only and never
//! touches the user's image files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset::Label;

/// The file a run folder held annotations in before they belonged to the dataset; read once,
/// on import.
pub const RUN_ANNOTATIONS_FILE: &str = crate::training::RunFile::OlderAnnotations.name();

pub use crate::dataset::PatchKey;

/// A reader's judgement of a patch's dataset label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Not judged yet (a flag or a note alone does not make a patch reviewed).
    #[default]
    Unreviewed,
    /// The dataset's label is right.
    Agree,
    /// The patch is not IDC, whatever the dataset says.
    #[serde(rename = "relabel_0")]
    RelabelNonIdc,
    /// The patch is IDC, whatever the dataset says.
    #[serde(rename = "relabel_1")]
    RelabelIdc,
    /// The reader cannot tell; training with reviewed labels leaves the patch out.
    Unsure,
}

/// The label a judgement gives a patch, or that it cannot be given one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Judged {
    Label(Label),
    Unsure,
}

impl ReviewState {
    pub fn relabel(label: Label) -> Self {
        match label {
            Label::NonIdc => ReviewState::RelabelNonIdc,
            Label::Idc => ReviewState::RelabelIdc,
        }
    }

    /// The name used in files and exports.
    pub fn name(self) -> &'static str {
        match self {
            ReviewState::Unreviewed => "unreviewed",
            ReviewState::Agree => "agree",
            ReviewState::RelabelNonIdc => "relabel_0",
            ReviewState::RelabelIdc => "relabel_1",
            ReviewState::Unsure => "unsure",
        }
    }

    /// What a reader reads: "agree", "relabel to non-IDC", …
    pub fn description(self) -> &'static str {
        match self {
            ReviewState::Unreviewed => "not reviewed",
            ReviewState::Agree => "agree with the label",
            ReviewState::RelabelNonIdc => "relabel to non-IDC (0)",
            ReviewState::RelabelIdc => "relabel to IDC (1)",
            ReviewState::Unsure => "unsure",
        }
    }

    pub fn is_reviewed(self) -> bool {
        self != ReviewState::Unreviewed
    }

    /// The label this judgement gives a patch whose dataset label is `dataset`; `None` when
    /// the patch is not reviewed.
    pub fn judged(self, dataset: Label) -> Option<Judged> {
        match self {
            ReviewState::Unreviewed => None,
            ReviewState::Agree => Some(Judged::Label(dataset)),
            ReviewState::RelabelNonIdc => Some(Judged::Label(Label::NonIdc)),
            ReviewState::RelabelIdc => Some(Judged::Label(Label::Idc)),
            ReviewState::Unsure => Some(Judged::Unsure),
        }
    }
}

/// What one reader said about one patch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    pub patient: String,
    pub x: u32,
    pub y: u32,
    pub path: PathBuf,
    /// The label the dataset gives the patch.
    pub label: Label,
    #[serde(default)]
    pub state: ReviewState,
    #[serde(default)]
    pub flagged: bool,
    #[serde(default)]
    pub note: String,
    pub reviewer: String,
    /// The run whose prediction the reader saw, if any.
    #[serde(default)]
    pub run: Option<String>,
    /// That run's probability of IDC. JSON has no NaN: one that is not a number is written as
    /// `null` and read back as none, so it never makes the file unreadable.
    #[serde(default, deserialize_with = "finite_or_none")]
    pub prob_idc: Option<f32>,
    /// When the reader said it: ISO 8601 in the reader's local time, with its offset.
    pub time: String,
}

/// One change a reader asks of their annotation of a patch: what a key or a button means,
/// kept as a value so that it can wait for the reader's name and be applied after.
#[derive(Debug, Clone, PartialEq)]
pub enum AnnotationChange {
    Judge(ReviewState),
    ToggleFlag,
    Note(String),
}

impl AnnotationChange {
    pub fn apply(&self, annotation: &mut Annotation) {
        match self {
            AnnotationChange::Judge(state) => annotation.state = *state,
            AnnotationChange::ToggleFlag => annotation.flagged = !annotation.flagged,
            AnnotationChange::Note(note) => annotation.note.clone_from(note),
        }
    }
}

impl Annotation {
    /// A fresh annotation of one patch by `reviewer`, saying nothing yet.
    pub fn blank(key: &PatchKey, path: PathBuf, label: Label, reviewer: &str) -> Self {
        Annotation {
            patient: key.patient.clone(),
            x: key.x,
            y: key.y,
            path,
            label,
            state: ReviewState::Unreviewed,
            flagged: false,
            note: String::new(),
            reviewer: reviewer.to_string(),
            run: None,
            prob_idc: None,
            time: local_time_now(),
        }
    }

    pub fn key(&self) -> PatchKey {
        PatchKey {
            patient: self.patient.clone(),
            x: self.x,
            y: self.y,
        }
    }

    /// True when the annotation says nothing and need not be kept.
    pub fn is_blank(&self) -> bool {
        !self.state.is_reviewed() && !self.flagged && self.note.trim().is_empty()
    }

    /// The label the reader gives the patch (`None`: not reviewed).
    pub fn judged(&self) -> Option<Judged> {
        self.state.judged(self.label)
    }

    /// True when the reader's label differs from the dataset's.
    pub fn is_relabel(&self) -> bool {
        matches!(self.judged(), Some(Judged::Label(label)) if label != self.label)
    }

    /// The same judgement said the plain way: a relabel to the dataset's own label is agreement.
    pub fn normalised(mut self) -> Self {
        if self.state == ReviewState::relabel(self.label) {
            self.state = ReviewState::Agree;
        }
        self.prob_idc = self.prob_idc.filter(|prob| prob.is_finite());
        self
    }
}

/// The current local time as ISO 8601 with its UTC offset, to the second.
pub fn local_time_now() -> String {
    chrono::Local::now().format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

fn finite_or_none<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<f32>, D::Error> {
    Ok(Option::<f32>::deserialize(deserializer)?.filter(|prob| prob.is_finite()))
}

/// One reader's annotations, in patch order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnnotationBook {
    entries: BTreeMap<PatchKey, Annotation>,
}

impl AnnotationBook {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &PatchKey) -> Option<&Annotation> {
        self.entries.get(key)
    }

    pub fn state(&self, key: &PatchKey) -> ReviewState {
        self.get(key)
            .map_or(ReviewState::Unreviewed, |annotation| annotation.state)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Annotation> {
        self.entries.values()
    }

    /// How many patches the reader has judged.
    pub fn reviewed(&self) -> usize {
        self.iter()
            .filter(|annotation| annotation.state.is_reviewed())
            .count()
    }

    /// Stores `annotation`, or forgets the patch when it says nothing.
    pub fn set(&mut self, annotation: Annotation) {
        let key = annotation.key();
        if annotation.is_blank() {
            self.entries.remove(&key);
        } else {
            self.entries.insert(key, annotation);
        }
    }
}

/// An annotation as a run folder held it before annotations belonged to the dataset.
#[derive(Debug, Clone, Deserialize)]
struct RunAnnotation {
    patient: String,
    x: u32,
    y: u32,
    path: PathBuf,
    label: Label,
    #[serde(default, deserialize_with = "finite_or_none")]
    prob_idc: Option<f32>,
    #[serde(default)]
    flagged: bool,
    #[serde(default)]
    relabel: Option<Label>,
    #[serde(default)]
    note: String,
    #[serde(default)]
    updated_unix_secs: u64,
}

#[derive(Deserialize)]
struct RunAnnotationFile {
    version: u32,
    annotations: Vec<RunAnnotation>,
}

#[derive(Debug, thiserror::Error)]
#[error("{}: {why}", path.display())]
pub struct AnnotationFileError {
    pub path: PathBuf,
    pub why: String,
}

/// Reads a run folder's `annotations.json` as annotations by `reviewer` on `run`; a missing file
/// is none. A relabel becomes a judgement; a flag or note alone stays unreviewed, as it was.
pub fn read_run_annotations(
    path: &Path,
    reviewer: &str,
    run: &str,
) -> Result<Vec<Annotation>, AnnotationFileError> {
    let fail = |why: String| AnnotationFileError {
        path: path.to_path_buf(),
        why,
    };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(fail(err.to_string())),
    };
    let file: RunAnnotationFile =
        serde_json::from_slice(&bytes).map_err(|err| fail(format!("not an annotations file: {err}")))?;
    if file.version != 1 {
        return Err(fail(format!(
            "annotations format {} is not the run format 1 this idc-studio imports",
            file.version
        )));
    }
    Ok(file
        .annotations
        .into_iter()
        .map(|old| {
            let time = chrono::DateTime::from_timestamp(old.updated_unix_secs as i64, 0)
                .map(|utc| {
                    utc.with_timezone(&chrono::Local)
                        .format("%Y-%m-%dT%H:%M:%S%:z")
                        .to_string()
                })
                .unwrap_or_else(local_time_now);
            Annotation {
                patient: old.patient,
                x: old.x,
                y: old.y,
                path: old.path,
                label: old.label,
                state: old.relabel.map_or(ReviewState::Unreviewed, ReviewState::relabel),
                flagged: old.flagged,
                note: old.note,
                reviewer: reviewer.to_string(),
                run: Some(run.to_string()),
                prob_idc: old.prob_idc,
                time,
            }
            .normalised()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PatchKey {
        PatchKey {
            patient: "10253".into(),
            x: 1001,
            y: 551,
        }
    }

    #[test]
    fn a_relabel_to_the_datasets_own_label_is_agreement() {
        let mut annotation = Annotation::blank(&key(), "p.png".into(), Label::Idc, "ana");
        annotation.state = ReviewState::RelabelIdc;
        let annotation = annotation.normalised();
        assert_eq!(annotation.state, ReviewState::Agree);
        assert_eq!(annotation.judged(), Some(Judged::Label(Label::Idc)));
        assert!(!annotation.is_relabel());
    }

    #[test]
    fn a_blank_annotation_is_forgotten_and_a_flag_alone_is_not_a_review() {
        let mut book = AnnotationBook::default();
        let mut annotation = Annotation::blank(&key(), "p.png".into(), Label::Idc, "ana");
        annotation.flagged = true;
        book.set(annotation.clone());
        assert_eq!(book.len(), 1);
        assert_eq!(book.reviewed(), 0);
        annotation.flagged = false;
        book.set(annotation);
        assert!(book.is_empty());
    }

    #[test]
    fn the_time_is_local_iso_8601_with_its_offset() {
        let time = local_time_now();
        assert!(chrono::DateTime::parse_from_rfc3339(&time).is_ok(), "{time}");
    }

    #[test]
    fn a_runs_old_annotations_import_with_their_relabels_flags_and_notes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RUN_ANNOTATIONS_FILE);
        std::fs::write(
            &path,
            r#"{"version": 1, "annotations": [
                {"patient": "10253", "x": 1001, "y": 551, "path": "a.png", "label": "Idc",
                 "prob_idc": null, "flagged": true, "relabel": "NonIdc", "note": "stroma",
                 "updated_unix_secs": 1764900000},
                {"patient": "10253", "x": 51, "y": 1, "path": "b.png", "label": "NonIdc",
                 "prob_idc": 0.4, "flagged": true, "relabel": null, "note": ""}]}"#,
        )
        .unwrap();
        let imported = read_run_annotations(&path, "ana", "run-1").unwrap();
        assert_eq!(imported.len(), 2);
        assert_eq!(imported[0].state, ReviewState::RelabelNonIdc);
        assert_eq!(imported[0].note, "stroma");
        assert_eq!(imported[0].prob_idc, None);
        assert_eq!(imported[0].run.as_deref(), Some("run-1"));
        assert!(imported[0].time.starts_with("2025-12-0"), "{}", imported[0].time);
        assert_eq!(imported[1].state, ReviewState::Unreviewed);
        assert!(imported[1].flagged);
        assert!(
            read_run_annotations(&dir.path().join("none.json"), "ana", "r")
                .unwrap()
                .is_empty()
        );
        std::fs::write(&path, b"{\"version\": 1, \"annot").unwrap();
        let err = read_run_annotations(&path, "ana", "r").unwrap_err().to_string();
        assert!(
            err.contains(RUN_ANNOTATIONS_FILE) && err.contains("not an annotations file"),
            "{err}"
        );
    }
}
