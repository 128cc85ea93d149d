//! The review view: a run's confusion matrix and metrics at a threshold the user moves, scored
//! against the dataset's labels or the readers'; each cell's tiles with the most confident
//! mistakes first, how many the reader has reviewed, and filters; keyboard stepping and judging
//! with a large view and the tile's slide neighbours; the readers' agreement; the export. Beside
//! the matrix, the audit beyond it: label errors, another run, patients; each opens a review list
//! in place of the cell's tiles.

mod calibration_panel;
mod compare_panel;
mod current_tile;
mod label_issues_panel;
pub mod lists;
mod matrix;
mod patients_panel;
pub mod readers_panel;
mod tiles;
mod toolbar;

use std::path::PathBuf;
use std::sync::Arc;

use crate::app::background::alike::{AlikeList, AlikeSearch};
use crate::app::background::task::Task;
use crate::app::shortcuts::Action;
use crate::app::state::settings::ReviewPlace;
use crate::app::state::workspace::{Command, Workspace};
use crate::app::widgets::annotation_panel::NoteEditor;
use crate::app::widgets::tile_grid::TileGridState;
use crate::dataset::Dataset;
use crate::dataset::{LabelSource, SlideLayout};
use crate::review::Cell;
use calibration_panel::CalibrationPanel;
use compare_panel::ComparePanel;
use label_issues_panel::LabelIssuesPanel;
use lists::{ListKind, ReviewList};
use patients_panel::PatientsPanel;
use readers_panel::ReadersPanel;

/// The order "next cell" walks: missed cancer first.
const CELL_ORDER: [Cell; 4] = [
    Cell::FalseNegative,
    Cell::FalsePositive,
    Cell::TruePositive,
    Cell::TrueNegative,
];

/// Which of a cell's tiles the grid shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewFilter {
    All,
    Unreviewed,
    Reviewed,
    Relabelled,
    Unsure,
    Flagged,
    /// Where the two readers of the Readers panel disagree.
    Disagreements,
}

impl ReviewFilter {
    pub const ALL: [ReviewFilter; 7] = [
        ReviewFilter::All,
        ReviewFilter::Unreviewed,
        ReviewFilter::Reviewed,
        ReviewFilter::Relabelled,
        ReviewFilter::Unsure,
        ReviewFilter::Flagged,
        ReviewFilter::Disagreements,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ReviewFilter::All => "all",
            ReviewFilter::Unreviewed => "unreviewed",
            ReviewFilter::Reviewed => "reviewed",
            ReviewFilter::Relabelled => "relabelled",
            ReviewFilter::Unsure => "unsure",
            ReviewFilter::Flagged => "flagged",
            ReviewFilter::Disagreements => "readers disagree",
        }
    }
}

/// What the shown tiles were computed from, so they are only recomputed when it changes.
#[derive(Debug, Clone, PartialEq)]
struct Selection {
    threshold_bits: u32,
    cell: Cell,
    filter: ReviewFilter,
    marks_revision: u64,
    scored_by: LabelSource,
    patient: Option<u32>,
}

pub struct ReviewView {
    pub threshold: f32,
    cell: Cell,
    filter: ReviewFilter,
    selection: Option<Selection>,
    /// Store indices of the tiles shown, in display order.
    tiles: Vec<usize>,
    current: Option<usize>,
    grid: TileGridState,
    note: NoteEditor,
    neighbourhood: Option<Arc<SlideLayout>>,
    export_dialog: Option<Task<Option<PathBuf>>>,
    readers: ReadersPanel,
    /// The place to go back to when the run opens, once.
    resume: Option<ReviewPlace>,
    /// The place last saved, so it is written only when it changes.
    saved_place: Option<ReviewPlace>,
    /// "More like this": the search.
    alike_search: AlikeSearch,
    /// The review list shown instead of the cell's tiles: patches alike, label suspects, changed
    /// verdicts.
    list: Option<ReviewList>,
    /// The tile to stand on when the cell's tiles are shown again.
    resume_at: Option<usize>,
    /// Only this patient's tiles of the cell.
    patient: Option<u32>,
    label_issues: LabelIssuesPanel,
    compare: ComparePanel,
    patients: PatientsPanel,
    calibration: CalibrationPanel,
    /// Open the audit panels on the next frame (for the screenshot tour).
    open_audit: bool,
}

impl Default for ReviewView {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            cell: Cell::FalseNegative,
            filter: ReviewFilter::All,
            selection: None,
            tiles: Vec::new(),
            current: None,
            grid: TileGridState::default(),
            note: NoteEditor::default(),
            neighbourhood: None,
            export_dialog: None,
            readers: ReadersPanel::default(),
            resume: None,
            saved_place: None,
            alike_search: AlikeSearch::default(),
            list: None,
            resume_at: None,
            patient: None,
            label_issues: LabelIssuesPanel::default(),
            compare: ComparePanel::default(),
            patients: PatientsPanel::default(),
            calibration: CalibrationPanel::default(),
            open_audit: false,
        }
    }
}

impl ReviewView {
    /// A new run is open: start over, at the reader's last place in it if there is one.
    pub fn run_changed(&mut self, ws: &Workspace) {
        // The search for label errors is the dataset's, not the run's: it goes on.
        let label_issues = std::mem::take(&mut self.label_issues);
        *self = Self {
            threshold: ws
                .run
                .as_ref()
                .and_then(|run| run.saved_threshold.as_ref())
                .map_or(0.5, |saved| saved.threshold),
            label_issues,
            ..Self::default()
        };
        if let (Some(run), Some(place)) = (&ws.run, &ws.settings.review_place)
            && place.run == run.folder.root()
        {
            self.cell = place.cell;
            self.resume = Some(place.clone());
        }
    }

    pub fn select_cell(&mut self, cell: Cell) {
        self.leave_list();
        if self.cell != cell {
            self.cell = cell;
            self.current = None;
        }
    }

    pub fn cell(&self) -> Cell {
        self.cell
    }

    pub fn filter(&self) -> ReviewFilter {
        self.filter
    }

    pub fn set_filter(&mut self, filter: ReviewFilter) {
        self.leave_list();
        self.filter = filter;
    }

    /// The patches shown instead of the cell's: those most like a patch.
    pub fn alike(&self) -> Option<&AlikeList> {
        match &self.list {
            Some(ReviewList {
                kind: ListKind::Alike(list),
                ..
            }) => Some(list),
            _ => None,
        }
    }

    /// The review list shown instead of the cell's tiles, if one is.
    pub fn list(&self) -> Option<&ReviewList> {
        self.list.as_ref()
    }

    /// Shows `list` in place of the cell's tiles, from its first tile.
    pub fn show_list(&mut self, list: ReviewList) {
        if self.list.is_none() {
            self.resume_at = self.current_patch();
        }
        self.tiles = list.tiles.clone();
        self.current = (!self.tiles.is_empty()).then_some(0);
        self.list = Some(list);
        self.selection = None;
        self.grid.reveal_selected = true;
    }

    /// Narrows the cell's tiles to one patient's, or (`None`) shows every patient's.
    pub fn set_patient(&mut self, patient: Option<u32>) {
        self.leave_list();
        self.patient = patient;
    }

    pub fn patient(&self) -> Option<u32> {
        self.patient
    }

    /// The panel of the search for label errors.
    pub fn label_issues(&self) -> &LabelIssuesPanel {
        &self.label_issues
    }

    /// The search for label errors, to set its folds and epochs.
    pub fn label_issues_mut(&mut self) -> &mut LabelIssuesPanel {
        &mut self.label_issues
    }

    /// The patients table.
    pub fn patients(&self) -> &PatientsPanel {
        &self.patients
    }

    /// Opens the audit panels beside the matrix on the next frame.
    pub fn open_audit_panels(&mut self) {
        self.open_audit = true;
    }

    /// Asks for the patches most like `index` (on a worker thread).
    pub fn show_alike(&mut self, ctx: &egui::Context, ws: &Workspace, index: usize) {
        if let (Some(dataset), Some(run)) = (&ws.dataset, &ws.run) {
            self.alike_search
                .request(ctx, &dataset.store, run.folder.root().to_path_buf(), index);
        }
    }

    /// Back to the cell's tiles, at the tile a search started from (or the reader stood on).
    fn leave_list(&mut self) {
        if let Some(list) = self.list.take() {
            self.selection = None;
            if let Some(of) = list.started_from() {
                self.resume_at = Some(of);
            }
        }
    }

    /// Store indices of the tiles shown, surest first.
    pub fn tiles(&self) -> &[usize] {
        &self.tiles
    }

    /// The store index of the tile being reviewed.
    pub fn current_patch(&self) -> Option<usize> {
        self.current
            .and_then(|position| self.tiles.get(position).copied())
    }

    pub fn readers(&self) -> &ReadersPanel {
        &self.readers
    }

    pub fn show(&mut self, ui: &mut egui::Ui, ws: &mut Workspace, actions: &[Action]) {
        self.take_export_choice(ws);
        let Some(dataset) = ws.dataset.clone() else {
            ui.label("No dataset is open. Open one from the Start view.");
            return;
        };
        if ws.run.is_none() && self.list.is_none() {
            self.no_run_ui(ui, ws, &dataset);
            return;
        }
        self.readers.update(ws, &dataset);
        self.refresh_tiles(ws, &dataset);
        for &action in actions {
            self.act(action, ws);
        }

        egui::Panel::top("review-toolbar").show(ui, |ui| self.toolbar_ui(ui, ws));
        // The tour opens the audit panels once, calibration with them.
        let open_calibration = self.open_audit.then_some(true);
        egui::Panel::left("review-matrix")
            .default_size(340.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    self.matrix_ui(ui, ws);
                    ui.separator();
                    self.audit_ui(ui, ws, &dataset);
                    ui.separator();
                    self.roc_ui(ui, ws);
                    ui.separator();
                    if let Some(run) = &ws.run {
                        // Closed at first: the readers' panel below stays in view.
                        egui::CollapsingHeader::new("Calibration")
                            .open(open_calibration)
                            .show(ui, |ui| self.calibration.ui(ui, run));
                        ui.separator();
                    }
                    if self.readers.ui(ui, ws) {
                        self.filter = ReviewFilter::Disagreements;
                    }
                });
            });
        egui::Panel::right("review-tile")
            .default_size(340.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.current_tile_ui(ui, ws, &dataset));
            });
        egui::CentralPanel::default().show(ui, |ui| self.grid_ui(ui, ws, &dataset));
        self.remember_place(ws, &dataset);
    }

    /// Review without a run: the way to one, and the search for label errors, which needs none
    /// (its models are trained for it).
    fn no_run_ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace, dataset: &Arc<Dataset>) {
        ui.label("No run is open. Train one, or open a past run from the Training view.");
        if ui.button("Go to Training").clicked() {
            ws.send(Command::Show(crate::app::state::workspace::View::Training));
        }
        ui.separator();
        ui.heading("Label errors in the whole dataset");
        if let Some(list) = self.label_issues.ui(ui, ws, dataset) {
            self.show_list(list);
        }
    }

    /// The audit beyond the matrix: label errors in the whole dataset, another run, patients.
    fn audit_ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace, dataset: &Arc<Dataset>) {
        let mut opened = None;
        let open = std::mem::take(&mut self.open_audit).then_some(true);
        egui::CollapsingHeader::new("Label errors in the whole dataset")
            .default_open(self.label_issues.is_running())
            .open(open)
            .show(ui, |ui| opened = self.label_issues.ui(ui, ws, dataset));
        if ws.run.is_none() {
            // A list of label suspects opened without a run: only that panel applies.
            if let Some(list) = opened {
                self.show_list(list);
            }
            return;
        }
        egui::CollapsingHeader::new("Compare with another run")
            .open(open)
            .show(ui, |ui| {
                if let Some(list) = self.compare.ui(ui, ws, dataset, self.threshold) {
                    opened = Some(list);
                }
            });
        let mut chosen = None;
        egui::CollapsingHeader::new("Patients in this run")
            .open(open)
            .show(ui, |ui| {
                let only = self
                    .patient
                    .map(|patient| dataset.store.patients()[patient as usize].clone());
                chosen = self.patients.ui(ui, ws, self.threshold, only.as_deref());
            });
        if let Some(list) = opened {
            self.show_list(list);
        }
        if let Some(patient) = chosen.and_then(|name| dataset.patient_id(&name)) {
            self.set_patient(Some(patient));
        }
    }
}
