//! The corrected-labels export, one row per reader's annotation, as CSV or JSON: what a script,
//! a spreadsheet or another tool reads.

use serde::Serialize;

use super::annotations::{Annotation, Judged};
use super::reviews::Reviews;

/// The export's file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
}

impl ExportFormat {
    /// JSON for a `.json` file, CSV otherwise.
    pub fn for_path(path: &std::path::Path) -> ExportFormat {
        if path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"))
        {
            ExportFormat::Json
        } else {
            ExportFormat::Csv
        }
    }
}

/// One row: the dataset's label, the reader's (empty when unsure or not judged), and the rest.
#[derive(Debug, Serialize)]
pub struct ExportRow<'a> {
    pub patient: &'a str,
    pub x: u32,
    pub y: u32,
    pub path: String,
    pub dataset_label: usize,
    pub reviewed_label: Option<usize>,
    pub state: &'static str,
    pub flagged: bool,
    pub reviewer: &'a str,
    pub run: Option<&'a str>,
    pub prob_idc: Option<f32>,
    pub note: &'a str,
    pub time: &'a str,
}

impl<'a> ExportRow<'a> {
    fn of(annotation: &'a Annotation) -> Self {
        ExportRow {
            patient: &annotation.patient,
            x: annotation.x,
            y: annotation.y,
            path: annotation.path.display().to_string(),
            dataset_label: annotation.label.index(),
            reviewed_label: match annotation.judged() {
                Some(Judged::Label(label)) => Some(label.index()),
                _ => None,
            },
            state: annotation.state.name(),
            flagged: annotation.flagged,
            reviewer: &annotation.reviewer,
            run: annotation.run.as_deref(),
            prob_idc: annotation.prob_idc,
            note: &annotation.note,
            time: &annotation.time,
        }
    }
}

/// The rows of `reader`'s annotations, or of every reader's, in reader then patch order.
pub fn export_rows<'a>(reviews: &'a Reviews, reader: Option<&'a str>) -> Vec<ExportRow<'a>> {
    reviews
        .readers()
        .filter(|name| reader.is_none_or(|wanted| wanted == *name))
        .flat_map(|name| reviews.book(name).iter())
        .map(ExportRow::of)
        .collect()
}

/// The export's bytes in `format`.
pub fn export_bytes(rows: &[ExportRow<'_>], format: ExportFormat) -> Vec<u8> {
    match format {
        // Serialising plain data into memory cannot fail.
        ExportFormat::Json => serde_json::to_vec_pretty(rows).unwrap_or_default(),
        ExportFormat::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::new());
            for row in rows {
                let _ = writer.serialize(row);
            }
            if rows.is_empty() {
                let _ = writer.write_record(HEADER);
            }
            writer.into_inner().unwrap_or_default()
        }
    }
}

/// The CSV's columns, as the rows write them.
pub const HEADER: [&str; 13] = [
    "patient",
    "x",
    "y",
    "path",
    "dataset_label",
    "reviewed_label",
    "state",
    "flagged",
    "reviewer",
    "run",
    "prob_idc",
    "note",
    "time",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Label;
    use crate::review::{PatchKey, ReviewState};

    #[test]
    fn the_csv_has_the_corrected_labels_and_who_gave_them() {
        let dir = tempfile::tempdir().unwrap();
        let (mut reviews, _) = Reviews::open(dir.path()).unwrap();
        let key = PatchKey {
            patient: "10253".into(),
            x: 1001,
            y: 551,
        };
        let mut annotation = Annotation::blank(&key, "/d/a.png".into(), Label::Idc, "ana");
        annotation.state = ReviewState::RelabelNonIdc;
        annotation.note = "stroma, \"not\" IDC".into();
        annotation.run = Some("run-1".into());
        annotation.prob_idc = Some(0.125);
        annotation.time = "2026-12-05T09:00:00+01:00".into();
        reviews.record(annotation).unwrap();

        let csv = String::from_utf8(export_bytes(&export_rows(&reviews, None), ExportFormat::Csv)).unwrap();
        let mut lines = csv.lines();
        assert_eq!(lines.next().unwrap(), HEADER.join(","));
        assert_eq!(
            lines.next().unwrap(),
            "10253,1001,551,/d/a.png,1,0,relabel_0,false,ana,run-1,0.125,\"stroma, \"\"not\"\" IDC\",2026-12-05T09:00:00+01:00"
        );
        let empty = String::from_utf8(export_bytes(
            &export_rows(&reviews, Some("bo")),
            ExportFormat::Csv,
        ))
        .unwrap();
        assert_eq!(empty.trim(), HEADER.join(","));
        let json: serde_json::Value =
            serde_json::from_slice(&export_bytes(&export_rows(&reviews, None), ExportFormat::Json)).unwrap();
        assert_eq!(json[0]["reviewed_label"], 0);
        assert_eq!(json[0]["reviewer"], "ana");
    }
}
