//! The open run's probability of IDC for every patch of one patient (not only its test patches),
//! computed on the CPU off the UI thread: the slide heatmap and the patch details use it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::app::background::task::{Finished, Task, take_finished};
use crate::dataset::PatchStore;
use crate::dataset::stain::StainNormalisation;
use crate::model::cancernet::BatchNormSettings;
use crate::model::{DeviceChoice, select_device};
use crate::training::evaluate::{load_model, predict_patches};
use crate::training::stain::store_for_run;

type Probabilities = Result<HashMap<usize, f32>, String>;

#[derive(Default)]
pub struct PatientPredictions {
    /// The model file and patient the probabilities are for.
    key: Option<(PathBuf, u32)>,
    task: Option<Task<Probabilities>>,
    probabilities: HashMap<usize, f32>,
    pub error: Option<String>,
}

/// A run's model as its predictions need it: the file, its batch-norm settings and the run's
/// stain normalisation.
pub struct RunModel {
    pub model: PathBuf,
    pub batch_norm: BatchNormSettings,
    pub normalisation: StainNormalisation,
}

impl PatientPredictions {
    /// Makes sure the probabilities of `patches` (all of `patient`'s) under `run`'s model are
    /// on their way.
    pub fn request(
        &mut self,
        ctx: &egui::Context,
        store: &Arc<PatchStore>,
        run: RunModel,
        patient: u32,
        patches: &[usize],
    ) {
        let RunModel {
            model,
            batch_norm,
            normalisation,
        } = run;
        let key = (model.clone(), patient);
        if self.key.as_ref() == Some(&key) {
            return;
        }
        self.key = Some(key);
        self.probabilities.clear();
        self.error = None;
        let store = Arc::clone(store);
        let patches = patches.to_vec();
        self.task = Some(Task::spawn("idc-patient-predictions", ctx, move || {
            let device = select_device(DeviceChoice::Cpu)
                .map_err(|err| err.to_string())?
                .device;
            let network = load_model(&model, batch_norm, &device).map_err(|err| err.to_string())?;
            // Stain-normalised as the run trained, when it did.
            let store = store_for_run(&store, normalisation).map_err(|err| err.to_string())?;
            let probabilities =
                predict_patches(&network, &store, &patches, &device).map_err(|err| err.to_string())?;
            Ok(patches.into_iter().zip(probabilities).collect())
        }));
    }

    /// Takes the probabilities a run recorded (an imported run's: it has no model to ask), for
    /// `patient`'s `patches`; those it has none for stay unknown.
    pub fn use_recorded(
        &mut self,
        run_folder: &std::path::Path,
        patient: u32,
        patches: &[usize],
        recorded: impl Fn(usize) -> Option<f32>,
    ) {
        let key = (run_folder.to_path_buf(), patient);
        if self.key.as_ref() == Some(&key) {
            return;
        }
        self.key = Some(key);
        self.task = None;
        self.error = None;
        self.probabilities = patches
            .iter()
            .filter_map(|&patch| recorded(patch).map(|prob| (patch, prob)))
            .collect();
    }

    /// Forgets everything (the dataset or run changed).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    pub fn poll(&mut self) {
        match take_finished(&mut self.task) {
            Finished::NotYet => {}
            Finished::Done(Ok(probabilities)) => self.probabilities = probabilities,
            Finished::Done(Err(message)) => self.error = Some(message),
            Finished::Failed(why) => {
                self.error = Some(format!("the prediction worker stopped unexpectedly: {why}"));
            }
        }
    }

    pub fn is_pending(&self) -> bool {
        self.task.is_some()
    }

    pub fn get(&self, patch: usize) -> Option<f32> {
        self.probabilities.get(&patch).copied()
    }
}
