//! "More like this" off the UI thread: the open run's embeddings of every patch (read from the
//! run's cache or computed on the CPU, seconds to a minute for the whole dataset), kept for the
//! run, then a patch's nearest neighbours among them.

use std::path::PathBuf;
use std::sync::Arc;

use crate::app::background::task::{Finished, Task, take_finished};
use crate::dataset::PatchStore;
use crate::model::{DeviceChoice, select_device};
use crate::review::similar::{Embeddings, run_embeddings};
use crate::training::RunFolder;

/// How many alike patches a search lists.
pub const ALIKE_COUNT: usize = 48;

/// The patches most like one, most alike first.
#[derive(Debug, Clone, PartialEq)]
pub struct AlikeList {
    pub of: usize,
    pub tiles: Vec<usize>,
    /// The cosine similarity of each tile, in the same order.
    pub similarities: Vec<f32>,
}

type Found = Result<(PathBuf, Arc<Embeddings>, AlikeList), String>;

#[derive(Default)]
pub struct AlikeSearch {
    /// The run the kept embeddings are of.
    embeddings: Option<(PathBuf, Arc<Embeddings>)>,
    task: Option<Task<Found>>,
}

impl AlikeSearch {
    /// Starts looking for the patches most like `of` under the run in `run_dir`.
    pub fn request(&mut self, ctx: &egui::Context, store: &Arc<PatchStore>, run_dir: PathBuf, of: usize) {
        let kept = self
            .embeddings
            .as_ref()
            .filter(|(folder, _)| *folder == run_dir)
            .map(|(_, embeddings)| Arc::clone(embeddings));
        let store = Arc::clone(store);
        self.task = Some(Task::spawn("idc-more-like-this", ctx, move || {
            let embeddings = match kept {
                Some(embeddings) => embeddings,
                None => {
                    let device = select_device(DeviceChoice::Cpu)
                        .map_err(|err| err.to_string())?
                        .device;
                    let run = RunFolder::open(&run_dir).map_err(|err| err.to_string())?;
                    Arc::new(run_embeddings(&run, &store, &device).map_err(|err| err.to_string())?)
                }
            };
            let nearest = embeddings.nearest(of, ALIKE_COUNT);
            let list = AlikeList {
                of,
                tiles: nearest.iter().map(|neighbour| neighbour.index).collect(),
                similarities: nearest.iter().map(|neighbour| neighbour.similarity).collect(),
            };
            Ok((run_dir, embeddings, list))
        }));
    }

    pub fn is_pending(&self) -> bool {
        self.task.is_some()
    }

    /// A finished search's list, or what went wrong.
    pub fn poll(&mut self) -> Option<Result<AlikeList, String>> {
        match take_finished(&mut self.task) {
            Finished::NotYet => None,
            Finished::Done(Ok((run_dir, embeddings, list))) => {
                self.embeddings = Some((run_dir, embeddings));
                Some(Ok(list))
            }
            Finished::Done(Err(message)) => Some(Err(message)),
            Finished::Failed(why) => Some(Err(format!("the search stopped unexpectedly: {why}"))),
        }
    }
}
