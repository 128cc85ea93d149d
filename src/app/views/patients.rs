//! The patients view: a searchable, sortable list of patients; the chosen patient's patches as a
//! virtualised tile grid filtered by label, or their slide rebuilt with overlays; and the chosen
//! patch large, with its file, coordinates, label and the run's probability, and the reader's
//! annotation of it (the same keys as in Review).

use std::sync::Arc;

use crate::app::background::patient_predictions::{PatientPredictions, RunModel};
use crate::app::shortcuts::Action;
use crate::app::state::tile_cursor::{TileMove, moved_to};
use crate::app::state::workspace::Workspace;
use crate::app::views::slide::SlideView;
use crate::app::views::stain_map::StainMap;
use crate::app::widgets::annotation_panel::{NoteEditor, annotation_panel_ui};
use crate::app::widgets::tile_grid::{CardProbability, TileGrid, TileGridState, patch_card_ui, tile_grid_ui};
use crate::dataset::Dataset;
use crate::dataset::{Label, SlideLayout};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PatientOrder {
    #[default]
    Patient,
    Patches,
    IdcShare,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LabelFilter {
    #[default]
    All,
    Only(Label),
}

impl LabelFilter {
    fn admits(self, label: Label) -> bool {
        match self {
            LabelFilter::All => true,
            LabelFilter::Only(wanted) => wanted == label,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PatientTab {
    #[default]
    Patches,
    Slide,
    /// Every patient's stain, one point each.
    StainMap,
}

#[derive(Default)]
pub struct PatientsView {
    search: String,
    order: PatientOrder,
    descending: bool,
    patient: Option<u32>,
    pub tab: PatientTab,
    filter: LabelFilter,
    selected_patch: Option<usize>,
    layout: Option<Arc<SlideLayout>>,
    /// The patient's patches that pass the label filter, in slide order.
    shown_patches: Vec<usize>,
    pub(in crate::app) grid: TileGridState,
    slide: SlideView,
    stain_map: StainMap,
    predictions: PatientPredictions,
    note: NoteEditor,
}

impl PatientsView {
    pub fn dataset_changed(&mut self) {
        *self = Self::default();
    }

    pub fn run_changed(&mut self) {
        self.predictions.clear();
    }

    pub fn patient(&self) -> Option<u32> {
        self.patient
    }

    pub fn selected_patch(&self) -> Option<usize> {
        self.selected_patch
    }

    pub fn shown_patches(&self) -> &[usize] {
        &self.shown_patches
    }

    pub fn slide_is_ready(&self) -> bool {
        self.slide.is_ready()
    }

    /// Every patient's stain is estimated and on the map.
    pub fn stain_map_is_ready(&self) -> bool {
        self.stain_map.work.stains.is_some()
    }

    pub fn predictions_pending(&self) -> bool {
        self.predictions.is_pending()
    }

    /// Opens `patient`, with `patch` chosen if given.
    pub fn select(&mut self, ws: &Workspace, patient: u32, patch: Option<usize>) {
        let Some(dataset) = &ws.dataset else {
            return;
        };
        if self.patient != Some(patient) {
            self.patient = Some(patient);
            let layout = Arc::new(SlideLayout::new(&dataset.store, patient));
            self.layout = Some(layout);
            self.slide.clear();
        }
        self.selected_patch = patch;
        self.refilter(dataset);
        self.grid.reveal_selected = patch.is_some();
    }

    fn refilter(&mut self, dataset: &Dataset) {
        let Some(layout) = &self.layout else {
            self.shown_patches.clear();
            return;
        };
        let store = &dataset.store;
        let mut patches: Vec<usize> = layout
            .patches()
            .iter()
            .copied()
            .filter(|&index| self.filter.admits(store.patch(index).label))
            .collect();
        // Reading order on the slide: row by row.
        patches.sort_by_key(|&index| (store.patch(index).y, store.patch(index).x));
        self.shown_patches = patches;
    }

    pub fn show(&mut self, ui: &mut egui::Ui, ws: &mut Workspace, actions: &[Action]) {
        let Some(dataset) = ws.dataset.clone() else {
            ui.label("No dataset is open: open one from the Start view.");
            return;
        };
        for &action in actions {
            self.act(action, ws);
        }
        self.predictions.poll();
        if let (Some(run), Some(patient), Some(layout)) = (&ws.run, self.patient, &self.layout)
            && run.info.is_imported()
        {
            self.predictions
                .use_recorded(run.folder.root(), patient, layout.patches(), |patch| {
                    run.recorded_prob_idc(patch)
                });
        } else if let (Some(run), Some(patient), Some(layout)) = (&ws.run, self.patient, &self.layout) {
            self.predictions.request(
                ui.ctx(),
                &dataset.store,
                RunModel {
                    model: run.folder.model_path(),
                    batch_norm: run.info.batch_norm,
                    normalisation: run.info.config.normalize_stain,
                },
                patient,
                layout.patches(),
            );
        }

        egui::Panel::left("patient-list")
            .default_size(250.0)
            .show(ui, |ui| self.patient_list_ui(ui, ws, &dataset));
        egui::Panel::right("patch-details")
            .default_size(280.0)
            .show(ui, |ui| self.details_ui(ui, ws, &dataset));
        egui::CentralPanel::default().show(ui, |ui| self.patient_ui(ui, ws, &dataset));
    }

    /// Does what a key or a button asked, for the chosen patch and the patient's shown patches.
    fn act(&mut self, action: Action, ws: &mut Workspace) {
        let position = self
            .selected_patch
            .and_then(|patch| self.shown_patches.iter().position(|&shown| shown == patch));
        let step = |by: isize| moved_to(&self.shown_patches, position, TileMove::By(by), |_| false);
        let go_to = match action {
            Action::Previous => step(-1),
            Action::Next => step(1),
            Action::NextUnreviewed => {
                let reviewed = |index: usize| ws.state_of(index).is_reviewed();
                let found = moved_to(&self.shown_patches, position, TileMove::NextUnreviewed, reviewed);
                if found.is_none() {
                    ws.info("every patch shown for this patient is reviewed");
                }
                found
            }
            Action::FocusNote => {
                self.note.focus();
                None
            }
            Action::OpenOnSlide => {
                self.tab = PatientTab::Slide;
                None
            }
            judging if judging.judges() => {
                if let Some(index) = self.selected_patch
                    && ws.judge_and_advance(index, judging)
                {
                    self.act(Action::NextUnreviewed, ws);
                }
                None
            }
            _ => None, // undo, redo and the sheet are the shell's; cells are Review's
        };
        if let Some(at) = go_to {
            self.selected_patch = Some(self.shown_patches[at]);
            self.grid.reveal_selected = true;
        }
    }

    fn patient_list_ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace, dataset: &Dataset) {
        ui.heading(format!("{} patients", dataset.summaries.len()));
        ui.add(egui::TextEdit::singleline(&mut self.search).hint_text("Search patients"));
        ui.horizontal(|ui| {
            ui.label("Sort:");
            ui.selectable_value(&mut self.order, PatientOrder::Patient, "ID");
            ui.selectable_value(&mut self.order, PatientOrder::Patches, "Patches");
            ui.selectable_value(&mut self.order, PatientOrder::IdcShare, "% IDC");
            let arrow = if self.descending {
                "descending"
            } else {
                "ascending"
            };
            if ui
                .small_button(arrow)
                .on_hover_text("Reverse the order")
                .clicked()
            {
                self.descending = !self.descending;
            }
        });
        ui.separator();
        let needle = self.search.trim().to_lowercase();
        let mut rows: Vec<usize> = (0..dataset.summaries.len())
            .filter(|&id| needle.is_empty() || dataset.summaries[id].patient.to_lowercase().contains(&needle))
            .collect();
        let summaries = &dataset.summaries;
        match self.order {
            PatientOrder::Patient => {
                rows.sort_by(|&a, &b| natural_order(&summaries[a].patient, &summaries[b].patient))
            }
            PatientOrder::Patches => rows.sort_by_key(|&id| summaries[id].patches),
            PatientOrder::IdcShare => rows.sort_by(|&a, &b| {
                summaries[a]
                    .idc_fraction()
                    .total_cmp(&summaries[b].idc_fraction())
            }),
        }
        if self.descending {
            rows.reverse();
        }
        // Reviewed patches per patient, counted from the reader's marks (far fewer than patches).
        let mut reviewed = vec![0usize; summaries.len()];
        for (&index, mark) in ws.marks_snapshot().iter() {
            if mark.state.is_reviewed() {
                reviewed[dataset.store.patch(index).patient as usize] += 1;
            }
        }
        let row_height = ui.text_style_height(&egui::TextStyle::Body) + 6.0;
        egui::ScrollArea::vertical().id_salt("patients").show_rows(
            ui,
            row_height,
            rows.len(),
            |ui, range| {
                for &id in &rows[range] {
                    let summary = &summaries[id];
                    let mut text = format!(
                        "{}   {} patches · {:.0}% IDC",
                        summary.patient,
                        summary.patches,
                        summary.idc_fraction() * 100.0
                    );
                    if reviewed[id] > 0 {
                        text.push_str(&format!(" · {} of {} reviewed", reviewed[id], summary.patches));
                    }
                    let chosen = self.patient == Some(id as u32);
                    if ui.selectable_label(chosen, text).clicked() {
                        self.select(ws, id as u32, None);
                    }
                }
            },
        );
    }

    fn patient_ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace, dataset: &Dataset) {
        let Some(patient) = self.patient else {
            ui.label("Choose a patient on the left, or on the stain map.");
            ui.separator();
            self.stain_map_ui(ui, ws, dataset);
            return;
        };
        let summary = &dataset.summaries[patient as usize];
        let reviewed = self
            .layout
            .as_ref()
            .map_or(0, |layout| ws.reviewed_among(layout.patches().iter().copied()));
        ui.horizontal(|ui| {
            ui.heading(format!("Patient {}", summary.patient));
            ui.label(format!(
                "{} patches, {} IDC ({:.1}%) · {reviewed} of {} reviewed",
                summary.patches,
                summary.idc,
                summary.idc_fraction() * 100.0,
                summary.patches
            ));
        });
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.tab, PatientTab::Patches, "Patches");
            ui.selectable_value(&mut self.tab, PatientTab::Slide, "Slide");
            ui.selectable_value(&mut self.tab, PatientTab::StainMap, "Stain map")
                .on_hover_text("Every patient's stain: slides stained unlike the others stand apart");
            if self.tab == PatientTab::StainMap {
                return; // the map shows patients, not patches: no label filter
            }
            ui.separator();
            let before = self.filter;
            ui.selectable_value(&mut self.filter, LabelFilter::All, "All");
            ui.selectable_value(&mut self.filter, LabelFilter::Only(Label::Idc), "IDC only");
            ui.selectable_value(&mut self.filter, LabelFilter::Only(Label::NonIdc), "Non-IDC only");
            if self.filter != before {
                self.refilter(dataset);
            }
        });
        ui.separator();
        match self.tab {
            PatientTab::StainMap => self.stain_map_ui(ui, ws, dataset),
            PatientTab::Patches => {
                let tile = ws.settings.tile_size;
                let grid = TileGrid {
                    patches: &self.shown_patches,
                    selected: self.selected_patch,
                    tile_size: tile,
                };
                let predictions = &self.predictions;
                let probabilities = |index: usize| predictions.get(index);
                let marks = ws.marks_snapshot();
                let mark = |index: usize| marks.get(&index).copied();
                if let Some(clicked) = tile_grid_ui(
                    ui,
                    &mut self.grid,
                    grid,
                    dataset,
                    &mut ws.tiles,
                    &probabilities,
                    &mark,
                ) {
                    self.selected_patch = Some(clicked);
                }
            }
            PatientTab::Slide => self.slide_tab_ui(ui, ws, dataset),
        }
    }

    /// The patient's slide with its layer switches: truth, annotations, the run's heatmap and
    /// errors.
    fn slide_tab_ui(&mut self, ui: &mut egui::Ui, ws: &Workspace, dataset: &Dataset) {
        ui.horizontal(|ui| {
            ui.checkbox(&mut self.slide.show_truth, "IDC regions (ground truth)");
            ui.checkbox(&mut self.slide.show_annotations, "Your annotations")
                .on_hover_text("Outlined green: agree; orange: relabelled; yellow: unsure; pink: flagged or noted");
            let has_run = ws.run.is_some();
            ui.add_enabled(
                has_run,
                egui::Checkbox::new(&mut self.slide.show_heatmap, "Predicted probability"),
            )
            .on_disabled_hover_text("Train or open a run to see its predictions.");
            let threshold = ws.run.as_ref().map_or(0.5, |run| run.threshold());
            ui.add_enabled(
                has_run,
                egui::Checkbox::new(&mut self.slide.show_errors, "The run's test errors"),
            )
            .on_hover_text(format!(
                "Outlined orange: missed cancer (FN); cyan: false alarm (FP); at the run's threshold {threshold:.3}"
            ))
            .on_disabled_hover_text("Train or open a run to see its errors.");
            if self.predictions.is_pending() {
                ui.spinner();
                ui.label("predicting…");
            }
            if let Some(error) = &self.predictions.error {
                ui.colored_label(ui.visuals().error_fg_color, error);
            }
        });
        if let Some(layout) = &self.layout {
            self.slide
                .set_layout(ui.ctx(), &dataset.store, Arc::clone(layout));
        }
        let predictions = &self.predictions;
        let marks = ws.marks_snapshot();
        let run = ws.run.as_ref();
        let threshold = run.map_or(0.5, |run| run.threshold());
        let clicked = self.slide.show(
            ui,
            &dataset.store,
            self.selected_patch,
            &|index| predictions.get(index),
            &|index| marks.get(&index).copied(),
            &|index| run.and_then(|run| run.cell_of(index, threshold)),
        );
        if clicked.is_some() {
            self.selected_patch = clicked;
        }
    }

    /// The stain map; a patient clicked on it is opened on its patches.
    fn stain_map_ui(&mut self, ui: &mut egui::Ui, ws: &Workspace, dataset: &Dataset) {
        if let Some(patient) = self.stain_map.ui(ui, dataset, self.patient) {
            self.select(ws, patient, None);
            self.tab = PatientTab::Patches;
        }
    }

    fn details_ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace, dataset: &Dataset) {
        let Some(index) = self.selected_patch else {
            ui.label("Click a patch to see it here.");
            return;
        };
        let prob = CardProbability::of_run(
            ws.run.is_some(),
            ws.run
                .as_ref()
                .and_then(|run| self.predictions.get(index).or_else(|| run.prob_idc(index))),
        );
        patch_card_ui(ui, dataset, &mut ws.tiles, index, prob);
        if self.tab == PatientTab::Patches
            && ui
                .button("Show on slide")
                .on_hover_text(Action::OpenOnSlide.tooltip())
                .clicked()
        {
            self.tab = PatientTab::Slide;
        }
        ui.separator();
        let intents = egui::ScrollArea::vertical()
            .id_salt("patch-annotation")
            .show(ui, |ui| annotation_panel_ui(ui, ws, index, &mut self.note))
            .inner;
        for intent in intents {
            if let Some(action) = ws.take_intent(index, intent) {
                self.act(action, ws);
            }
        }
    }
}

/// Numbers inside names compare as numbers: patient 9023 before 10253.
fn natural_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => a.cmp(b),
    }
}
