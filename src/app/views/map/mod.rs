//! The Map view: every patch of the dataset on one map, laid out from the open run's
//! embeddings so that patches the model sees alike lie together. Colour it by label, outcome,
//! P(IDC), part, patient, judgement, label doubt or readers' disagreement; hover for a tile,
//! click to judge it, lasso or box a region to review it as a list; find duplicates and leaks.

pub mod canvas;
pub mod colouring;
pub mod duplicates_panel;
pub mod facts;
pub mod picking;

use std::sync::Arc;

use canvas::{CanvasEvent, DragMode, MapCanvas, Scene};
use colouring::{ColourBy, LegendEntry, OTHER, colour_points};

use crate::app::background::dataset_map::{DatasetMapWork, MapOfRun};
use crate::app::shortcuts::Action;
use crate::app::state::workspace::{Command, Workspace};
use crate::app::widgets::annotation_panel::{NoteEditor, annotation_panel_ui};
use crate::app::widgets::tile_grid::{CardProbability, patch_card_ui};
use crate::dataset::Dataset;
use crate::review::Cell;
use crate::review::label_issues::LabelIssueRow;

/// Points singled out on the map: drawn larger, the rest grey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Highlight {
    #[default]
    Nothing,
    Cell(Cell),
    /// The current tile's patient.
    Patient(u32),
}

/// The colours of the points as last worked out, and what they were worked out from.
struct Colouring {
    stamp: ColourStamp,
    colours: Vec<egui::Color32>,
    order: Vec<u32>,
    singled_out: usize,
    legend: Vec<LegendEntry>,
    version: u64,
}

#[derive(Debug, Clone, PartialEq)]
struct ColourStamp {
    map: usize,
    by: ColourBy,
    threshold: u32,
    highlight: Highlight,
    /// The reader's marks change only with the readers' books or the reader.
    reader: Option<String>,
    reviews: Option<u64>,
    label_issues: usize,
}

#[derive(Default)]
pub struct MapView {
    pub work: DatasetMapWork,
    pub canvas: MapCanvas,
    pub colour_by: ColourBy,
    pub highlight: Highlight,
    /// The tile clicked last: shown on the right with its annotation panel.
    pub current: Option<usize>,
    current_patient: Option<u32>,
    note: NoteEditor,
    colouring: Option<Colouring>,
    duplicates: duplicates_panel::DuplicatesPanel,
}

impl MapView {
    pub fn run_changed(&mut self) {
        // Dropping the old work stops its worker; the new run's map starts when shown.
        self.work = DatasetMapWork::default();
        self.current = None;
        self.colouring = None;
        self.canvas.fit();
    }

    /// The map is shown, coloured.
    pub fn is_ready(&self) -> bool {
        self.work.map.is_some() && self.colouring.is_some()
    }

    /// The legend as last drawn: each class with its count.
    pub fn legend(&self) -> &[LegendEntry] {
        self.colouring
            .as_ref()
            .map_or(&[], |colouring| colouring.legend.as_slice())
    }

    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        ws: &mut Workspace,
        actions: &[Action],
        label_issues: Option<Arc<Vec<LabelIssueRow>>>,
    ) {
        let Some(dataset) = ws.dataset.clone() else {
            ui.label("No dataset is open: open one from the Start view.");
            return;
        };
        for &action in actions {
            self.act(action, ws);
        }
        egui::Panel::left("map-controls")
            .default_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    self.controls_ui(ui);
                    ui.separator();
                    self.duplicates.ui(ui, ws, &dataset);
                })
            });
        egui::Panel::right("map-tile")
            .default_size(280.0)
            .show(ui, |ui| self.tile_ui(ui, ws, &dataset));
        egui::CentralPanel::default().show(ui, |ui| self.map_ui(ui, ws, &dataset, label_issues.as_deref()));
    }

    fn act(&mut self, action: Action, ws: &mut Workspace) {
        match action {
            Action::FocusNote => self.note.focus(),
            judging if judging.judges() => {
                if let Some(index) = self.current {
                    ws.judge_and_advance(index, judging);
                }
            }
            _ => {} // moving between tiles is for lists; a map has no order
        }
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Map of the dataset");
        ui.weak(
            "Every patch, placed by the open run's model: patches it sees alike lie together (UMAP of its \
             256-unit layer). Drag to pan, scroll to zoom; hover a point for its tile, click to judge it; \
             choose Lasso or Box to draw around points and review them.",
        );
        ui.add_space(4.0);
        egui::ComboBox::from_label("Colour by")
            .selected_text(self.colour_by.title())
            .show_ui(ui, |ui| {
                for by in ColourBy::ALL {
                    ui.selectable_value(&mut self.colour_by, by, by.title());
                }
            });
        self.legend_ui(ui);
        ui.add_space(4.0);
        let describe = |highlight: Highlight| match highlight {
            Highlight::Nothing => "nothing".to_string(),
            Highlight::Cell(cell) => cell.name().to_string(),
            Highlight::Patient(_) => "the current tile's patient".to_string(),
        };
        egui::ComboBox::from_label("Highlight")
            .selected_text(describe(self.highlight))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut self.highlight, Highlight::Nothing, "nothing");
                for cell in Cell::ALL {
                    ui.selectable_value(&mut self.highlight, Highlight::Cell(cell), cell.name());
                }
                if let Some(patient) = self.current_patient {
                    ui.selectable_value(
                        &mut self.highlight,
                        Highlight::Patient(patient),
                        "the current tile's patient",
                    );
                }
            });
        ui.horizontal(|ui| {
            ui.label("Drag to");
            ui.selectable_value(&mut self.canvas.mode, DragMode::Pan, "Pan");
            ui.selectable_value(&mut self.canvas.mode, DragMode::Lasso, "Lasso");
            ui.selectable_value(&mut self.canvas.mode, DragMode::Box, "Box");
            if ui.button("Show all").clicked() {
                self.canvas.fit();
            }
        });
    }
}

impl MapView {
    fn legend_ui(&self, ui: &mut egui::Ui) {
        if self.colour_by == ColourBy::Patient {
            if let Some(colouring) = &self.colouring {
                ui.weak(format!(
                    "{} patches, each patient its own colour",
                    colouring.colours.len()
                ));
            }
            return;
        }
        for entry in self.legend() {
            ui.horizontal(|ui| {
                let (rect, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
                ui.painter().rect_filled(rect, 2.0, entry.colour);
                ui.label(&entry.name);
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    ui.monospace(entry.count.to_string());
                });
            });
        }
    }

    fn tile_ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace, dataset: &Dataset) {
        let Some(index) = self.current else {
            ui.label("Click a point to see its tile here and judge it.");
            return;
        };
        let prob = self
            .work
            .map
            .as_ref()
            .and_then(|made| made.map.prob_idc.get(index).copied());
        patch_card_ui(
            ui,
            dataset,
            &mut ws.tiles,
            index,
            CardProbability::of_run(ws.run.is_some(), prob),
        );
        if ui.button("Show on slide").clicked() {
            ws.send(Command::ShowPatient {
                patient: dataset.store.patch(index).patient,
                patch: Some(index),
                on_slide: true,
            });
        }
        ui.separator();
        let intents = egui::ScrollArea::vertical()
            .id_salt("map-annotation")
            .show(ui, |ui| annotation_panel_ui(ui, ws, index, &mut self.note))
            .inner;
        for intent in intents {
            if let Some(action) = ws.take_intent(index, intent) {
                self.act(action, ws);
            }
        }
    }

    fn map_ui(
        &mut self,
        ui: &mut egui::Ui,
        ws: &mut Workspace,
        dataset: &Arc<Dataset>,
        label_issues: Option<&Vec<LabelIssueRow>>,
    ) {
        let Some(run) = &ws.run else {
            ui.label("Open a run (Training or File > Open run) to map the dataset by its model.");
            return;
        };
        let run_dir = run.folder.root().to_path_buf();
        self.work.poll();
        self.work.request(ui.ctx(), &dataset.store, run_dir.clone());
        if let Some((step, done, total)) = self.work.progress() {
            let text = format!("{}: {done} of {total}", step.describe());
            let fraction = done as f32 / total.max(1) as f32;
            crate::app::widgets::progress::progress_bar(ui, fraction, text, None);
            if ui.button("Stop").clicked() {
                self.work.stop();
            }
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(200));
            return;
        }
        if self.work.stopped || self.work.error.is_some() {
            if let Some(error) = &self.work.error {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("The map could not be made: {error}"),
                );
            } else {
                ui.label("The map was stopped.");
            }
            if ui.button("Make the map").clicked() {
                self.work.start(ui.ctx(), &dataset.store, run_dir);
            }
            return;
        }
        let Some(made) = self.work.map.clone() else {
            return;
        };
        self.recolour(ws, dataset, &made, label_issues.map(Vec::as_slice));
        let Some(colouring) = &self.colouring else {
            return;
        };
        let scene = Scene {
            points: &made.map.points,
            colours: &colouring.colours,
            order: &colouring.order,
            singled_out: colouring.singled_out,
            version: colouring.version,
            current: self.current,
        };
        let (response, event) = self.canvas.show(ui, &scene);
        if let Some(hovered) = self.canvas.hovered {
            response.on_hover_ui_at_pointer(|ui| hover_ui(ui, ws, dataset, &made, hovered));
        }
        match event {
            Some(CanvasEvent::Clicked(index)) => {
                self.current = Some(index);
                self.current_patient = Some(dataset.store.patch(index).patient);
            }
            Some(CanvasEvent::Selected(tiles)) if tiles.is_empty() => {
                ws.info("no patch lies inside the outline")
            }
            Some(CanvasEvent::Selected(tiles)) => ws.send(Command::ReviewTiles {
                heading: format!(
                    "Chosen on the map (coloured by {})",
                    self.colour_by.title().to_lowercase()
                ),
                tiles,
            }),
            None => {}
        }
    }

    /// Works the colours out again when what they depend on changed.
    fn recolour(
        &mut self,
        ws: &Workspace,
        dataset: &Dataset,
        made: &Arc<MapOfRun>,
        label_issues: Option<&[LabelIssueRow]>,
    ) {
        let threshold = ws.run.as_ref().map_or(0.5, |run| run.threshold());
        let stamp = ColourStamp {
            map: Arc::as_ptr(made) as usize,
            by: self.colour_by,
            threshold: threshold.to_bits(),
            highlight: self.highlight,
            reader: ws.reader().map(str::to_string),
            reviews: ws.annotating.reviews.as_ref().map(|reviews| reviews.revision()),
            label_issues: label_issues.map_or(0, |rows| rows.as_ptr() as usize),
        };
        if self
            .colouring
            .as_ref()
            .is_some_and(|colouring| colouring.stamp == stamp)
        {
            return;
        }
        let facts = facts::gather(ws, dataset, made, label_issues);
        let (mut colours, legend) = colour_points(self.colour_by, &facts, threshold);
        let singled = |index: usize| match self.highlight {
            Highlight::Nothing => false,
            Highlight::Cell(cell) => facts[index].cell == Some(cell),
            Highlight::Patient(patient) => facts[index].patient == patient,
        };
        // Grey first, then the commoner colours, the rarer on top, the singled-out last.
        let count_of = |colour: egui::Color32| {
            legend
                .iter()
                .find(|entry| entry.colour == colour)
                .map_or(0, |entry| entry.count)
        };
        let mut order: Vec<u32> = (0..colours.len() as u32).collect();
        let rank = |index: usize, colour: egui::Color32| {
            let grey = colour == OTHER;
            (singled(index), !grey, std::cmp::Reverse(count_of(colour)))
        };
        if self.highlight != Highlight::Nothing {
            for (index, colour) in colours.iter_mut().enumerate() {
                if !singled(index) {
                    *colour = OTHER;
                }
            }
        }
        order.sort_by_key(|&index| rank(index as usize, colours[index as usize]));
        let singled_out = (0..colours.len()).filter(|&index| singled(index)).count();
        let version = self
            .colouring
            .as_ref()
            .map_or(0, |colouring| colouring.version + 1);
        self.colouring = Some(Colouring {
            stamp,
            colours,
            order,
            singled_out,
            legend,
            version,
        });
    }
}

/// The tile under the pointer, with what the map knows of it.
fn hover_ui(ui: &mut egui::Ui, ws: &mut Workspace, dataset: &Dataset, made: &MapOfRun, index: usize) {
    let store = &dataset.store;
    let patch = store.patch(index);
    let texture = ws.tiles.get(ui.ctx(), store, index);
    ui.add(egui::Image::new(&texture).fit_to_exact_size(egui::vec2(100.0, 100.0)));
    ui.label(format!(
        "Patient {} at ({}, {})",
        store.patient_name(patch),
        patch.x,
        patch.y
    ));
    ui.label(format!("Label: {}", patch.label.name()));
    ui.label(format!("P(IDC): {:.3}", made.map.prob_idc[index]));
    let part = match made.parts[index] {
        Some(crate::dataset::split::SplitPart::Train) => "training",
        Some(crate::dataset::split::SplitPart::Validation) => "validation",
        Some(crate::dataset::split::SplitPart::Test) => "test",
        None => "not in the run's split",
    };
    ui.weak(format!("In the {part} part"));
}
