//! The open run's map of the dataset for the Map view, made off the UI thread (or read from the
//! run's cache) with its progress and Stop, together with the run's split.

use std::path::PathBuf;
use std::sync::Arc;

use crate::app::background::task::{Finished, Task, take_finished};
use crate::dataset::PatchStore;
use crate::dataset::split::{Split, SplitPart};
use crate::model::{DeviceChoice, select_device};
use crate::review::map::{DatasetMap, MapProgress, run_map};
use crate::training::RunFolder;

/// A run's map and the part of the run's split each patch is in.
pub struct MapOfRun {
    pub run: PathBuf,
    pub map: DatasetMap,
    pub parts: Vec<Option<SplitPart>>,
}

/// What the map's worker came to: a map, a stop, or a failure in words.
type Made = Result<Option<MapOfRun>, String>;

#[derive(Default)]
pub struct DatasetMapWork {
    task: Option<Task<Made>>,
    progress: Arc<MapProgress>,
    pub map: Option<Arc<MapOfRun>>,
    pub error: Option<String>,
    /// The reader stopped the last one.
    pub stopped: bool,
}

impl DatasetMapWork {
    /// Starts making (or reading) the map of `run_dir` over `store`, unless it is under way,
    /// shown, stopped or failed (a newly opened run starts from a fresh `DatasetMapWork`).
    pub fn request(&mut self, ctx: &egui::Context, store: &Arc<PatchStore>, run_dir: PathBuf) {
        if self.task.is_none() && self.map.is_none() && self.error.is_none() && !self.stopped {
            self.start(ctx, store, run_dir);
        }
    }

    /// Starts again, even after a stop or a failure.
    pub fn start(&mut self, ctx: &egui::Context, store: &Arc<PatchStore>, run_dir: PathBuf) {
        self.progress.stop();
        self.progress = Arc::new(MapProgress::default());
        self.map = None;
        self.error = None;
        self.stopped = false;
        let (store, progress, folder) = (Arc::clone(store), Arc::clone(&self.progress), run_dir);
        let task = Task::spawn("idc-dataset-map", ctx, move || -> Made {
            let run = RunFolder::open(&folder).map_err(|err| err.to_string())?;
            let info = run.read_info().map_err(|err| err.to_string())?;
            let split = Split::load(&store, info.config.split, info.config.seed, &run.split_path())
                .map_err(|err| err.to_string())?;
            let device = select_device(DeviceChoice::Cpu)
                .map_err(|err| err.to_string())?
                .device;
            let Some(map) = run_map(&run, &store, &device, &progress).map_err(|err| err.to_string())? else {
                return Ok(None);
            };
            let parts = (0..store.len()).map(|index| split.part(index)).collect();
            Ok(Some(MapOfRun {
                run: folder,
                map,
                parts,
            }))
        });
        self.task = Some(task);
    }

    pub fn stop(&self) {
        self.progress.stop();
    }

    /// The step under way and how far it has come, while the map is being made.
    pub fn progress(&self) -> Option<(crate::review::map::MapStep, usize, usize)> {
        self.task.as_ref().map(|_| self.progress.now())
    }

    /// Takes the result once it is ready.
    pub fn poll(&mut self) {
        match take_finished(&mut self.task) {
            Finished::NotYet => {}
            Finished::Done(Ok(Some(made))) => self.map = Some(Arc::new(made)),
            Finished::Done(Ok(None)) => self.stopped = true,
            Finished::Done(Err(why)) => self.error = Some(why),
            Finished::Failed(why) => self.error = Some(format!("the map stopped unexpectedly: {why}")),
        }
    }
}

impl Drop for DatasetMapWork {
    fn drop(&mut self) {
        self.progress.stop();
    }
}
