//! The runs of a folder side by side: one row a run, its device, epochs, time and test scores,
//! then the settings that set it apart, sorted by any column; a tick per run to overlay its
//! validation curves with the others'. W&B's runs table, on the desktop.

use std::collections::BTreeSet;
use std::path::PathBuf;

use egui_extras::{Column, TableBuilder};
use egui_plot::{Legend, Line, Plot, PlotPoints};

use crate::training::events::format_duration;
use crate::training::{EpochMetrics, RunState, RunSummary, differing_settings};

/// A column the table sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunColumn {
    Name,
    Device,
    Epochs,
    Time,
    Accuracy,
    Sensitivity,
    Specificity,
    BalancedAccuracy,
    Auc,
}

impl RunColumn {
    const SORTABLE: [RunColumn; 9] = [
        RunColumn::Name,
        RunColumn::Device,
        RunColumn::Epochs,
        RunColumn::Time,
        RunColumn::Accuracy,
        RunColumn::Sensitivity,
        RunColumn::Specificity,
        RunColumn::BalancedAccuracy,
        RunColumn::Auc,
    ];

    fn title(self) -> &'static str {
        match self {
            RunColumn::Name => "Run",
            RunColumn::Device => "Device",
            RunColumn::Epochs => "Epochs",
            RunColumn::Time => "Time",
            RunColumn::Accuracy => "Accuracy",
            RunColumn::Sensitivity => "Sensitivity",
            RunColumn::Specificity => "Specificity",
            RunColumn::BalancedAccuracy => "Balanced",
            RunColumn::Auc => "AUC",
        }
    }

    /// The value sorted on: text for names and devices, a number for the rest (an unfinished
    /// run's scores sort below every finished one's).
    fn key(self, run: &RunSummary) -> SortKey {
        let score = |pick: fn(&crate::metrics::Metrics) -> f64| {
            SortKey::Number(run.metrics().map_or(f64::NEG_INFINITY, pick))
        };
        match self {
            RunColumn::Name => SortKey::Text(run.name.clone()),
            RunColumn::Device => SortKey::Text(run.device()),
            RunColumn::Epochs => SortKey::Number(run.epochs.len() as f64),
            RunColumn::Time => SortKey::Number(run.training_seconds()),
            RunColumn::Accuracy => score(|m| m.accuracy),
            RunColumn::Sensitivity => score(|m| m.sensitivity),
            RunColumn::Specificity => score(|m| m.specificity),
            RunColumn::BalancedAccuracy => score(|m| m.balanced_accuracy),
            RunColumn::Auc => score(|m| m.roc_auc.unwrap_or(f64::NEG_INFINITY)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum SortKey {
    Text(String),
    Number(f64),
}

/// What the person asked of a run in the table.
#[derive(Debug, Clone, PartialEq)]
pub enum RunAction {
    Open(PathBuf),
    Resume(PathBuf),
    Curves(PathBuf),
}

pub struct RunsTable {
    pub sort: RunColumn,
    pub descending: bool,
    /// Show only the settings in which the runs differ (else every setting).
    pub only_differing: bool,
    /// Runs whose validation curves are overlaid.
    pub compared: BTreeSet<PathBuf>,
}

impl Default for RunsTable {
    fn default() -> Self {
        Self {
            sort: RunColumn::Name,
            descending: true,
            only_differing: true,
            compared: BTreeSet::new(),
        }
    }
}

impl RunsTable {
    /// `runs` in the table's order.
    pub fn sorted<'a>(&self, runs: &'a [RunSummary]) -> Vec<&'a RunSummary> {
        let mut sorted: Vec<&RunSummary> = runs.iter().collect();
        sorted.sort_by(|a, b| {
            let order = self
                .sort
                .key(a)
                .partial_cmp(&self.sort.key(b))
                .unwrap_or(std::cmp::Ordering::Equal);
            if self.descending { order.reverse() } else { order }
        });
        sorted
    }

    /// Clicking a column's title sorts by it; clicking it again turns the order round.
    pub fn sort_by(&mut self, column: RunColumn) {
        if self.sort == column {
            self.descending = !self.descending;
        } else {
            self.sort = column;
            // Names read newest first; scores best first; time and epochs most first.
            self.descending = true;
        }
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, runs: &[RunSummary], can_resume: bool) -> Option<RunAction> {
        let differing = differing_settings(runs);
        ui.horizontal(|ui| {
            ui.checkbox(&mut self.only_differing, "Only settings that differ");
            if !self.compared.is_empty() && ui.button("Clear comparison").clicked() {
                self.compared.clear();
            }
        });
        let shown_settings: Vec<&str> = if self.only_differing {
            differing
        } else {
            runs.first()
                .map(|run| run.settings().into_iter().map(|(name, _)| name).collect())
                .unwrap_or_default()
        };
        let mut action = None;
        let mut clicked_column = None;
        let sorted = self.sorted(runs);
        // ASCII: the bundled fonts have no arrow glyphs.
        let arrow = if self.descending { " v" } else { " ^" };
        TableBuilder::new(ui)
            .id_salt("runs-table")
            .striped(true)
            .resizable(true)
            .max_scroll_height(320.0)
            .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
            .column(Column::auto())
            .column(Column::auto())
            .column(Column::auto().at_least(140.0))
            .columns(Column::auto(), RunColumn::SORTABLE.len() - 1)
            // Settings last, taking what is left: a long list of settings must not push the
            // scores out of a narrow window.
            .column(Column::remainder().at_least(60.0).clip(true))
            .header(22.0, |mut header| {
                header.col(|ui| {
                    ui.strong("Compare");
                });
                header.col(|ui| {
                    ui.strong("");
                });
                let mut title = |header: &mut egui_extras::TableRow, column: RunColumn| {
                    header.col(|ui| {
                        let text = if self.sort == column {
                            format!("{}{arrow}", column.title())
                        } else {
                            column.title().to_string()
                        };
                        if ui
                            .button(text)
                            .on_hover_text(format!("Sort by {}", column.title().to_lowercase()))
                            .clicked()
                        {
                            clicked_column = Some(column);
                        }
                    });
                };
                for column in RunColumn::SORTABLE {
                    title(&mut header, column);
                }
                header.col(|ui| {
                    ui.strong("Settings");
                });
            })
            .body(|body| {
                body.rows(24.0, sorted.len(), |mut row| {
                    let run = sorted[row.index()];
                    let asked = self.row_ui(&mut row, run, &shown_settings, can_resume);
                    action = action.take().or(asked);
                });
            });
        if let Some(column) = clicked_column {
            self.sort_by(column);
        }
        action
    }

    /// One run's row: its tick, buttons, name, device, epochs, time, scores and settings; what
    /// its buttons asked, if anything.
    fn row_ui(
        &mut self,
        row: &mut egui_extras::TableRow,
        run: &RunSummary,
        shown_settings: &[&str],
        can_resume: bool,
    ) -> Option<RunAction> {
        let mut action = None;
        row.col(|ui| {
            let mut ticked = self.compared.contains(&run.folder);
            let can_compare = !run.epochs.is_empty();
            let response = ui
                .add_enabled(can_compare, egui::Checkbox::without_text(&mut ticked))
                .on_hover_text("Overlay its validation curves");
            response.widget_info(|| {
                egui::WidgetInfo::selected(
                    egui::Role::CheckBox,
                    can_compare,
                    ticked,
                    format!("compare {}", run.name),
                )
            });
            if response.changed() {
                if ticked {
                    self.compared.insert(run.folder.clone());
                } else {
                    self.compared.remove(&run.folder);
                }
            }
        });
        row.col(|ui| {
            action = run_buttons(ui, run, can_resume);
        });
        row.col(|ui| {
            ui.label(&run.name);
        });
        row.col(|ui| {
            ui.label(run.device());
        });
        row.col(|ui| {
            ui.label(run.epochs.len().to_string());
        });
        row.col(|ui| {
            ui.label(format_duration(run.training_seconds()));
        });
        let metrics = run.metrics();
        for pick in [
            |m: &crate::metrics::Metrics| Some(m.accuracy),
            |m: &crate::metrics::Metrics| Some(m.sensitivity),
            |m: &crate::metrics::Metrics| Some(m.specificity),
            |m: &crate::metrics::Metrics| Some(m.balanced_accuracy),
            |m: &crate::metrics::Metrics| m.roc_auc,
        ] {
            row.col(|ui| {
                ui.label(
                    metrics
                        .and_then(pick)
                        .map_or_else(|| "–".into(), |v| format!("{v:.3}")),
                );
            });
        }
        row.col(|ui| {
            let settings = run.describe_settings(shown_settings);
            ui.label(&settings).on_hover_text(settings);
        });
        action
    }

    /// The validation loss and accuracy of each compared run, one line a run.
    pub fn overlay_ui(&self, ui: &mut egui::Ui, runs: &[RunSummary]) {
        let compared: Vec<&RunSummary> = runs
            .iter()
            .filter(|run| self.compared.contains(&run.folder))
            .collect();
        if compared.is_empty() {
            return;
        }
        ui.strong(format!("Validation curves of {} runs", compared.len()));
        let group = egui::Id::unique("compared-runs");
        for (id, y_label, pick) in [
            (
                "compare-loss",
                "validation loss",
                (|e: &EpochMetrics| e.validation_loss) as fn(&EpochMetrics) -> f64,
            ),
            ("compare-accuracy", "validation accuracy", |e| {
                e.validation_accuracy
            }),
        ] {
            Plot::new(id)
                .height(160.0)
                .legend(Legend::default())
                .link_axis(group, [true, false])
                .x_axis_label("epoch")
                .y_axis_label(y_label)
                .show(ui, |plot| {
                    for run in &compared {
                        let points: PlotPoints = run
                            .epochs
                            .iter()
                            .map(|epoch| [epoch.epoch as f64, pick(epoch)])
                            .collect();
                        plot.line(Line::new(run.name.clone(), points));
                    }
                });
        }
    }
}

/// The buttons of a run's row: open a finished run in Review, resume an unfinished one, and
/// show either's curves in the plots above.
fn run_buttons(ui: &mut egui::Ui, run: &RunSummary, can_resume: bool) -> Option<RunAction> {
    let mut action = None;
    match &run.state {
        RunState::Finished(_) => {
            if ui.button("Open in Review").clicked() {
                action = Some(RunAction::Open(run.folder.clone()));
            }
        }
        RunState::Unfinished { completed_epochs } => {
            let planned = run.info.as_ref().map_or(0, |info| info.config.epochs);
            if ui
                .add_enabled(can_resume, egui::Button::new("Resume"))
                .on_hover_text(format!(
                    "{completed_epochs} of {planned} epochs done: continue from the last checkpoint up to the form's epochs."
                ))
                .clicked()
            {
                action = Some(RunAction::Resume(run.folder.clone()));
            }
        }
        RunState::Damaged(why) => {
            ui.colored_label(ui.visuals().error_fg_color, "damaged")
                .on_hover_text(why);
        }
    }
    if !matches!(run.state, RunState::Damaged(_)) && ui.button("Curves").clicked() {
        action = Some(RunAction::Curves(run.folder.clone()));
    }
    action
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_by_a_column_twice_turns_the_order_round() {
        let mut table = RunsTable::default();
        table.sort_by(RunColumn::Auc);
        assert_eq!((table.sort, table.descending), (RunColumn::Auc, true));
        table.sort_by(RunColumn::Auc);
        assert!(!table.descending);
    }
}
