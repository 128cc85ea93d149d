//! The duplicates search for the Map view's panel, off the UI thread: copies and near-copies by
//! pixels, and the test part's leak into training under a patient split, a patch split and the
//! open run's split.

use std::path::PathBuf;
use std::sync::Arc;

use crate::app::background::task::{Finished, Task, take_finished};
use crate::dataset::PatchStore;
use crate::dataset::split::{Split, SplitKind};
use crate::review::duplicates::{Duplicates, PixelSearch, SplitLeak, find_duplicates, split_leak};
use crate::training::RunFolder;

/// The seed of the patient and patch splits compared (the training form's default).
const SEED: u64 = 42;

pub struct DuplicatesFound {
    pub duplicates: Duplicates,
    pub leaks: Vec<SplitLeak>,
}

#[derive(Default)]
pub struct DuplicatesWork {
    task: Option<Task<Result<DuplicatesFound, String>>>,
    pub found: Option<Arc<DuplicatesFound>>,
    pub error: Option<String>,
}

impl DuplicatesWork {
    pub fn start(&mut self, ctx: &egui::Context, store: &Arc<PatchStore>, run: Option<PathBuf>) {
        let store = Arc::clone(store);
        self.found = None;
        self.error = None;
        self.task = Some(Task::spawn("idc-duplicates", ctx, move || {
            let search = PixelSearch::new(&store);
            let duplicates = find_duplicates(&store, &search);
            let mut leaks = Vec::new();
            for (kind, words) in [(SplitKind::Patient, "by patient"), (SplitKind::Patch, "by patch")] {
                let split = Split::new(&store, kind, SEED);
                leaks.push(split_leak(&store, &split, words.to_string(), &search));
            }
            if let Some(folder) = run {
                let run = RunFolder::open(&folder).map_err(|err| err.to_string())?;
                let info = run.read_info().map_err(|err| err.to_string())?;
                let split = Split::load(&store, info.config.split, info.config.seed, &run.split_path())
                    .map_err(|err| err.to_string())?;
                leaks.push(split_leak(&store, &split, "the open run's".into(), &search));
            }
            Ok(DuplicatesFound { duplicates, leaks })
        }));
    }

    pub fn is_running(&self) -> bool {
        self.task.is_some()
    }

    pub fn poll(&mut self) {
        match take_finished(&mut self.task) {
            Finished::NotYet => {}
            Finished::Done(Ok(found)) => self.found = Some(Arc::new(found)),
            Finished::Done(Err(why)) => self.error = Some(why),
            Finished::Failed(why) => {
                self.error = Some(format!("the duplicates search stopped unexpectedly: {why}"))
            }
        }
    }
}
