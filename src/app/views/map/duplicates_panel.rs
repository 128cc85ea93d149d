//! The Map view's duplicates panel: start the search, then the copies, the label conflicts
//! among them and each split's leak, with the conflicts and the leaked copies one click from
//! Review.

use std::sync::Arc;

use crate::app::background::duplicates::{DuplicatesFound, DuplicatesWork};
use crate::app::state::workspace::{Command, Workspace};
use crate::dataset::Dataset;
use crate::review::duplicates::NEAR_LEVELS;

#[derive(Default)]
pub struct DuplicatesPanel {
    work: DuplicatesWork,
}

impl DuplicatesPanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace, dataset: &Arc<Dataset>) {
        self.work.poll();
        ui.heading("Duplicates and leaks");
        if self.work.is_running() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Comparing every patch's pixels...");
            });
            return;
        }
        let run = ws.run.as_ref().map(|run| run.folder.root().to_path_buf());
        let label = if self.work.found.is_some() {
            "Search again"
        } else {
            "Find duplicates"
        };
        if ui
            .button(label)
            .on_hover_text(
                "Identical and nearly identical patches, and how many test patches have one in training",
            )
            .clicked()
        {
            self.work.start(ui.ctx(), &dataset.store, run);
        }
        if let Some(error) = &self.work.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        if let Some(found) = self.work.found.clone() {
            found_ui(ui, ws, dataset, &found);
        }
    }
}

fn found_ui(ui: &mut egui::Ui, ws: &mut Workspace, dataset: &Dataset, found: &DuplicatesFound) {
    let store = &dataset.store;
    let duplicates = &found.duplicates;
    let conflicts = duplicates.label_conflicts(store);
    ui.label(format!(
        "{} groups of identical patches ({} patches); {} given both labels.",
        duplicates.exact.len(),
        duplicates.patches_with_copies(),
        conflicts.len()
    ));
    if !conflicts.is_empty() && ui.button("Review the label conflicts").clicked() {
        let tiles = conflicts.iter().flat_map(|group| group.iter().copied()).collect();
        ws.send(Command::ReviewTiles {
            heading: "Identical patches given both labels".into(),
            tiles,
        });
    }
    let near_conflicts = duplicates.near_conflicts(store);
    ui.label(format!(
        "{} near-duplicate pairs (block colours within {NEAR_LEVELS} levels); {} given different labels.",
        duplicates.near.len(),
        near_conflicts.len()
    ));
    if !duplicates.near.is_empty() && ui.button("Review the near-duplicates").clicked() {
        let tiles = duplicates
            .near
            .iter()
            .take(500)
            .flat_map(|pair| [pair.a, pair.b])
            .collect();
        ws.send(Command::ReviewTiles {
            heading: "Near-duplicate pairs, most alike first".into(),
            tiles,
        });
    }
    ui.add_space(6.0);
    ui.strong("Test patches whose nearest training patch is...");
    egui::Grid::new("leaks").striped(true).show(ui, |ui| {
        for heading in ["split", "a copy", "a near-copy", "same patient"] {
            ui.strong(heading);
        }
        ui.end_row();
        for leak in &found.leaks {
            let cell = |count: Option<usize>| {
                count.map_or("-".to_string(), |count| {
                    format!("{count} ({:.1}%)", 100.0 * leak.share(count))
                })
            };
            ui.label(&leak.split);
            ui.label(cell(leak.exact_copy_in_training));
            ui.label(cell(leak.near_duplicate_in_training));
            ui.label(cell(Some(leak.nearest_same_patient)));
            ui.end_row();
        }
    });
    ui.weak(
        "A split by patch puts neighbouring tiles of one slide on both sides: the test part is then partly \
         seen in training, and its scores flatter the model.",
    );
}
