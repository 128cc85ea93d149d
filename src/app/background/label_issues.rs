//! Finding label errors from the app: the cross-validation on a worker thread, its progress fed
//! back fold by fold and batch by batch, stoppable between batches. The folds finished before a
//! stop (or a closed app) stay in the folder, so the next start goes on from there.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};

use crate::app::background::task::{Finished, Task, take_finished};
use crate::dataset::PatchStore;
use crate::dataset::stain::PatientStains;
use crate::review::label_issues::{LabelIssueRow, write_label_issues};
use crate::review::unlike_patients::{note_stains, patient_scores, write_patient_scores};
use crate::training::TrainConfig;
use crate::training::cross_validation::{
    CrossValidationError, CrossValidationJob, FoldEvent, cross_validate,
};

/// How a search for label errors ended.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelIssuesEnd {
    /// Every patch ranked, worst label first (also written to the folder).
    Ranked(Vec<LabelIssueRow>),
    /// Stopped by the reader; the finished folds are kept.
    Stopped {
        finished: usize,
        folds: usize,
    },
    Failed(String),
}

/// Where the search is, from the worker's reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FoldProgress {
    pub folds: usize,
    pub epochs: usize,
    /// The fold being trained (0-based), and the folds already done or kept.
    pub fold: usize,
    pub done: usize,
    pub epoch: usize,
    pub batch: usize,
    pub batches: usize,
    pub device: String,
    /// The last finished epoch's training loss and accuracy.
    pub last_epoch: Option<(f64, f64)>,
    /// Patients whose stain is estimated, of all, before the first fold (stain normalised).
    pub stain_estimate: Option<(usize, usize)>,
    pub warnings: Vec<String>,
}

impl FoldProgress {
    /// The share of the whole search done, 0 to 1.
    pub fn fraction(&self) -> f32 {
        if self.folds == 0 || self.epochs == 0 {
            return 0.0;
        }
        let in_epoch = if self.batches == 0 {
            0.0
        } else {
            self.batch as f64 / self.batches as f64
        };
        let in_fold = (self.epoch.saturating_sub(1) as f64 + in_epoch) / self.epochs as f64;
        let folds = self.done as f64 + if self.epoch > 0 { in_fold } else { 0.0 };
        (folds / self.folds as f64).clamp(0.0, 1.0) as f32
    }

    fn record(&mut self, event: FoldEvent) {
        match event {
            FoldEvent::Kept { .. } => self.done += 1,
            FoldEvent::Started { fold, device, .. } => {
                self.fold = fold;
                self.device = device;
                (self.epoch, self.batch, self.batches) = (0, 0, 0);
            }
            FoldEvent::Batch {
                epoch,
                batch,
                batches,
                ..
            } => (self.epoch, self.batch, self.batches) = (epoch, batch, batches),
            FoldEvent::Epoch { loss, accuracy, .. } => self.last_epoch = Some((loss, accuracy)),
            FoldEvent::Finished { .. } => {
                self.done += 1;
                self.epoch = 0;
            }
            FoldEvent::EstimatingStain { done, total } => self.stain_estimate = Some((done, total)),
            FoldEvent::Warning { message } => self.warnings.push(message),
        }
    }
}

#[derive(Default)]
pub struct LabelIssuesWork {
    task: Option<Task<LabelIssuesEnd>>,
    events: Option<Receiver<FoldEvent>>,
    stop: Arc<AtomicBool>,
    pub progress: FoldProgress,
}

impl LabelIssuesWork {
    /// Starts the search on `store`, its files in `folder` (going on from the folds there).
    pub fn start(
        &mut self,
        ctx: &egui::Context,
        store: Arc<PatchStore>,
        folder: PathBuf,
        config: TrainConfig,
        folds: usize,
    ) {
        let (sender, events) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        self.stop = Arc::clone(&stop);
        self.events = Some(events);
        self.progress = FoldProgress {
            folds,
            epochs: config.epochs,
            ..FoldProgress::default()
        };
        let wake = ctx.clone();
        self.task = Some(Task::spawn("idc-label-issues", ctx, move || {
            let job = CrossValidationJob {
                store,
                folds,
                config,
                // Beside the label-issues folder, in the dataset's annotations.
                stain_folder: folder
                    .parent()
                    .map(crate::dataset::stain::patient_stains::stain_folder),
                out_dir: folder.clone(),
            };
            let mut listener = |event| {
                let _ = sender.send(event);
                wake.request_repaint();
            };
            match cross_validate(&job, &mut listener, &stop) {
                Ok(rows) => {
                    let written = write_label_issues(&folder, &rows)
                        .map_err(|err| err.to_string())
                        .and_then(|ranked| {
                            let mut patients = patient_scores(&rows);
                            let stains = job.stain_folder.as_ref().and_then(|stain_folder| {
                                PatientStains::for_store(&job.store, stain_folder, &|_, _| {}, &stop).ok()
                            });
                            if let Some((stains, _unsaved)) = &stains {
                                note_stains(&mut patients, stains);
                            }
                            write_patient_scores(&folder, &patients).map_err(|err| err.to_string())?;
                            Ok(ranked)
                        });
                    match written {
                        Ok(ranked) => LabelIssuesEnd::Ranked(ranked),
                        Err(why) => LabelIssuesEnd::Failed(why),
                    }
                }
                Err(CrossValidationError::Stopped { finished, folds }) => {
                    LabelIssuesEnd::Stopped { finished, folds }
                }
                Err(err) => LabelIssuesEnd::Failed(err.to_string()),
            }
        }));
    }

    /// Asks the worker to stop after its current batch.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub fn is_running(&self) -> bool {
        self.task.is_some()
    }

    pub fn is_stopping(&self) -> bool {
        self.is_running() && self.stop.load(Ordering::SeqCst)
    }

    /// Takes the worker's reports into [`Self::progress`], and its end once it has ended.
    pub fn poll(&mut self) -> Option<LabelIssuesEnd> {
        if let Some(events) = &self.events {
            for event in events.try_iter() {
                self.progress.record(event);
            }
        }
        match take_finished(&mut self.task) {
            Finished::NotYet => None,
            Finished::Done(end) => {
                self.events = None;
                Some(end)
            }
            Finished::Failed(why) => {
                self.events = None;
                Some(LabelIssuesEnd::Failed(format!(
                    "the search stopped unexpectedly: {why}"
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_counts_kept_and_finished_folds_and_the_batches_between() {
        let mut progress = FoldProgress {
            folds: 4,
            epochs: 2,
            ..FoldProgress::default()
        };
        progress.record(FoldEvent::Kept { fold: 0 });
        assert_eq!(progress.fraction(), 0.25);
        progress.record(FoldEvent::Started {
            fold: 1,
            folds: 4,
            device: "CPU".into(),
            train_patches: 30,
            held_out_patches: 10,
        });
        progress.record(FoldEvent::Batch {
            fold: 1,
            epoch: 2,
            batch: 5,
            batches: 10,
        });
        // One fold kept, and three quarters of the second: 1.75 of 4.
        assert!((progress.fraction() - 1.75 / 4.0).abs() < 1e-6);
        progress.record(FoldEvent::Finished {
            fold: 1,
            seconds: 1.0,
        });
        assert_eq!(progress.fraction(), 0.5);
    }
}
