//! Review's calibration panel, beside the ROC: does P(IDC) = 0.8 mean 80%? The reliability
//! diagram in equal-width or equal-count bins, the scores, temperature scaling fitted on the
//! validation part shown as before and after (never applied to the verdicts), and the patients
//! whose predictions are least calibrated.

use std::sync::Arc;

use egui_plot::{HoverPosition, Line, PlotPoints, Points};

use crate::app::widgets::tile_grid::{IDC_COLOUR, NON_IDC_COLOUR};
use crate::metrics::calibration::{Binning, CalibrationScores, ReliabilityBin};
use crate::review::OpenRun;
use crate::review::calibration::RunCalibration;

/// What the shown calibration was computed from: the run, its scoring and the binning.
#[derive(Clone, PartialEq)]
struct CalibrationKey {
    run: std::path::PathBuf,
    scored_by: String,
    rows: usize,
    idc: usize,
    binning: Binning,
}

pub struct CalibrationPanel {
    binning: Binning,
    show_scaled: bool,
    /// Shared, so a frame takes it without copying the patients' table.
    computed: Option<(CalibrationKey, Arc<RunCalibration>)>,
}

impl Default for CalibrationPanel {
    fn default() -> Self {
        Self {
            binning: Binning::EqualWidth,
            show_scaled: false,
            computed: None,
        }
    }
}

/// The colour of the scaled predictions: neither class's.
const SCALED_COLOUR: egui::Color32 = egui::Color32::from_rgb(230, 150, 40);

impl CalibrationPanel {
    /// The run's calibration, computed again only when the run, its labels or the bins change.
    fn calibration(&mut self, run: &OpenRun) -> Arc<RunCalibration> {
        let rows = run.review.rows();
        let key = CalibrationKey {
            run: run.folder.root().to_path_buf(),
            scored_by: format!("{:?}", run.scored_by),
            rows: rows.len(),
            idc: rows
                .iter()
                .filter(|row| row.label == crate::dataset::Label::Idc)
                .count(),
            binning: self.binning,
        };
        if self
            .computed
            .as_ref()
            .is_none_or(|(computed, _)| *computed != key)
        {
            self.computed = Some((key, Arc::new(RunCalibration::of(run, self.binning))));
        }
        Arc::clone(&self.computed.as_ref().expect("computed just now").1)
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, run: &OpenRun) {
        ui.horizontal(|ui| {
            ui.label("Bins:");
            ui.radio_value(&mut self.binning, Binning::EqualWidth, "equal width")
                .on_hover_text(
                    "0–0.1, 0.1–0.2, …: easy to read; a sure model leaves the middle bins nearly empty",
                );
            ui.radio_value(&mut self.binning, Binning::EqualCount, "equal count")
                .on_hover_text("Each bin holds as many test patches as the next");
        });
        let mut show_scaled = self.show_scaled;
        let calibration = self.calibration(run);
        match (calibration.scaled(), calibration.why_not_scaled()) {
            (Some(scaled), _) => {
                ui.checkbox(&mut show_scaled, "Show after temperature scaling")
                    .on_hover_text("Only shown: the run's verdicts and scores stay as they are");
                ui.label(format!(
                    "T = {:.2}, fitted on the validation part ({} patches){}",
                    scaled.temperature,
                    scaled.validation_patches,
                    if scaled.temperature > 1.0 {
                        ": the model is overconfident"
                    } else {
                        ": the model is underconfident"
                    }
                ));
            }
            (None, Some(why)) => {
                ui.label(egui::RichText::new(why).weak());
            }
            (None, None) => {}
        }
        self.show_scaled = show_scaled;
        let scaled = calibration.scaled().filter(|_| show_scaled);
        reliability_plot(ui, &calibration.bins, scaled.map(|scaled| scaled.bins.as_slice()));
        scores_grid(ui, &calibration.scores, scaled.map(|scaled| &scaled.scores));
        egui::CollapsingHeader::new("Bins")
            .id_salt("calibration-bins")
            .show(ui, |ui| bins_grid(ui, &calibration.bins));
        egui::CollapsingHeader::new("Patients, least calibrated first")
            .id_salt("calibration-patients")
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("calibration-patients-scroll")
                    .max_height(220.0)
                    .show(ui, |ui| {
                        egui::Grid::new("calibration-patients-grid")
                            .striped(true)
                            .show(ui, |ui| {
                                for heading in
                                    ["Patient", "Patches", "ECE", "Brier", "IDC share", "Mean P(IDC)"]
                                {
                                    ui.strong(heading);
                                }
                                ui.end_row();
                                for patient in &calibration.per_patient {
                                    ui.label(&patient.patient);
                                    ui.monospace(patient.scores.patches.to_string());
                                    ui.monospace(format!("{:.3}", patient.scores.ece));
                                    ui.monospace(format!("{:.3}", patient.scores.brier));
                                    ui.monospace(format!("{:.2}", patient.idc_share));
                                    ui.monospace(format!("{:.2}", patient.mean_prob_idc));
                                    ui.end_row();
                                }
                            });
                    });
            });
    }
}

fn bin_points(bins: &[ReliabilityBin]) -> Vec<[f64; 2]> {
    bins.iter()
        .map(|bin| [bin.mean_predicted, bin.observed_rate])
        .collect()
}

fn reliability_plot(ui: &mut egui::Ui, bins: &[ReliabilityBin], scaled: Option<&[ReliabilityBin]>) {
    let shown: Vec<ReliabilityBin> = bins.to_vec();
    let shown_scaled: Vec<ReliabilityBin> = scaled.map(<[ReliabilityBin]>::to_vec).unwrap_or_default();
    super::matrix::unit_square_plot("reliability-diagram")
        .x_axis_label("mean predicted P(IDC)")
        .y_axis_label("observed IDC rate")
        .label_formatter(move |hover| {
            // A bin's point tells how many patches it stands for.
            let HoverPosition::NearDataPoint { plot_name, index, .. } = hover else {
                return None;
            };
            let bins = match *plot_name {
                "as predicted" => &shown,
                "after temperature scaling" => &shown_scaled,
                _ => return None,
            };
            let bin = bins.get(*index)?;
            Some(format!(
                "{plot_name}\nP(IDC) {:.2}–{:.2}: {} patches\npredicted {:.3}, observed {:.3}",
                bin.low, bin.high, bin.count, bin.mean_predicted, bin.observed_rate
            ))
        })
        .show(ui, |plot| {
            plot.line(
                Line::new("perfectly calibrated", vec![[0.0, 0.0], [1.0, 1.0]]).color(egui::Color32::GRAY),
            );
            plot.line(Line::new("as predicted", PlotPoints::from(bin_points(bins))).color(NON_IDC_COLOUR));
            plot.points(
                Points::new("as predicted", PlotPoints::from(bin_points(bins)))
                    .radius(4.0)
                    .color(IDC_COLOUR),
            );
            if let Some(scaled) = scaled {
                plot.line(
                    Line::new("after temperature scaling", PlotPoints::from(bin_points(scaled)))
                        .color(SCALED_COLOUR),
                );
            }
        });
}

/// A score's name, what it means, and where it is read from.
type ScoreRow = (&'static str, &'static str, fn(&CalibrationScores) -> f64);

fn scores_grid(ui: &mut egui::Ui, scores: &CalibrationScores, scaled: Option<&CalibrationScores>) {
    egui::Grid::new("calibration-scores").show(ui, |ui| {
        ui.strong(format!("Test part, {} patches", scores.patches));
        ui.strong("as predicted");
        if scaled.is_some() {
            ui.strong("after scaling");
        }
        ui.end_row();
        let rows: [ScoreRow; 3] = [
            (
                "Expected calibration error",
                "The patch-weighted gap between predicted and observed, in 10 equal-width bins (0 is perfect)",
                |scores| scores.ece,
            ),
            (
                "Brier score",
                "Mean squared difference between P(IDC) and the label (0 is perfect)",
                |scores| scores.brier,
            ),
            (
                "Log loss",
                "Mean negative log-likelihood of the labels (0 is perfect)",
                |scores| scores.log_loss,
            ),
        ];
        for (name, meaning, value) in rows {
            ui.label(name).on_hover_text(meaning);
            ui.monospace(format!("{:.4}", value(scores)));
            if let Some(scaled) = scaled {
                ui.monospace(format!("{:.4}", value(scaled)));
            }
            ui.end_row();
        }
    });
}

fn bins_grid(ui: &mut egui::Ui, bins: &[ReliabilityBin]) {
    egui::Grid::new("calibration-bins-grid")
        .striped(true)
        .show(ui, |ui| {
            for heading in ["P(IDC)", "Patches", "Predicted", "Observed"] {
                ui.strong(heading);
            }
            ui.end_row();
            for bin in bins {
                ui.monospace(format!("{:.2}–{:.2}", bin.low, bin.high));
                ui.monospace(bin.count.to_string());
                ui.monospace(format!("{:.3}", bin.mean_predicted));
                ui.monospace(format!("{:.3}", bin.observed_rate));
                ui.end_row();
            }
        });
}
