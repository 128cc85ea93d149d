//! The review view: a run's confusion matrix and metrics at a threshold the user moves, the ROC
//! curve with the operating point, each cell's tiles with the most confident mistakes first,
//! keyboard stepping with a large view and the tile's slide neighbours, and annotations (flag,
//! relabel, note) saved as they are made.

use std::path::PathBuf;
use std::sync::Arc;

use egui_plot::{Line, Plot, Points};

use super::task::{Task, take_finished};
use super::tile_grid::{IDC_COLOUR, NON_IDC_COLOUR, TileGrid, TileGridState, patch_card_ui, tile_grid_ui};
use super::workspace::{Command, Dataset, OpenRun, Workspace};
use crate::dataset::{Label, SlideLayout};
use crate::review::annotations::ANNOTATIONS_CSV;
use crate::review::{Annotation, Cell, PatchKey};

/// Which tiles the grid shows, so they are only recomputed when it changes.
#[derive(Debug, Clone, PartialEq)]
struct Selection {
    threshold_bits: u32,
    cell: Cell,
    annotated_only: bool,
    annotations: usize,
}

pub struct ReviewView {
    pub threshold: f32,
    cell: Cell,
    annotated_only: bool,
    selection: Option<Selection>,
    /// Store indices of the tiles shown and their review rows, in display order.
    tiles: Vec<usize>,
    rows: Vec<usize>,
    current: Option<usize>,
    grid: TileGridState,
    note: String,
    note_for: Option<PatchKey>,
    neighbourhood: Option<Arc<SlideLayout>>,
    export_dialog: Option<Task<Option<PathBuf>>>,
}

impl Default for ReviewView {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            cell: Cell::FalseNegative,
            annotated_only: false,
            selection: None,
            tiles: Vec::new(),
            rows: Vec::new(),
            current: None,
            grid: TileGridState::default(),
            note: String::new(),
            note_for: None,
            neighbourhood: None,
            export_dialog: None,
        }
    }
}

impl ReviewView {
    pub fn run_changed(&mut self) {
        *self = Self {
            threshold: self.threshold,
            ..Self::default()
        };
    }

    pub fn select_cell(&mut self, cell: Cell) {
        if self.cell != cell {
            self.cell = cell;
            self.current = None;
        }
    }

    pub fn cell(&self) -> Cell {
        self.cell
    }

    /// Store indices of the tiles in the chosen cell, surest first.
    pub fn tiles(&self) -> &[usize] {
        &self.tiles
    }

    /// The store index of the tile being reviewed.
    pub fn current_patch(&self) -> Option<usize> {
        self.current
            .and_then(|position| self.tiles.get(position).copied())
    }

    pub fn show(&mut self, ui: &mut egui::Ui, ws: &mut Workspace) {
        self.take_export_choice(ws);
        let (Some(dataset), Some(_)) = (ws.dataset.clone(), &ws.run) else {
            ui.label("No run is open. Train one, or open a past run from the Training view.");
            if ui.button("Go to Training").clicked() {
                ws.send(Command::Show(super::workspace::View::Training));
            }
            return;
        };
        self.refresh_tiles(ws);
        self.keyboard(ui, ws, &dataset);

        egui::Panel::top("review-toolbar").show(ui, |ui| self.toolbar_ui(ui, ws));
        egui::Panel::left("review-matrix")
            .default_size(330.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.matrix_ui(ui, ws));
            });
        egui::Panel::right("review-tile")
            .default_size(330.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.current_tile_ui(ui, ws, &dataset));
            });
        egui::CentralPanel::default().show(ui, |ui| {
            ui.label(format!(
                "{}: {} patches{}, {} first",
                self.cell.name(),
                self.tiles.len(),
                if self.annotated_only { " annotated" } else { "" },
                if self.cell.is_mistake() {
                    "most confident mistakes"
                } else {
                    "most confident"
                }
            ));
            let grid = TileGrid {
                patches: &self.tiles,
                selected: self.current_patch(),
                tile_size: ws.settings.tile_size,
            };
            let run = ws.run.as_ref();
            let probabilities = |index: usize| run.and_then(|run| run.prob_idc(index));
            let clicked = tile_grid_ui(ui, &mut self.grid, grid, &dataset, &mut ws.tiles, &probabilities);
            if let Some(index) = clicked {
                self.current = self.tiles.iter().position(|&tile| tile == index);
            }
        });
    }

    /// Recomputes the cell's tiles when the threshold, cell, filter or annotations changed.
    fn refresh_tiles(&mut self, ws: &Workspace) {
        let Some(run) = &ws.run else {
            return;
        };
        let selection = Selection {
            threshold_bits: self.threshold.to_bits(),
            cell: self.cell,
            annotated_only: self.annotated_only,
            annotations: if self.annotated_only {
                run.annotations.len()
            } else {
                0
            },
        };
        if self.selection.as_ref() == Some(&selection) {
            return;
        }
        let before = self.current_patch();
        self.tiles.clear();
        self.rows.clear();
        for row in run.review.cell_rows(self.cell, self.threshold) {
            let Some(index) = run.store_index[row] else {
                continue;
            };
            if self.annotated_only && run.annotations.get(&row_key(run, row)).is_none() {
                continue;
            }
            self.tiles.push(index);
            self.rows.push(row);
        }
        // Keep the reviewer's place when the tile is still there; else start at the top.
        self.current = before
            .and_then(|patch| self.tiles.iter().position(|&tile| tile == patch))
            .or(if self.tiles.is_empty() { None } else { Some(0) });
        self.selection = Some(selection);
        self.grid.reveal_selected = true;
    }

    fn keyboard(&mut self, ui: &mut egui::Ui, ws: &mut Workspace, dataset: &Dataset) {
        if ui.ctx().egui_wants_keyboard_input() {
            return; // typing a note
        }
        let pressed = |key| {
            ui.ctx()
                .input_mut(|input| input.consume_key(egui::Modifiers::NONE, key))
        };
        if pressed(egui::Key::ArrowRight) || pressed(egui::Key::ArrowDown) {
            self.step(1);
        }
        if pressed(egui::Key::ArrowLeft) || pressed(egui::Key::ArrowUp) {
            self.step(-1);
        }
        if pressed(egui::Key::F) {
            self.edit_annotation(ws, dataset, |annotation| annotation.flagged = !annotation.flagged);
        }
    }

    /// Moves to the next (`+1`) or previous (`-1`) tile of the cell.
    pub fn step(&mut self, by: isize) {
        if self.tiles.is_empty() {
            return;
        }
        let last = self.tiles.len() - 1;
        self.current = Some(match self.current {
            None => 0,
            Some(position) => position.saturating_add_signed(by).min(last),
        });
        self.grid.reveal_selected = true;
    }

    fn toolbar_ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace) {
        let Some(run) = &ws.run else {
            return;
        };
        let missed = run.review.matrix(self.threshold).fn_;
        let name = run.name();
        let annotated = run.annotations.len();
        let mut export = false;
        ui.horizontal(|ui| {
            ui.strong(format!("Run {name}"));
            ui.separator();
            ui.add(
                egui::Slider::new(&mut self.threshold, 0.0..=1.0)
                    .step_by(0.005)
                    .fixed_decimals(3)
                    .text("Threshold"),
            );
            if ui
                .small_button("0.5")
                .on_hover_text("Back to the default threshold")
                .clicked()
            {
                self.threshold = 0.5;
            }
            ui.separator();
            let missed_button = egui::Button::new(
                egui::RichText::new(format!("Missed cancer: {missed} false negatives")).color(IDC_COLOUR),
            );
            if ui.add(missed_button).clicked() {
                self.select_cell(Cell::FalseNegative);
            }
            ui.separator();
            ui.checkbox(&mut self.annotated_only, format!("Annotated only ({annotated})"));
            export = ui
                .button("Export CSV")
                .on_hover_text(format!("Writes {ANNOTATIONS_CSV} in the run folder"))
                .clicked();
            if ui
                .add_enabled(self.export_dialog.is_none(), egui::Button::new("Export CSV as…"))
                .clicked()
            {
                let folder = run.folder.root().to_path_buf();
                self.export_dialog = Some(Task::spawn("idc-save-dialog", ui.ctx(), move || {
                    rfd::FileDialog::new()
                        .set_title("Export annotations")
                        .set_directory(folder)
                        .set_file_name(ANNOTATIONS_CSV)
                        .add_filter("CSV", &["csv"])
                        .save_file()
                }));
            }
        });
        if export && let Some(run) = &ws.run {
            let path = run.folder.root().join(ANNOTATIONS_CSV);
            ws.saver.save(path.clone(), run.annotations.to_csv());
            ws.info(format!("exported {annotated} annotations to {}", path.display()));
        }
    }

    fn take_export_choice(&mut self, ws: &mut Workspace) {
        match take_finished(&mut self.export_dialog) {
            None | Some(Some(None)) => {}
            Some(Some(Some(path))) => {
                if let Some(run) = &ws.run {
                    ws.saver.save(path.clone(), run.annotations.to_csv());
                    ws.info(format!("exporting annotations to {}", path.display()));
                }
            }
            Some(None) => ws.error("the save dialog could not be shown; use Export CSV instead"),
        }
    }

    fn matrix_ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace) {
        let Some(run) = &ws.run else {
            return;
        };
        let matrix = run.review.matrix(self.threshold);
        let metrics = run.review.metrics(self.threshold);
        ui.heading("Confusion matrix");
        ui.label(format!(
            "{} test patches; rows: truth, columns: prediction",
            matrix.total()
        ));
        let idc = matrix.fn_ + matrix.tp;
        let non_idc = matrix.tn + matrix.fp;
        egui::Grid::new("confusion-matrix")
            .num_columns(3)
            .spacing([6.0, 6.0])
            .show(ui, |ui| {
                ui.label("");
                ui.strong("predicted non-IDC");
                ui.strong("predicted IDC");
                ui.end_row();
                for (truth, cells, of) in [
                    ("non-IDC", [Cell::TrueNegative, Cell::FalsePositive], non_idc),
                    ("IDC", [Cell::FalseNegative, Cell::TruePositive], idc),
                ] {
                    ui.strong(truth);
                    for cell in cells {
                        let count = cell.count(&matrix);
                        let share = if of == 0 {
                            0.0
                        } else {
                            count as f64 / of as f64 * 100.0
                        };
                        let text = format!(
                            "{} ({})\n{count}\n{share:.1}% of {truth}",
                            cell.name(),
                            cell.short_name()
                        );
                        let mut button = egui::Button::new(text).min_size(egui::vec2(120.0, 64.0));
                        if cell.is_mistake() {
                            button = button.fill(egui::Color32::from_rgba_unmultiplied(200, 60, 60, 50));
                        }
                        if ui.add(button.selected(self.cell == cell)).clicked() {
                            self.select_cell(cell);
                        }
                    }
                    ui.end_row();
                }
            });
        ui.add_space(8.0);
        egui::Grid::new("review-metrics").num_columns(2).show(ui, |ui| {
            for (name, value) in [
                ("Accuracy", Some(metrics.accuracy)),
                ("Sensitivity (IDC found)", Some(metrics.sensitivity)),
                ("Specificity", Some(metrics.specificity)),
                ("Precision", Some(metrics.precision)),
                ("F1", Some(metrics.f1)),
                ("Balanced accuracy", Some(metrics.balanced_accuracy)),
                ("ROC AUC", metrics.roc_auc),
            ] {
                ui.label(name);
                ui.monospace(value.map_or_else(|| "n/a".to_string(), |value| format!("{value:.4}")));
                ui.end_row();
            }
        });
        ui.add_space(8.0);
        let curve: Vec<[f64; 2]> = run.review.roc_curve().iter().map(|&(x, y)| [x, y]).collect();
        let (fpr, tpr) = run.review.operating_point(self.threshold);
        Plot::new("roc-curve")
            .height(260.0)
            .data_aspect(1.0)
            .include_x(0.0)
            .include_x(1.0)
            .include_y(0.0)
            .include_y(1.0)
            .x_axis_label("false positive rate")
            .y_axis_label("true positive rate")
            .show(ui, |plot| {
                plot.line(Line::new("chance", vec![[0.0, 0.0], [1.0, 1.0]]).color(egui::Color32::GRAY));
                plot.line(Line::new("ROC", curve).color(NON_IDC_COLOUR));
                plot.points(
                    Points::new(format!("threshold {:.3}", self.threshold), vec![[fpr, tpr]])
                        .radius(6.0)
                        .color(IDC_COLOUR),
                );
            });
    }

    fn current_tile_ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace, dataset: &Dataset) {
        let (Some(position), Some(index)) = (self.current, self.current_patch()) else {
            ui.label("No tile in this cell.");
            return;
        };
        let store = &dataset.store;
        let patch = store.patch(index);
        ui.horizontal(|ui| {
            if ui.button("Previous").clicked() {
                self.step(-1);
            }
            ui.label(format!("{} of {}", position + 1, self.tiles.len()));
            if ui.button("Next").clicked() {
                self.step(1);
            }
        });
        let prob = ws.run.as_ref().map(|run| run.prob_idc(index));
        patch_card_ui(ui, dataset, &mut ws.tiles, index, prob);
        if ui.button("Open on slide").clicked() {
            ws.send(Command::ShowPatient {
                patient: patch.patient,
                patch: Some(index),
                on_slide: true,
            });
        }
        ui.separator();
        self.annotation_ui(ui, ws, dataset, index);
        ui.separator();
        self.neighbours_ui(ui, ws, dataset, index);
    }

    fn annotation_ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace, dataset: &Dataset, index: usize) {
        ui.strong("Annotation");
        let key = dataset.key(index);
        let existing = ws.run.as_ref().and_then(|run| run.annotations.get(&key).cloned());
        if self.note_for.as_ref() != Some(&key) {
            self.note = existing
                .as_ref()
                .map(|annotation| annotation.note.clone())
                .unwrap_or_default();
            self.note_for = Some(key);
        }
        let mut flagged = existing.as_ref().is_some_and(|annotation| annotation.flagged);
        let mut relabel = existing.as_ref().and_then(|annotation| annotation.relabel);
        let mut changed = ui.checkbox(&mut flagged, "Flag (F)").changed();
        ui.horizontal(|ui| {
            ui.label("Relabel:");
            changed |= ui.radio_value(&mut relabel, None, "as in dataset").changed();
            changed |= ui
                .radio_value(&mut relabel, Some(Label::NonIdc), "0 non-IDC")
                .changed();
            changed |= ui.radio_value(&mut relabel, Some(Label::Idc), "1 IDC").changed();
        });
        let label = ui.label("Note");
        changed |= ui
            .add(
                egui::TextEdit::multiline(&mut self.note)
                    .desired_rows(3)
                    .hint_text("What do you see?"),
            )
            .labelled_by(label.id)
            .changed();
        if changed {
            let note = self.note.clone();
            self.edit_annotation(ws, dataset, move |annotation| {
                annotation.flagged = flagged;
                annotation.relabel = relabel;
                annotation.note = note;
            });
        }
        ui.weak("Saved as you go; the image files are never changed.");
    }

    /// Applies `change` to the current tile's annotation and queues the file write.
    fn edit_annotation(
        &mut self,
        ws: &mut Workspace,
        dataset: &Dataset,
        change: impl FnOnce(&mut Annotation),
    ) {
        let Some(index) = self.current_patch() else {
            return;
        };
        let Some(run) = ws.run.as_mut() else {
            return;
        };
        let key = dataset.key(index);
        let patch = dataset.store.patch(index);
        let mut annotation = run.annotations.get(&key).cloned().unwrap_or_else(|| Annotation {
            patient: key.patient.clone(),
            x: key.x,
            y: key.y,
            path: patch.path.clone(),
            label: patch.label,
            prob_idc: run.prob_idc(index).unwrap_or(f32::NAN),
            flagged: false,
            relabel: None,
            note: String::new(),
            updated_unix_secs: 0,
        });
        change(&mut annotation);
        if annotation.relabel == Some(annotation.label) {
            annotation.relabel = None; // the same label is no relabel
        }
        run.annotations.set(annotation);
        ws.save_annotations();
    }

    fn neighbours_ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace, dataset: &Dataset, index: usize) {
        let patient = dataset.store.patch(index).patient;
        if self
            .neighbourhood
            .as_ref()
            .is_none_or(|layout| layout.patient() != patient)
        {
            self.neighbourhood = Some(Arc::new(SlideLayout::new(&dataset.store, patient)));
        }
        let Some(layout) = self.neighbourhood.clone() else {
            return;
        };
        ui.strong("Neighbours on the slide");
        const RADIUS: u32 = 2;
        let side = 2 * RADIUS as usize + 1;
        let around = layout.neighbours(&dataset.store, index, RADIUS);
        let tile = 50.0;
        let mut jump_to = None;
        egui::Grid::new("neighbours").spacing([2.0, 2.0]).show(ui, |ui| {
            for (position, neighbour) in around.iter().enumerate() {
                let (rect, response) = ui.allocate_exact_size(egui::vec2(tile, tile), egui::Sense::click());
                match neighbour {
                    Some(neighbour) => {
                        let texture = ws.tiles.get(ui.ctx(), &dataset.store, *neighbour);
                        let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
                        ui.painter().image(texture.id(), rect, uv, egui::Color32::WHITE);
                        let frame = match dataset.store.patch(*neighbour).label {
                            Label::Idc => IDC_COLOUR,
                            Label::NonIdc => NON_IDC_COLOUR,
                        };
                        let width = if *neighbour == index { 3.0 } else { 1.5 };
                        let colour = if *neighbour == index {
                            egui::Color32::YELLOW
                        } else {
                            frame
                        };
                        ui.painter().rect_stroke(
                            rect,
                            0.0,
                            egui::Stroke::new(width, colour),
                            egui::StrokeKind::Inside,
                        );
                        if response.clicked() {
                            jump_to = Some(*neighbour);
                        }
                    }
                    None => {
                        ui.painter().rect_filled(rect, 0.0, ui.visuals().faint_bg_color);
                    }
                }
                if (position + 1) % side == 0 {
                    ui.end_row();
                }
            }
        });
        ui.weak("Red frames: IDC in the dataset; blue: non-IDC; yellow: this tile. Click one to review it.");
        if let Some(neighbour) = jump_to {
            match self.tiles.iter().position(|&tile| tile == neighbour) {
                Some(position) => {
                    self.current = Some(position);
                    self.grid.reveal_selected = true;
                }
                None if ws
                    .run
                    .as_ref()
                    .is_some_and(|run| run.prob_idc(neighbour).is_some()) =>
                {
                    ws.info("that neighbour is a test patch in another cell (or filtered out)");
                }
                None => ws.info("that neighbour is not in the test part of this run"),
            }
        }
    }
}

fn row_key(run: &OpenRun, row: usize) -> PatchKey {
    let prediction = &run.review.rows()[row];
    PatchKey {
        patient: prediction.patient.clone(),
        x: prediction.x,
        y: prediction.y,
    }
}
