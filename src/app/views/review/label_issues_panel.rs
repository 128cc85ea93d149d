//! The Review view's "Label errors" panel: start, follow, stop and resume the search for label
//! errors across the whole dataset, then open its suspects as a review list.

use std::path::PathBuf;
use std::sync::Arc;

use super::lists::{ListKind, ReviewList};
use crate::app::background::label_issues::{LabelIssuesEnd, LabelIssuesWork};
use crate::app::background::task::{Finished, Task, take_finished};
use crate::app::state::workspace::Workspace;
use crate::dataset::Dataset;
use crate::review::label_issues::{LabelIssueRow, label_issues_folder, read_label_issues};
use crate::review::unlike_patients::{
    PatientScores, UNLIKE_THE_OTHERS, read_patient_scores, suspected_cause,
};
use crate::training::TrainConfig;
use crate::training::cross_validation::{EarlierSearch, clear_folds, earlier_search};

/// The ranked rows of one dataset, as read from its folder.
struct Found {
    root: PathBuf,
    folder: PathBuf,
    rows: Option<Arc<Vec<LabelIssueRow>>>,
    /// Each patient's out-of-fold scores, worst first (searches before they were kept: none).
    patients: Vec<PatientScores>,
    earlier: Option<EarlierSearch>,
    /// Why the ranked file could not be read, if it could not.
    problem: Option<String>,
}

pub struct LabelIssuesPanel {
    work: LabelIssuesWork,
    found: Option<Found>,
    loading: Option<Task<Found>>,
    pub folds: usize,
    pub epochs: usize,
}

impl Default for LabelIssuesPanel {
    fn default() -> Self {
        Self {
            work: LabelIssuesWork::default(),
            found: None,
            loading: None,
            folds: 5,
            epochs: 3,
        }
    }
}

impl LabelIssuesPanel {
    pub fn is_running(&self) -> bool {
        self.work.is_running()
    }

    /// The open dataset's ranked labels, once read: the map colours patches by them.
    pub fn rows(&self) -> Option<Arc<Vec<LabelIssueRow>>> {
        self.found.as_ref().and_then(|found| found.rows.clone())
    }

    /// Whatever the dataset's folder holds has been read, and no search runs: the panel offers
    /// to start one.
    pub fn is_ready(&self) -> bool {
        self.found.is_some() && !self.work.is_running()
    }

    /// What an earlier search left in the dataset's folder, once read.
    pub fn earlier(&self) -> Option<EarlierSearch> {
        self.found.as_ref()?.earlier
    }

    /// The suspects found for the open dataset, worst first, once read.
    pub fn ranked(&self) -> Option<&[LabelIssueRow]> {
        self.found.as_ref()?.rows.as_deref().map(Vec::as_slice)
    }

    /// Draws the panel; returns the suspects' list when the reader opens it.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        ws: &mut Workspace,
        dataset: &Arc<Dataset>,
    ) -> Option<ReviewList> {
        self.take_updates(ui.ctx(), ws, dataset);
        ui.weak(
            "Models trained on folds of whole patients predict every patch they never saw; \
             the labels they doubt most are listed worst first (confident learning).",
        );
        if self.work.is_running() {
            self.running_ui(ui);
            return None;
        }
        let Some((earlier, has_rows)) =
            (self.found.as_ref()).map(|found| (found.earlier, found.rows.is_some()))
        else {
            ui.label("Reading earlier results…");
            return None;
        };
        let (start, start_over) = self.start_controls_ui(ui, earlier, has_rows);
        let found = self.found.as_ref()?;
        let mut list = None;
        if let Some(problem) = &found.problem {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("{problem}; a new search replaces it."),
            );
        }
        if let Some(rows) = &found.rows {
            let suspected = rows.iter().filter(|row| row.suspected).count();
            ui.label(format!(
                "{suspected} suspected among {} patches ({:.1}%).",
                rows.len(),
                100.0 * suspected as f64 / rows.len().max(1) as f64
            ));
            if ui
                .add_enabled(suspected > 0, egui::Button::new("Review suspected label errors"))
                .clicked()
            {
                list = Some(suspects_list(rows, dataset));
            }
            if let Some(patient) = unlike_patients_ui(ui, &found.patients) {
                list = Some(patient_list(rows, dataset, patient));
            }
        }
        for warning in &self.work.progress.warnings {
            ui.weak(warning);
        }
        let folder = found.folder.clone();
        if start_over && let Err(err) = clear_folds(&folder) {
            ws.error(format!(
                "{}: the earlier folds could not be removed: {err}",
                folder.display()
            ));
            return list;
        }
        if start {
            let config = TrainConfig {
                epochs: self.epochs,
                device: ws.settings.training.device,
                seed: ws.settings.training.seed,
                augment: ws.settings.training.augment,
                stain_augment: ws.settings.training.stain_augment,
                normalize_stain: ws.settings.training.normalize_stain,
                batch_size: ws.settings.training.batch_size,
                ..TrainConfig::default()
            };
            self.work
                .start(ui.ctx(), Arc::clone(&dataset.store), folder, config, self.folds);
        } else if start_over {
            self.found = None;
        }
        list
    }

    /// The search under way: its fold, epoch and batch, its device, and Stop.
    fn running_ui(&mut self, ui: &mut egui::Ui) {
        // Stop first, where nothing above it changes as the search goes on: a button that moved
        // down when the device's name arrived was missed by a click aimed at it.
        let stopping = self.work.is_stopping();
        let progress = &self.work.progress;
        let mut stop = false;
        ui.horizontal(|ui| {
            stop = ui
                .add_enabled(
                    !stopping,
                    egui::Button::new(if stopping { "Stopping…" } else { "Stop" }),
                )
                .on_hover_text(
                    "Stops after this batch; the finished folds are kept and the next start goes on",
                )
                .clicked();
            if !progress.device.is_empty() {
                ui.weak(format!("on {}", progress.device));
            }
        });
        let mut text = format!(
            "fold {} of {}",
            (progress.done + 1).min(progress.folds),
            progress.folds
        );
        if progress.epoch > 0 {
            text += &format!(
                ", epoch {} of {}: batch {} of {}",
                progress.epoch, progress.epochs, progress.batch, progress.batches
            );
        }
        crate::app::widgets::progress::progress_bar(ui, progress.fraction(), text, None);
        if stop {
            self.work.stop();
        }
    }

    /// Go on with a stopped search or start over; or the folds, epochs and a new search. What
    /// the reader asked: (start, start over).
    fn start_controls_ui(
        &mut self,
        ui: &mut egui::Ui,
        earlier: Option<EarlierSearch>,
        found_rows: bool,
    ) -> (bool, bool) {
        let mut start = false;
        let mut start_over = false;
        match earlier {
            Some(earlier) if earlier.finished < earlier.folds => {
                ui.label(format!(
                    "A search of {} folds x {} epochs stopped after {} folds.",
                    earlier.folds, earlier.epochs, earlier.finished
                ));
                ui.horizontal(|ui| {
                    if ui.button("Go on").clicked() {
                        (self.folds, self.epochs) = (earlier.folds, earlier.epochs);
                        start = true;
                    }
                    start_over = ui
                        .button("Start over")
                        .on_hover_text("Drops the finished folds")
                        .clicked();
                });
            }
            _ => {
                ui.horizontal(|ui| {
                    ui.add(
                        egui::DragValue::new(&mut self.folds)
                            .range(2..=10)
                            .suffix(" folds"),
                    );
                    ui.add(
                        egui::DragValue::new(&mut self.epochs)
                            .range(1..=40)
                            .suffix(" epochs"),
                    );
                });
                let text = if found_rows {
                    "Search again"
                } else {
                    "Find label errors"
                };
                if ui
                    .button(text)
                    .on_hover_text(
                        "Trains one model a fold on a worker thread, on the Training view's device",
                    )
                    .clicked()
                {
                    // Another search's folds cannot be gone on with: this one replaces them.
                    start_over = earlier.is_some();
                    start = true;
                }
            }
        }
        (start, start_over)
    }

    /// Reads the open dataset's results once, and takes the worker's progress and end.
    fn take_updates(&mut self, ctx: &egui::Context, ws: &mut Workspace, dataset: &Arc<Dataset>) {
        let root = dataset.store.root().to_path_buf();
        match take_finished(&mut self.loading) {
            Finished::NotYet => {}
            Finished::Done(found) => {
                if let Some(problem) = &found.problem {
                    ws.error(format!("earlier label errors cannot be shown: {problem}"));
                }
                self.found = Some(found);
            }
            Finished::Failed(why) => ws.error(format!("label errors could not be read: {why}")),
        }
        if let Some(end) = self.work.poll() {
            match end {
                LabelIssuesEnd::Ranked(rows) => {
                    let suspected = rows.iter().filter(|row| row.suspected).count();
                    ws.info(format!(
                        "{suspected} suspected label errors among {} patches",
                        rows.len()
                    ));
                }
                LabelIssuesEnd::Stopped { finished, folds } => ws.info(format!(
                    "the search for label errors stopped after {finished} of {folds} folds; they are kept"
                )),
                LabelIssuesEnd::Failed(message) => {
                    ws.error(format!("the search for label errors failed: {message}"))
                }
            }
            self.found = None; // read again: the ranked file and the folds changed
        }
        let stale = self.found.as_ref().is_some_and(|found| found.root != root);
        if (self.found.is_none() || stale) && self.loading.is_none() && !self.work.is_running() {
            let annotations = ws
                .annotating
                .reviews
                .as_ref()
                .map(|reviews| reviews.folder().to_path_buf());
            self.found = None;
            self.loading = Some(Task::spawn("idc-read-label-issues", ctx, move || {
                let annotations = annotations.unwrap_or_else(|| {
                    crate::review::annotations_folder(&root, &crate::user_folders::data_home())
                });
                let folder = label_issues_folder(&annotations);
                let (rows, mut problem) = match read_label_issues(&folder) {
                    Ok(rows) => (rows.map(Arc::new), None),
                    Err(err) => (None, Some(err.to_string())),
                };
                let patients = match read_patient_scores(&folder) {
                    Ok(patients) => patients.unwrap_or_default(),
                    Err(err) => {
                        problem.get_or_insert(err.to_string());
                        Vec::new()
                    }
                };
                Found {
                    earlier: earlier_search(&folder),
                    rows,
                    patients,
                    folder,
                    root,
                    problem,
                }
            }));
        }
    }
}

/// The patients unlike the others, each with its out-of-fold accuracy against the median and
/// a button to open its tiles; returns the one the reader opens.
fn unlike_patients_ui<'a>(ui: &mut egui::Ui, patients: &'a [PatientScores]) -> Option<&'a PatientScores> {
    let unlike: Vec<&PatientScores> = patients.iter().filter(|patient| patient.unlike_others).collect();
    if unlike.is_empty() {
        return None;
    }
    let mut accuracies: Vec<f64> = patients.iter().map(|patient| patient.accuracy).collect();
    accuracies.sort_by(f64::total_cmp);
    let median = accuracies[accuracies.len() / 2];
    ui.label(format!(
        "{} patient(s) {UNLIKE_THE_OTHERS}: the models that never saw them fail on the whole slide \
         (median out-of-fold accuracy {median:.3}). Their patches are listed apart, not as label errors.",
        unlike.len()
    ));
    let mut opened = None;
    for patient in unlike {
        ui.horizontal(|ui| {
            ui.label(format!(
                "{}: accuracy {:.3}, mean P(IDC) {:.2} for {:.0}% IDC labels; {}",
                patient.patient,
                patient.accuracy,
                patient.mean_prob_idc,
                100.0 * patient.idc as f64 / patient.patches.max(1) as f64,
                suspected_cause(patient)
            ));
            if ui
                .button("Open its tiles")
                .on_hover_text("Its patches as a review list, the labels the models doubt most first")
                .clicked()
            {
                opened = Some(patient);
            }
        });
    }
    opened
}

/// One patient's patches as a review list, in the ranking's order, each with its fold model's
/// P(IDC).
fn patient_list(rows: &[LabelIssueRow], dataset: &Dataset, patient: &PatientScores) -> ReviewList {
    let kind = ListKind::UnlikePatient {
        patient: patient.patient.clone(),
        accuracy: patient.accuracy,
    };
    let mut list = ReviewList::new(kind, Vec::new());
    for row in rows.iter().filter(|row| row.patient == patient.patient) {
        let Some(index) = dataset.find(&row.patient, row.x, row.y) else {
            continue;
        };
        list.tiles.push(index);
        list.probabilities.insert(index, row.prob_idc);
        list.reasons.insert(
            index,
            format!(
                "Labelled {}; the model that never saw this patient gives P(IDC) {:.3}. The models fail on \
                 this slide as a whole: look at its stain before doubting its labels.",
                row.label.name(),
                row.prob_idc
            ),
        );
    }
    list
}

/// The suspects as a review list, worst first, each with its fold model's P(IDC) and why.
pub fn suspects_list(rows: &[LabelIssueRow], dataset: &Dataset) -> ReviewList {
    let mut list = ReviewList::new(ListKind::SuspectedLabels, Vec::new());
    for row in rows.iter().filter(|row| row.suspected) {
        let Some(index) = dataset.find(&row.patient, row.x, row.y) else {
            continue; // the patch left the dataset since the search
        };
        let given = row.label;
        list.tiles.push(index);
        list.probabilities.insert(index, row.prob_idc);
        list.reasons.insert(
            index,
            format!(
                "Labelled {}; the model that never saw it gives P(IDC) {:.3} (label quality {:.3}). \
                 Relabel {} to confirm the suspicion, Agree to reject it.",
                given.name(),
                row.prob_idc,
                row.label_quality,
                given.other().index()
            ),
        );
    }
    list
}
