//! The current tile at full size with its annotation panel, and its neighbours on the slide.

use std::sync::Arc;

use super::lists::ListKind;
use super::{ReviewFilter, ReviewView};
use crate::app::shortcuts::Action;
use crate::app::state::workspace::Workspace;
use crate::app::widgets::annotation_panel::annotation_panel_ui;
use crate::app::widgets::tile_grid::{CardProbability, IDC_COLOUR, NON_IDC_COLOUR, patch_card_ui};
use crate::dataset::Dataset;
use crate::dataset::{Label, SlideLayout};

impl ReviewView {
    pub(super) fn current_tile_ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace, dataset: &Dataset) {
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
        let prob = CardProbability::of_run(
            ws.run.is_some(),
            listed.or_else(|| ws.run.as_ref().and_then(|run| run.prob_idc(index))),
        );
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
        for intent in annotation_panel_ui(ui, ws, index, &mut self.note) {
            actions.extend(ws.take_intent(index, intent));
        }
        ui.weak("Saved as you make it; the image files are never changed.");
        ui.separator();
        self.neighbours_ui(ui, ws, dataset, index, patch.patient);
        for action in actions {
            self.act(action, ws);
        }
    }

    pub(super) fn neighbours_ui(
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
