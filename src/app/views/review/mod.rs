//! The review view: a run's confusion matrix and metrics at a threshold the user moves, scored
//! against the dataset's labels or the readers'; each cell's tiles with the most confident
//! mistakes first, how many the reader has reviewed, and filters; keyboard stepping and judging
//! with a large view and the tile's slide neighbours; the readers' agreement; the export. Beside
//! the matrix, the audit beyond it: label errors, another run, patients; each opens a review list
//! in place of the cell's tiles.

mod compare_panel;
mod label_issues_panel;
pub mod lists;
mod patients_panel;

use std::path::PathBuf;
use std::sync::Arc;

use egui_plot::{Line, Plot, Points};

use crate::app::background::alike::{AlikeList, AlikeSearch};
use crate::app::background::task::{Finished, Task, take_finished};
use crate::app::shortcuts::Action;
use crate::app::state::settings::ReviewPlace;
use crate::app::state::workspace::{Command, Workspace};
use crate::app::views::readers::ReadersPanel;
use crate::app::widgets::annotation_panel::{NoteEditor, annotation_panel_ui, judge_and_advance};
use crate::app::widgets::tile_grid::{
    IDC_COLOUR, NON_IDC_COLOUR, TileGrid, TileGridState, patch_card_ui, tile_grid_ui,
};
use crate::dataset::Dataset;
use crate::dataset::{Label, LabelSource, SlideLayout};
use crate::review::export::{ExportFormat, export_bytes, export_rows};
use crate::review::{Cell, ReviewState, reviewed_corrections};
use crate::training::SavedThreshold;
use compare_panel::ComparePanel;
use label_issues_panel::LabelIssuesPanel;
use lists::{ListKind, ReviewList};
use patients_panel::PatientsPanel;

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
            ui.label("No run is open. Train one, or open a past run from the Training view.");
            if ui.button("Go to Training").clicked() {
                ws.send(Command::Show(crate::app::state::workspace::View::Training));
            }
            ui.separator();
            // Label errors need no run: they come from models trained for them.
            ui.heading("Label errors in the whole dataset");
            if let Some(list) = self.label_issues.ui(ui, ws, &dataset) {
                self.show_list(list);
            }
            return;
        }
        self.readers.update(ws, &dataset);
        self.refresh_tiles(ws, &dataset);
        for &action in actions {
            self.act(action, ws);
        }

        egui::Panel::top("review-toolbar").show(ui, |ui| self.toolbar_ui(ui, ws));
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
        egui::CentralPanel::default().show(ui, |ui| {
            let reviewed = ws.reviewed_among(self.tiles.iter().copied());
            if let Some(list) = &self.list {
                let title = list.title(|index| {
                    let patch = dataset.store.patch(index);
                    format!(
                        "patient {} x{} y{}",
                        dataset.store.patient_name(patch),
                        patch.x,
                        patch.y
                    )
                });
                let mut back = false;
                ui.horizontal_wrapped(|ui| {
                    ui.label(format!("{title} · {reviewed} of them reviewed"));
                    if ws.run.is_some() {
                        back = ui.button(format!("Back to {}", self.cell.name())).clicked();
                    } else {
                        back = ui.button("Close the list").clicked();
                    }
                });
                if back {
                    self.leave_list();
                }
            } else {
                if let Some(patient) = self.patient {
                    let mut all = false;
                    ui.horizontal(|ui| {
                        ui.label(format!(
                            "Only patient {}",
                            dataset.store.patients()[patient as usize]
                        ));
                        all = ui.button("All patients").clicked();
                    });
                    if all {
                        self.set_patient(None);
                    }
                }
                ui.label(format!(
                    "{}: {} patches{}, {} first · {reviewed} of {} reviewed",
                    self.cell.name(),
                    self.tiles.len(),
                    match self.filter {
                        ReviewFilter::All => String::new(),
                        filter => format!(" ({})", filter.name()),
                    },
                    if self.cell.is_mistake() {
                        "most confident mistakes"
                    } else {
                        "most confident"
                    },
                    self.tiles.len(),
                ));
            }
            let grid = TileGrid {
                patches: &self.tiles,
                selected: self.current_patch(),
                tile_size: ws.settings.tile_size,
            };
            let run = ws.run.as_ref();
            let listed = self.list.as_ref().map(|list| &list.probabilities);
            let probabilities = |index: usize| {
                listed
                    .and_then(|listed| listed.get(&index).copied())
                    .or_else(|| run.and_then(|run| run.prob_idc(index)))
            };
            let snapshot = ws.marks_snapshot();
            let marks = |index: usize| snapshot.get(&index).copied();
            let clicked = tile_grid_ui(
                ui,
                &mut self.grid,
                grid,
                &dataset,
                &mut ws.tiles,
                &probabilities,
                &marks,
            );
            if let Some(index) = clicked {
                self.current = self.tiles.iter().position(|&tile| tile == index);
            }
        });
        self.remember_place(ws, &dataset);
    }

    /// Recomputes the cell's tiles when the threshold, cell, filter, labels or marks changed.
    fn refresh_tiles(&mut self, ws: &mut Workspace, dataset: &Dataset) {
        match self.alike_search.poll() {
            Some(Ok(alike)) => {
                let mut list = ReviewList::new(ListKind::Alike(alike.clone()), alike.tiles.clone());
                for (&tile, similarity) in alike.tiles.iter().zip(&alike.similarities) {
                    list.reasons.insert(
                        tile,
                        format!("Cosine similarity {similarity:.3} to the tile the search started from."),
                    );
                }
                self.show_list(list);
            }
            Some(Err(message)) => ws.error(format!("could not find patches alike: {message}")),
            None => {}
        }
        if self.list.is_some() || ws.run.is_none() {
            return;
        }
        let Some(run) = &ws.run else {
            return;
        };
        let selection = Selection {
            threshold_bits: self.threshold.to_bits(),
            cell: self.cell,
            filter: self.filter,
            marks_revision: ws.reviews.as_ref().map_or(0, |reviews| reviews.revision()),
            scored_by: run.scored_by.clone(),
            patient: self.patient,
        };
        if self.selection.as_ref() == Some(&selection) {
            return;
        }
        let before = self.current_patch();
        let before_position = self.current;
        self.tiles.clear();
        for row in run.review.cell_rows(self.cell, self.threshold) {
            let Some(index) = run.store_index[row] else {
                continue;
            };
            if self
                .patient
                .is_some_and(|patient| dataset.store.patch(index).patient != patient)
            {
                continue;
            }
            let shown = match self.filter {
                ReviewFilter::All => true,
                ReviewFilter::Unreviewed => !ws.state_of(index).is_reviewed(),
                ReviewFilter::Reviewed => ws.state_of(index).is_reviewed(),
                ReviewFilter::Relabelled => {
                    let label = dataset.store.patch(index).label;
                    ws.state_of(index).judged(label).is_some_and(|judged| {
                        judged != crate::review::Judged::Label(label)
                            && judged != crate::review::Judged::Unsure
                    })
                }
                ReviewFilter::Unsure => ws.state_of(index) == ReviewState::Unsure,
                ReviewFilter::Flagged => ws.mark(index).is_some_and(|mark| mark.flagged),
                ReviewFilter::Disagreements => self.readers.disagrees_on(index),
            };
            if shown {
                self.tiles.push(index);
            }
        }
        if let Some(patch) = self.resume_at.take() {
            self.current = self.tiles.iter().position(|&tile| tile == patch).or(self.current);
        } else if let Some(place) = self.resume.take() {
            let wanted = dataset.find(&place.patient, place.x, place.y);
            self.current = wanted.and_then(|patch| self.tiles.iter().position(|&tile| tile == patch));
        } else {
            // Keep the reader's place: the same tile if it is still shown, else the one that
            // took its position (a judged tile leaves the "unreviewed" list).
            self.current = before
                .and_then(|patch| self.tiles.iter().position(|&tile| tile == patch))
                .or_else(|| before_position.map(|position| position.min(self.tiles.len().saturating_sub(1))));
        }
        if self.current.is_none() && !self.tiles.is_empty() {
            self.current = Some(0);
        }
        if self.tiles.is_empty() {
            self.current = None;
        }
        self.selection = Some(selection);
        self.grid.reveal_selected = true;
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

    /// Does what a key or a button asked.
    pub(in crate::app) fn act(&mut self, action: Action, ws: &mut Workspace) {
        match action {
            Action::Previous => self.step(-1),
            Action::Next => self.step(1),
            Action::NextUnreviewed => self.next_unreviewed(ws),
            Action::NextCell => {
                let at = CELL_ORDER.iter().position(|&cell| cell == self.cell).unwrap_or(0);
                self.select_cell(CELL_ORDER[(at + 1) % CELL_ORDER.len()]);
            }
            Action::FocusNote => self.note.focus(),
            Action::OpenOnSlide => {
                if let Some(index) = self.current_patch()
                    && let Some(dataset) = &ws.dataset
                {
                    ws.send(Command::ShowPatient {
                        patient: dataset.store.patch(index).patient,
                        patch: Some(index),
                        on_slide: true,
                    });
                }
            }
            judging if judging.judges() => {
                if let Some(index) = self.current_patch()
                    && judge_and_advance(ws, index, judging)
                {
                    self.next_unreviewed(ws);
                }
            }
            _ => {} // undo, redo and the sheet are the shell's
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

    /// Moves to the next tile after this one (wrapping round) that the reader has not judged.
    fn next_unreviewed(&mut self, ws: &mut Workspace) {
        let count = self.tiles.len();
        let start = self.current.map_or(0, |position| position + 1);
        let found = (0..count)
            .map(|offset| (start + offset) % count.max(1))
            .find(|&position| !ws.state_of(self.tiles[position]).is_reviewed());
        match found {
            Some(position) => {
                self.current = Some(position);
                self.grid.reveal_selected = true;
            }
            None => ws.info(format!("every patch shown in {} is reviewed", self.cell.name())),
        }
    }

    /// Saves where the reader is, so a reopened run goes on from there.
    fn remember_place(&mut self, ws: &mut Workspace, dataset: &Dataset) {
        let (Some(run), Some(index)) = (&ws.run, self.current_patch()) else {
            return;
        };
        if self.list.is_some() {
            return; // a list's tile need not be in the cell the place names
        }
        let key = dataset.key(index);
        let place = ReviewPlace {
            run: run.folder.root().to_path_buf(),
            cell: self.cell,
            patient: key.patient,
            x: key.x,
            y: key.y,
        };
        if self.saved_place.as_ref() != Some(&place) && self.resume.is_none() {
            self.saved_place = Some(place.clone());
            ws.settings.review_place = Some(place);
            ws.send(Command::SaveSettings);
        }
    }

    fn toolbar_ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace) {
        let Some(run) = &ws.run else {
            return;
        };
        let missed = run.review.matrix(self.threshold).fn_;
        let name = run.name();
        let saved_threshold = run.saved_threshold.clone();
        let mut rescore = None;
        let mut save_threshold = None;
        ui.horizontal_wrapped(|ui| {
            ui.strong(format!("Run {name}"));
            ui.separator();
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
            ui.separator();
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
            ui.separator();
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
                    if let Some(reviews) = &ws.reviews {
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
            ui.separator();
            if ui
                .add_enabled(
                    self.export_dialog.is_none(),
                    egui::Button::new("Export annotations…"),
                )
                .on_hover_text("Every reader's annotations with the corrected labels, as CSV or JSON (.json)")
                .clicked()
            {
                let folder = ws
                    .reviews
                    .as_ref()
                    .map(|reviews| reviews.folder().to_path_buf())
                    .unwrap_or_default();
                self.export_dialog = Some(Task::spawn("idc-save-dialog", ui.ctx(), move || {
                    rfd::FileDialog::new()
                        .set_title("Export annotations")
                        .set_directory(folder)
                        .set_file_name("annotations.csv")
                        .add_filter("CSV", &["csv"])
                        .add_filter("JSON", &["json"])
                        .save_file()
                }));
            }
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
            && ws.reviews.as_ref().map(|reviews| reviews.revision()) != self.readers.scored_revision
        {
            let labels = run.scored_by.clone();
            self.score_against(ws, labels);
        }
    }

    /// Scores the open run against `labels`.
    pub fn score_against(&mut self, ws: &mut Workspace, labels: LabelSource) {
        let (Some(dataset), Some(run)) = (ws.dataset.clone(), ws.run.as_mut()) else {
            return;
        };
        let corrections = match (&labels, &ws.reviews) {
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
    fn take_export_choice(&mut self, ws: &mut Workspace) {
        match take_finished(&mut self.export_dialog) {
            Finished::NotYet | Finished::Done(None) => {}
            Finished::Done(Some(path)) => export_to(ws, path),
            Finished::Failed(why) => ws.error(format!("the save dialog could not be shown: {why}")),
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
            "{} test patches, scored against {}{}; rows: truth, columns: prediction",
            matrix.total(),
            labels_name(&run.scored_by),
            if run.left_out > 0 {
                format!(" ({} left out: unsure or disputed)", run.left_out)
            } else {
                String::new()
            }
        ));
        let idc = matrix.fn_ + matrix.tp;
        let non_idc = matrix.tn + matrix.fp;
        let mut chosen = None;
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
                        let rows = run.review.cell_rows(cell, self.threshold);
                        let reviewed = ws.reviewed_among(rows.iter().filter_map(|&row| run.store_index[row]));
                        let text = format!(
                            "{} ({})\n{count}\n{share:.1}% of {truth}\n{reviewed} of {count} reviewed",
                            cell.name(),
                            cell.short_name()
                        );
                        let mut button = egui::Button::new(text).min_size(egui::vec2(130.0, 80.0));
                        if cell.is_mistake() {
                            button = button.fill(egui::Color32::from_rgba_unmultiplied(200, 60, 60, 50));
                        }
                        if ui.add(button.selected(self.cell == cell)).clicked() {
                            chosen = Some(cell);
                        }
                    }
                    ui.end_row();
                }
            });
        if let Some(cell) = chosen {
            self.select_cell(cell);
        }
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
    }

    fn roc_ui(&self, ui: &mut egui::Ui, ws: &Workspace) {
        let Some(run) = &ws.run else {
            return;
        };
        let curve: Vec<[f64; 2]> = run.review.roc_curve().iter().map(|&(x, y)| [x, y]).collect();
        let (fpr, tpr) = run.review.operating_point(self.threshold);
        Plot::new("roc-curve")
            .height(240.0)
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
            ui.label(match self.filter {
                ReviewFilter::All => "No tile in this cell.".to_string(),
                filter => format!("No {} tile in this cell.", filter.name()),
            });
            return;
        };
        let patch = dataset.store.patch(index);
        let mut actions = Vec::new();
        ui.horizontal(|ui| {
            if ui
                .button("Previous")
                .on_hover_text(Action::Previous.tooltip())
                .clicked()
            {
                actions.push(Action::Previous);
            }
            ui.label(format!("{} of {}", position + 1, self.tiles.len()));
            if ui.button("Next").on_hover_text(Action::Next.tooltip()).clicked() {
                actions.push(Action::Next);
            }
        });
        let listed = self
            .list
            .as_ref()
            .and_then(|list| list.probabilities.get(&index).copied());
        let prob = match listed {
            Some(prob) => Some(Some(prob)),
            None => ws.run.as_ref().map(|run| run.prob_idc(index)),
        };
        patch_card_ui(ui, dataset, &mut ws.tiles, index, prob);
        if let Some(reason) = self.list.as_ref().and_then(|list| list.reasons.get(&index)) {
            ui.label(reason);
        }
        if matches!(
            self.list.as_ref().map(|list| &list.kind),
            Some(ListKind::SuspectedLabels)
        ) {
            let given = patch.label;
            ui.horizontal(|ui| {
                if ui
                    .button(format!("Confirm: it is {}", given.other().name()))
                    .on_hover_text("The label is wrong: relabels the patch (the same as the relabel key)")
                    .clicked()
                {
                    actions.push(match given.other() {
                        Label::Idc => Action::RelabelIdc,
                        Label::NonIdc => Action::RelabelNonIdc,
                    });
                }
                if ui
                    .button(format!("Reject: it is {}", given.name()))
                    .on_hover_text("The label is right (the same as Agree)")
                    .clicked()
                {
                    actions.push(Action::Agree);
                }
            });
        }
        if ui
            .button("Open on slide")
            .on_hover_text(Action::OpenOnSlide.tooltip())
            .clicked()
        {
            actions.push(Action::OpenOnSlide);
        }
        let searching = self.alike_search.is_pending();
        if ui
            .add_enabled(
                !searching && ws.run.is_some(),
                egui::Button::new(if searching {
                    "Finding alike…"
                } else {
                    "More like this"
                }),
            )
            .on_hover_text("The patches of the whole dataset most like this one, by the run's model")
            .clicked()
        {
            self.show_alike(ui.ctx(), ws, index);
        }
        ui.separator();
        actions.extend(annotation_panel_ui(ui, ws, index, &mut self.note));
        ui.weak("Saved as you make it; the image files are never changed.");
        ui.separator();
        self.neighbours_ui(ui, ws, dataset, index, patch.patient);
        for action in actions {
            self.act(action, ws);
        }
    }

    fn neighbours_ui(
        &mut self,
        ui: &mut egui::Ui,
        ws: &mut Workspace,
        dataset: &Dataset,
        index: usize,
        patient: u32,
    ) {
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
                        if let Some(mark) = ws.mark(*neighbour) {
                            crate::app::widgets::annotation_panel::paint_tile_mark(ui.painter(), rect, mark);
                        }
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

/// How the labels a run is scored against are named on screen.
pub fn labels_name(labels: &LabelSource) -> String {
    match labels {
        LabelSource::Dataset => "the dataset's labels".into(),
        LabelSource::Reviewed { reader: None } => "reviewed labels (all readers' consensus)".into(),
        LabelSource::Reviewed { reader: Some(reader) } => format!("{reader}'s reviewed labels"),
    }
}

/// Saves `threshold` with the open run (through the file writer, atomically), for Review to
/// open at and `eval` and `predict` to use.
fn save_threshold_with_run(ws: &mut Workspace, threshold: f32) {
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
pub fn export_to(ws: &mut Workspace, path: PathBuf) {
    let Some(reviews) = &ws.reviews else {
        ws.error("open a dataset before exporting its annotations");
        return;
    };
    let rows = export_rows(reviews, None);
    let count = rows.len();
    let bytes = export_bytes(&rows, ExportFormat::for_path(&path));
    ws.saver.save(path.clone(), bytes);
    ws.info(format!("exporting {count} annotations to {}", path.display()));
}
