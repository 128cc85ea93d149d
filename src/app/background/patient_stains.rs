//! Each patient's stain for the Patients view's stain map, estimated off the UI thread (or read
//! from the dataset's stain folder) with its progress.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::app::background::task::{Finished, Task, take_finished};
use crate::dataset::PatchStore;
use crate::dataset::stain::PatientStains;
use crate::dataset::stain::patient_stains::stain_folder_of;

#[derive(Default)]
pub struct PatientStainsWork {
    task: Option<Task<Result<PatientStains, String>>>,
    done: Arc<AtomicUsize>,
    total: usize,
    stop: Arc<AtomicBool>,
    pub stains: Option<Arc<PatientStains>>,
    pub error: Option<String>,
}

impl PatientStainsWork {
    /// Starts the estimate for `store` unless it is under way or done.
    pub fn request(&mut self, ctx: &egui::Context, store: &Arc<PatchStore>) {
        if self.task.is_some() || self.stains.is_some() || self.error.is_some() {
            return;
        }
        let store = Arc::clone(store);
        let (done, stop) = (Arc::clone(&self.done), Arc::clone(&self.stop));
        self.total = store.patients().len();
        let wake = ctx.clone();
        self.task = Some(Task::spawn("idc-patient-stains", ctx, move || {
            let progress = |finished: usize, _: usize| {
                done.fetch_max(finished, Ordering::Relaxed);
                wake.request_repaint();
            };
            let (stains, unsaved) =
                PatientStains::for_store(&store, &stain_folder_of(store.root()), &progress, &stop)
                    .map_err(|stopped| stopped.to_string())?;
            if let Some(err) = unsaved {
                tracing::warn!("{err}");
            }
            Ok(stains)
        }));
    }

    /// Takes the result once it is ready.
    pub fn poll(&mut self) {
        match take_finished(&mut self.task) {
            Finished::NotYet => {}
            Finished::Done(Ok(stains)) => self.stains = Some(Arc::new(stains)),
            Finished::Done(Err(why)) => self.error = Some(why),
            Finished::Failed(why) => {
                self.error = Some(format!("the stain estimate stopped unexpectedly: {why}"))
            }
        }
    }

    /// Patients done, of all, while the estimate runs.
    pub fn progress(&self) -> Option<(usize, usize)> {
        self.task
            .as_ref()
            .map(|_| (self.done.load(Ordering::Relaxed), self.total))
    }
}

impl Drop for PatientStainsWork {
    fn drop(&mut self) {
        // A dataset closed mid-estimate: the worker stops at its next patient.
        self.stop.store(true, Ordering::Relaxed);
    }
}
