//! The confusion matrix whose cells choose the tiles, the metrics at the threshold, and the
//! ROC curve with the threshold's operating point.

use egui_plot::{Line, Plot, Points};

use super::ReviewView;
use super::toolbar::labels_name;
use crate::app::state::workspace::Workspace;
use crate::app::widgets::tile_grid::{IDC_COLOUR, NON_IDC_COLOUR};
use crate::review::Cell;

impl ReviewView {
    pub(super) fn matrix_ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace) {
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

    pub(super) fn roc_ui(&self, ui: &mut egui::Ui, ws: &Workspace) {
        let Some(run) = &ws.run else {
            return;
        };
        let curve: Vec<[f64; 2]> = run.review.roc_curve().iter().map(|&(x, y)| [x, y]).collect();
        let (fpr, tpr) = run.review.operating_point(self.threshold);
        unit_square_plot("roc-curve")
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
}

/// A square plot of 0..1 on both axes, fixed: the wheel scrolls the panel, not the plot.
pub(super) fn unit_square_plot(id: &str) -> Plot<'static> {
    Plot::new(id)
        .allow_scroll(false)
        .allow_zoom(false)
        .allow_drag(false)
        .height(240.0)
        .data_aspect(1.0)
        .include_x(0.0)
        .include_x(1.0)
        .include_y(0.0)
        .include_y(1.0)
}
