//! The Review view's "Patients" panel: the open run's test results patient by patient, sortable,
//! with the share of missed cancers the worst three hold; a row narrows Review to that patient.

use egui_extras::{Column, TableBuilder};

use crate::app::state::workspace::Workspace;
use crate::review::patients::{PatientResult, missed_share_of_top, results_by_patient};

/// A column the table sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatientColumn {
    Patient,
    Test,
    Idc,
    Missed,
    FalseAlarms,
    Sensitivity,
    Specificity,
}

impl PatientColumn {
    const ALL: [PatientColumn; 7] = [
        PatientColumn::Patient,
        PatientColumn::Test,
        PatientColumn::Idc,
        PatientColumn::Missed,
        PatientColumn::FalseAlarms,
        PatientColumn::Sensitivity,
        PatientColumn::Specificity,
    ];

    fn title(self) -> &'static str {
        match self {
            PatientColumn::Patient => "Patient",
            PatientColumn::Test => "Test",
            PatientColumn::Idc => "IDC",
            PatientColumn::Missed => "Missed",
            PatientColumn::FalseAlarms => "False alarms",
            PatientColumn::Sensitivity => "Sens.",
            PatientColumn::Specificity => "Spec.",
        }
    }

    /// Orders two patients by this column, ascending; a rate a patient has no patch for sorts
    /// below every rate.
    fn compare(self, a: &PatientResult, b: &PatientResult) -> std::cmp::Ordering {
        let rate = |value: Option<f64>| value.unwrap_or(f64::NEG_INFINITY);
        match self {
            PatientColumn::Patient => a.patient.cmp(&b.patient),
            PatientColumn::Test => a.test_patches().cmp(&b.test_patches()),
            PatientColumn::Idc => a.idc_patches().cmp(&b.idc_patches()),
            PatientColumn::Missed => a.missed().cmp(&b.missed()),
            PatientColumn::FalseAlarms => a.false_alarms().cmp(&b.false_alarms()),
            PatientColumn::Sensitivity => rate(a.sensitivity()).total_cmp(&rate(b.sensitivity())),
            PatientColumn::Specificity => rate(a.specificity()).total_cmp(&rate(b.specificity())),
        }
    }
}

/// What the rows were computed from.
#[derive(Debug, Clone, PartialEq)]
struct Basis {
    run: std::path::PathBuf,
    threshold_bits: u32,
    rows: usize,
    scored_by: crate::dataset::LabelSource,
}

pub struct PatientsPanel {
    pub sort: PatientColumn,
    pub descending: bool,
    results: Option<(Basis, Vec<PatientResult>)>,
    /// The share of missed cancers the three patients with the most hold.
    top_share: f64,
}

impl Default for PatientsPanel {
    fn default() -> Self {
        Self {
            sort: PatientColumn::Missed,
            descending: true,
            results: None,
            top_share: 0.0,
        }
    }
}

impl PatientsPanel {
    /// Clicking a column's title sorts by it; clicking it again turns the order round.
    pub fn sort_by(&mut self, column: PatientColumn) {
        if self.sort == column {
            self.descending = !self.descending;
        } else {
            self.sort = column;
            self.descending = column != PatientColumn::Patient;
        }
        if let Some((_, results)) = &mut self.results {
            sort(results, column, self.descending);
        }
    }

    /// The patients in the order shown.
    pub fn results(&self) -> &[PatientResult] {
        self.results.as_ref().map_or(&[], |(_, results)| results)
    }

    /// Draws the table; returns the patient whose row the reader chose.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        ws: &Workspace,
        threshold: f32,
        only: Option<&str>,
    ) -> Option<String> {
        let run = ws.run.as_ref()?;
        let basis = Basis {
            run: run.folder.root().to_path_buf(),
            threshold_bits: threshold.to_bits(),
            rows: run.review.rows().len(),
            scored_by: run.scored_by.clone(),
        };
        if self
            .results
            .as_ref()
            .is_none_or(|(computed, _)| *computed != basis)
        {
            let mut results = results_by_patient(run.review.rows(), threshold);
            // The share is of the patients with the most missed, whatever the shown order.
            let share = missed_share_of_top(&results, 3);
            sort(&mut results, self.sort, self.descending);
            self.results = Some((basis, results));
            self.top_share = share;
        }
        let results = self.results();
        let missed: usize = results.iter().map(PatientResult::missed).sum();
        ui.label(format!(
            "{} patients in the test part; the 3 with the most missed cancers hold {:.0}% of the {missed}.",
            results.len(),
            100.0 * self.top_share
        ));
        let mut chosen = None;
        let mut clicked_column = None;
        let arrow = if self.descending { " v" } else { " ^" };
        TableBuilder::new(ui)
            .id_salt("review-patients")
            .striped(true)
            .max_scroll_height(220.0)
            .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
            .columns(Column::auto(), PatientColumn::ALL.len())
            .header(20.0, |mut header| {
                for column in PatientColumn::ALL {
                    header.col(|ui| {
                        let mut text = column.title().to_string();
                        if self.sort == column {
                            text += arrow;
                        }
                        if ui
                            .small_button(text)
                            .on_hover_text(format!("Sort by {}", column.title().to_lowercase()))
                            .clicked()
                        {
                            clicked_column = Some(column);
                        }
                    });
                }
            })
            .body(|body| {
                body.rows(20.0, results.len(), |mut row| {
                    let result = &results[row.index()];
                    row.set_selected(only == Some(result.patient.as_str()));
                    row.col(|ui| {
                        if ui
                            .link(&result.patient)
                            .on_hover_text("Review only this patient's tiles")
                            .clicked()
                        {
                            chosen = Some(result.patient.clone());
                        }
                    });
                    let rate = |value: Option<f64>| {
                        value.map_or_else(|| "n/a".into(), |value| format!("{value:.2}"))
                    };
                    for text in [
                        result.test_patches().to_string(),
                        result.idc_patches().to_string(),
                        result.missed().to_string(),
                        result.false_alarms().to_string(),
                        rate(result.sensitivity()),
                        rate(result.specificity()),
                    ] {
                        row.col(|ui| {
                            ui.label(text);
                        });
                    }
                });
            });
        if let Some(column) = clicked_column {
            self.sort_by(column);
        }
        chosen
    }
}

fn sort(results: &mut [PatientResult], column: PatientColumn, descending: bool) {
    results.sort_by(|a, b| {
        let order = column.compare(a, b).then_with(|| a.patient.cmp(&b.patient));
        if descending { order.reverse() } else { order }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ConfusionMatrix;

    fn patient(name: &str, tp: usize, fn_: usize, tn: usize, fp: usize) -> PatientResult {
        PatientResult {
            patient: name.into(),
            confusion: ConfusionMatrix { tp, fn_, tn, fp },
        }
    }

    #[test]
    fn patients_sort_by_any_column_and_a_missing_rate_sorts_last() {
        let mut results = vec![
            patient("a", 5, 1, 3, 0),
            patient("b", 0, 0, 4, 2), // no IDC: no sensitivity
            patient("c", 1, 4, 0, 0),
        ];
        sort(&mut results, PatientColumn::Missed, true);
        assert_eq!(results[0].patient, "c");
        sort(&mut results, PatientColumn::Sensitivity, true);
        let names: Vec<&str> = results.iter().map(|r| r.patient.as_str()).collect();
        assert_eq!(names, ["a", "c", "b"]);
        sort(&mut results, PatientColumn::Patient, false);
        assert_eq!(results[0].patient, "a");
    }
}
