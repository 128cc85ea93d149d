//! Review's toolbar: the run, its threshold (saved with it), the missed cancers, the filter,
//! the labels it is scored against, and the annotations export.

use std::path::PathBuf;

use super::{ReviewFilter, ReviewView};
use crate::app::background::task::{Finished, Task, take_finished};
use crate::app::shortcuts::Action;
use crate::app::state::workspace::{Command, Workspace};
use crate::app::widgets::tile_grid::IDC_COLOUR;
use crate::dataset::LabelSource;
use crate::review::export::{ExportFormat, export_bytes, export_rows};
use crate::review::{Cell, reviewed_corrections};
use crate::training::SavedThreshold;

impl ReviewView {
    pub(super) fn toolbar_ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace) {
        let Some(run) = &ws.run else {
            return;
        };
        let name = run.name();
        let imported = run.info.imported.clone();
        let mut rescore = None;
        let mut save_threshold = None;
        ui.horizontal_wrapped(|ui| {
            ui.strong(format!("Run {name}"));
            if let Some(imported) = &imported {
                ui.label(egui::RichText::new(crate::training::RunInfo::IMPORTED).italics())
                    .on_hover_text(format!(
                        "Predictions imported from {}: there is no model to predict other patches with",
                        imported.predictions.display()
                    ));
            }
            ui.separator();
            save_threshold = self.threshold_ui(ui, ws);
            ui.separator();
            self.shown_tiles_ui(ui, ws);
            ui.separator();
            rescore = scored_against_ui(ui, ws);
            ui.separator();
            self.export_button_ui(ui, ws);
            if ui
                .button("Keys (?)")
                .on_hover_text(Action::ShowShortcuts.tooltip())
                .clicked()
            {
                ws.send(Command::ToggleShortcuts);
            }
        });
        if let Some(labels) = rescore {
            self.score_against(ws, labels);
        }
        if let Some(threshold) = save_threshold {
            save_threshold_with_run(ws, threshold);
        }
        // Reviewed labels follow the readers as they annotate.
        if let Some(run) = &ws.run
            && matches!(run.scored_by, LabelSource::Reviewed { .. })
            && ws.annotating.reviews.as_ref().map(|reviews| reviews.revision())
                != self.readers.scored_revision
        {
            let labels = run.scored_by.clone();
            self.score_against(ws, labels);
        }
    }

    /// The threshold's slider and where it stands against the one saved with the run; the
    /// threshold to save once the reader lets go of a new one.
    fn threshold_ui(&mut self, ui: &mut egui::Ui, ws: &Workspace) -> Option<f32> {
        let saved_threshold = ws.run.as_ref().and_then(|run| run.saved_threshold.clone());
        let mut save_threshold = None;
        let slider = ui.add(
            egui::Slider::new(&mut self.threshold, 0.0..=1.0)
                .step_by(0.005)
                .fixed_decimals(3)
                .text("Threshold"),
        );
        let mut settled = slider.drag_stopped() || (slider.changed() && !slider.dragged());
        if ui
            .small_button("0.5")
            .on_hover_text("Back to the default threshold")
            .clicked()
        {
            self.threshold = 0.5;
            settled = true;
        }
        let saved = saved_threshold.as_ref().map(|saved| saved.threshold);
        if settled && saved.unwrap_or(0.5) != self.threshold {
            save_threshold = Some(self.threshold);
        }
        ui.label(match &saved_threshold {
            Some(saved) if saved.threshold == self.threshold => "saved with the run".to_string(),
            Some(saved) => format!("saved with the run: {:.3}", saved.threshold),
            None if self.threshold == 0.5 => "the default".to_string(),
            None => "not saved".to_string(),
        })
        .on_hover_text("The threshold you settle on is saved with the run; eval and predict use it");
        save_threshold
    }

    /// Which tiles show: the missed cancers at a click, the filter, the next unreviewed tile,
    /// and whether a judgement moves on.
    fn shown_tiles_ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace) {
        let missed = ws
            .run
            .as_ref()
            .map_or(0, |run| run.review.matrix(self.threshold).fn_);
        let missed_button = egui::Button::new(
            egui::RichText::new(format!("Missed cancer: {missed} false negatives")).color(IDC_COLOUR),
        );
        if ui.add(missed_button).clicked() {
            self.select_cell(Cell::FalseNegative);
        }
        ui.separator();
        let label = ui.label("Show");
        egui::ComboBox::from_id_salt("review-filter")
            .selected_text(self.filter.name())
            .show_ui(ui, |ui| {
                for filter in ReviewFilter::ALL {
                    ui.selectable_value(&mut self.filter, filter, filter.name());
                }
            })
            .response
            .labelled_by(label.id);
        if ui
            .button("Next unreviewed")
            .on_hover_text(Action::NextUnreviewed.tooltip())
            .clicked()
        {
            self.act(Action::NextUnreviewed, ws);
        }
        ui.checkbox(&mut ws.settings.advance_after_judging, "advance after judging")
            .on_hover_text("After agree, relabel or unsure, go to the next unreviewed patch");
    }

    fn export_button_ui(&mut self, ui: &mut egui::Ui, ws: &Workspace) {
        if ui
            .add_enabled(
                self.export_dialog.is_none(),
                egui::Button::new("Export annotations…"),
            )
            .on_hover_text("Every reader's annotations with the corrected labels, as CSV or JSON (.json)")
            .clicked()
        {
            let folder = ws
                .annotating
                .reviews
                .as_ref()
                .map(|reviews| reviews.folder().to_path_buf())
                .unwrap_or_default();
            self.export_dialog = Some(Task::spawn("idc-save-dialog", ui.ctx(), move || {
                rfd::FileDialog::new()
                    .set_title("Export annotations")
                    .set_directory(folder)
                    .set_file_name(crate::training::RunFile::ExportedAnnotations.name())
                    .add_filter("CSV", &["csv"])
                    .add_filter("JSON", &["json"])
                    .save_file()
            }));
        }
    }

    /// Scores the open run against `labels`.
    pub fn score_against(&mut self, ws: &mut Workspace, labels: LabelSource) {
        let (Some(dataset), Some(run)) = (ws.dataset.clone(), ws.run.as_mut()) else {
            return;
        };
        let corrections = match (&labels, &ws.annotating.reviews) {
            (LabelSource::Reviewed { reader }, Some(reviews)) => {
                self.readers.scored_revision = Some(reviews.revision());
                reviewed_corrections(reviews, reader.as_deref())
            }
            _ => Vec::new(),
        };
        run.rescore(&dataset, labels, &corrections);
        self.selection = None;
    }

    /// Writes the export the save dialog chose.
    pub(super) fn take_export_choice(&mut self, ws: &mut Workspace) {
        match take_finished(&mut self.export_dialog) {
            Finished::NotYet | Finished::Done(None) => {}
            Finished::Done(Some(path)) => export_to(ws, path),
            Finished::Failed(why) => ws.error(format!("the save dialog could not be shown: {why}")),
        }
    }
}

/// How the labels a run is scored against are named on screen.
/// The labels the run is scored against: the dataset's, the readers' consensus or one
/// reader's; the choice the reader made, if any.
fn scored_against_ui(ui: &mut egui::Ui, ws: &Workspace) -> Option<LabelSource> {
    let mut rescore = None;
    let scored_by = ws
        .run
        .as_ref()
        .map(|run| run.scored_by.clone())
        .unwrap_or_default();
    let label = ui.label("Scored against");
    egui::ComboBox::from_id_salt("scored-against")
        .selected_text(labels_name(&scored_by))
        .show_ui(ui, |ui| {
            let mut choices = vec![LabelSource::Dataset, LabelSource::Reviewed { reader: None }];
            if let Some(reviews) = &ws.annotating.reviews {
                choices.extend(reviews.readers().map(|reader| LabelSource::Reviewed {
                    reader: Some(reader.to_string()),
                }));
            }
            for choice in choices {
                let chosen = choice == scored_by;
                if ui.selectable_label(chosen, labels_name(&choice)).clicked() && !chosen {
                    rescore = Some(choice);
                }
            }
        })
        .response
        .labelled_by(label.id);
    rescore
}

pub(super) fn labels_name(labels: &LabelSource) -> String {
    match labels {
        LabelSource::Dataset => "the dataset's labels".into(),
        LabelSource::Reviewed { reader: None } => "reviewed labels (all readers' consensus)".into(),
        LabelSource::Reviewed { reader: Some(reader) } => format!("{reader}'s reviewed labels"),
    }
}

/// Saves `threshold` with the open run (through the file writer, atomically), for Review to
/// open at and `eval` and `predict` to use.
pub(super) fn save_threshold_with_run(ws: &mut Workspace, threshold: f32) {
    let reader = ws.settings.reader.clone();
    let Some(run) = ws.run.as_mut() else {
        return;
    };
    let saved = SavedThreshold::now(threshold, reader);
    let mut text = serde_json::to_string_pretty(&saved).expect("a threshold serialises");
    text.push('\n');
    ws.saver.save(run.folder.threshold_path(), text.into_bytes());
    run.saved_threshold = Some(saved);
}

/// Writes every reader's annotations to `path`, CSV or JSON by its extension.
fn export_to(ws: &mut Workspace, path: PathBuf) {
    let Some(reviews) = &ws.annotating.reviews else {
        ws.error("open a dataset before exporting its annotations");
        return;
    };
    let rows = export_rows(reviews, None);
    let count = rows.len();
    let bytes = export_bytes(&rows, ExportFormat::for_path(&path));
    ws.saver.save(path.clone(), bytes);
    ws.info(format!("exporting {count} annotations to {}", path.display()));
}
