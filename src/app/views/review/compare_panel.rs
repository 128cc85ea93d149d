//! The Review view's "Compare runs" panel: another run of the same runs folder, read on a worker
//! thread, and the test verdicts that changed between it and the open run, as two review lists.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::lists::{ListKind, ReviewList};
use crate::app::background::task::{Finished, Task, take_finished};
use crate::app::state::workspace::Workspace;
use crate::dataset::Dataset;
use crate::review::compare::{ChangedVerdict, RunComparison, compare_runs};
use crate::training::{PredictionRow, RunFolder, list_runs, threshold_for};

/// The run compared against: its test rows and the threshold it is judged at.
struct Baseline {
    name: String,
    rows: Arc<Vec<PredictionRow>>,
    threshold: f32,
}

/// The runs folder listed, and its runs with test predictions (name, folder).
type Listed = (PathBuf, Vec<(String, PathBuf)>);

/// What the comparison was computed from, so it is recomputed only when that changes.
#[derive(Debug, Clone, PartialEq)]
struct Basis {
    run: PathBuf,
    baseline: String,
    threshold_bits: u32,
    rows: usize,
    scored_by: crate::dataset::LabelSource,
}

#[derive(Default)]
pub struct ComparePanel {
    /// The finished runs beside the open one (name, folder), for the open run's folder.
    runs: Option<Listed>,
    listing: Option<Task<Listed>>,
    reading: Option<Task<Result<Baseline, String>>>,
    baseline: Option<Baseline>,
    comparison: Option<(Basis, RunComparison)>,
}

impl ComparePanel {
    /// The comparison shown, if a run is chosen.
    pub fn comparison(&self) -> Option<&RunComparison> {
        self.comparison.as_ref().map(|(_, comparison)| comparison)
    }

    /// Draws the panel; returns a list of changed verdicts when the reader opens one.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        ws: &mut Workspace,
        dataset: &Dataset,
        threshold: f32,
    ) -> Option<ReviewList> {
        let run = ws.run.as_ref()?;
        let open = run.folder.root().to_path_buf();
        self.take_updates(ui.ctx(), ws, &open);
        let run = ws.run.as_ref()?;
        let others: Vec<(String, PathBuf)> = self
            .runs
            .as_ref()
            .map(|(_, runs)| {
                runs.iter()
                    .filter(|(_, folder)| *folder != open)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if self.runs.is_none() {
            ui.weak("Listing the runs…");
            return None;
        }
        if others.is_empty() {
            ui.weak("No other run with test predictions in this runs folder to compare with.");
            return None;
        }
        let chosen = self.baseline.as_ref().map(|baseline| baseline.name.clone());
        let mut pick = None;
        let label = ui.label("Against");
        egui::ComboBox::from_id_salt("compare-against")
            .selected_text(chosen.clone().unwrap_or_else(|| "choose a run".into()))
            .width(200.0)
            .show_ui(ui, |ui| {
                for (name, folder) in &others {
                    if ui.selectable_label(chosen.as_ref() == Some(name), name).clicked() {
                        pick = Some(folder.clone());
                    }
                }
            })
            .response
            .labelled_by(label.id);
        if let Some(folder) = pick {
            self.comparison = None;
            self.reading = Some(Task::spawn("idc-read-run", ui.ctx(), move || {
                read_baseline(&folder)
            }));
        }
        if self.reading.is_some() {
            ui.weak("Reading its predictions…");
        }
        let baseline = self.baseline.as_ref()?;
        let basis = Basis {
            run: open.clone(),
            baseline: baseline.name.clone(),
            threshold_bits: threshold.to_bits(),
            rows: run.review.rows().len(),
            scored_by: run.scored_by.clone(),
        };
        if self
            .comparison
            .as_ref()
            .is_none_or(|(computed, _)| *computed != basis)
        {
            let comparison = compare_runs(run.review.rows(), threshold, &baseline.rows, baseline.threshold);
            self.comparison = Some((basis, comparison));
        }
        let comparison = self.comparison()?;
        ui.label(format!(
            "{} test patches in both; {} at its threshold {:.3}. Wrong in both: {}.",
            comparison.common, baseline.name, baseline.threshold, comparison.still_wrong
        ));
        let mut list = None;
        ui.horizontal(|ui| {
            for (fixed, changed) in [(true, &comparison.fixed), (false, &comparison.broken)] {
                let text = format!("{} {}", if fixed { "Fixed" } else { "Broken" }, changed.len());
                let hover = if fixed {
                    "Wrong in the other run, right in this one"
                } else {
                    "Right in the other run, wrong in this one"
                };
                if ui
                    .add_enabled(!changed.is_empty(), egui::Button::new(text))
                    .on_hover_text(hover)
                    .clicked()
                {
                    list = Some(changed_list(changed, fixed, baseline, dataset));
                }
            }
        });
        list
    }

    fn take_updates(&mut self, ctx: &egui::Context, ws: &mut Workspace, open: &Path) {
        if let Finished::Done((folder, runs)) = take_finished(&mut self.listing) {
            self.runs = Some((folder, runs));
        }
        match take_finished(&mut self.reading) {
            Finished::NotYet => {}
            Finished::Done(Ok(baseline)) => self.baseline = Some(baseline),
            Finished::Done(Err(message)) => ws.error(message),
            Finished::Failed(why) => ws.error(format!("the run could not be read: {why}")),
        }
        let folder = open.parent().map(PathBuf::from).unwrap_or_default();
        let listed = self.runs.as_ref().is_some_and(|(listed, _)| *listed == folder);
        if !listed && self.listing.is_none() {
            self.runs = None;
            self.baseline = None;
            self.comparison = None;
            self.listing = Some(Task::spawn("idc-list-runs", ctx, move || {
                // Any run with test predictions can be compared, finished or imported.
                let runs = list_runs(&folder)
                    .into_iter()
                    .filter(|run| RunFolder::new(&run.folder).predictions_path().is_file())
                    .map(|run| (run.name, run.folder))
                    .collect();
                (folder, runs)
            }));
        }
    }
}

fn read_baseline(folder: &std::path::Path) -> Result<Baseline, String> {
    let run = RunFolder::open(folder).map_err(|err| err.to_string())?;
    let rows = run.read_predictions().map_err(|err| err.to_string())?;
    let threshold = threshold_for(&run, None)
        .map_err(|err| err.to_string())?
        .threshold;
    let name = folder.file_name().map_or_else(
        || folder.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    Ok(Baseline {
        name,
        rows: Arc::new(rows),
        threshold,
    })
}

fn changed_list(
    changed: &[ChangedVerdict],
    fixed: bool,
    baseline: &Baseline,
    dataset: &Dataset,
) -> ReviewList {
    let against = baseline.name.clone();
    let kind = if fixed {
        ListKind::Fixed { against }
    } else {
        ListKind::Broken { against }
    };
    let mut list = ReviewList::new(kind, Vec::new());
    for verdict in changed {
        let Some(index) = dataset.find(&verdict.patient, verdict.x, verdict.y) else {
            continue;
        };
        list.tiles.push(index);
        list.reasons.insert(
            index,
            format!(
                "P(IDC) {:.3} here; {:.3} in {} (threshold {:.3}).",
                verdict.prob_now, verdict.prob_before, baseline.name, baseline.threshold
            ),
        );
    }
    list
}
