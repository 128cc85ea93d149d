//! The tiles Review shows and the reader's place among them: the cell's (or list's) tiles
//! recomputed when what picks them changes, the moves the keys make, and the place remembered
//! for the next session.

use super::lists::{ListKind, ReviewList};
use super::{CELL_ORDER, ReviewFilter, ReviewView, Selection};
use crate::app::shortcuts::Action;
use crate::app::state::settings::ReviewPlace;
use crate::app::state::tile_cursor::{TileMove, moved_to};
use crate::app::state::workspace::{Command, Workspace};
use crate::app::widgets::tile_grid::{TileGrid, tile_grid_ui};
use crate::dataset::Dataset;
use crate::review::ReviewState;

impl ReviewView {
    /// The tiles of the cell or list in a grid, under a line saying what they are and how many
    /// the reader has judged.
    pub(super) fn grid_ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace, dataset: &Dataset) {
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
            dataset,
            &mut ws.tiles,
            &probabilities,
            &marks,
        );
        if let Some(index) = clicked {
            self.current = self.tiles.iter().position(|&tile| tile == index);
        }
    }

    /// Recomputes the cell's tiles when the threshold, cell, filter, labels or marks changed.
    pub(super) fn refresh_tiles(&mut self, ws: &mut Workspace, dataset: &Dataset) {
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
            marks_revision: ws
                .annotating
                .reviews
                .as_ref()
                .map_or(0, |reviews| reviews.revision()),
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
                    && ws.judge_and_advance(index, judging)
                {
                    self.next_unreviewed(ws);
                }
            }
            _ => {} // undo, redo and the sheet are the shell's
        }
    }

    /// Moves to the next (`+1`) or previous (`-1`) tile of the cell.
    pub fn step(&mut self, by: isize) {
        if let Some(position) = moved_to(&self.tiles, self.current, TileMove::By(by), |_| false) {
            self.current = Some(position);
            self.grid.reveal_selected = true;
        }
    }

    /// Moves to the next tile after this one (wrapping round) that the reader has not judged.
    pub(super) fn next_unreviewed(&mut self, ws: &mut Workspace) {
        let reviewed = |index: usize| ws.state_of(index).is_reviewed();
        match moved_to(&self.tiles, self.current, TileMove::NextUnreviewed, reviewed) {
            Some(position) => {
                self.current = Some(position);
                self.grid.reveal_selected = true;
            }
            None => ws.info(format!("every patch shown in {} is reviewed", self.cell.name())),
        }
    }

    /// Saves where the reader is, so a reopened run goes on from there.
    pub(super) fn remember_place(&mut self, ws: &mut Workspace, dataset: &Dataset) {
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
}
