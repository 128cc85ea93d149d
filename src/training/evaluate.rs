//! Running a trained CancerNet over patches: probabilities of IDC, validation loss and
//! accuracy, and loading a run's model.

use std::path::Path;
use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::Transaction;

use super::batches::{BatchPlan, HostBatch, prefetch_batches, render_threads};
use crate::dataset::{Label, PatchStore};
use crate::model::CancerNet;
use crate::model::cancernet::{BatchNormSettings, DENSE_UNITS};
use crate::model::saved_file::load_module;
use crate::ops::uses_cpu_kernels;

/// Batch size for inference: large enough to keep a device busy, the same every time.
pub const INFERENCE_BATCH: usize = 256;

/// Batches whose probabilities a GPU keeps until one read brings them all back. Reading each
/// batch at once drains the device's queue and leaves it idle while the host uploads and
/// records the next (as training reads its loss every 16 steps, step.rs). Eight batches of 256
/// hold some 57 MB of inputs on the device.
pub const GPU_INFERENCE_WINDOW: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error("{}: cannot load the model: {why}", path.display())]
    Model { path: std::path::PathBuf, why: String },
    #[error("the compute backend failed: {0}")]
    Backend(String),
    #[error("could not start a worker thread: {0}")]
    Thread(String),
    #[error("stopped")]
    Stopped,
}

/// Loads a CancerNet saved by a run onto `device` (without autodiff), ready for inference, with
/// the batch-norm settings it was trained with (the run's `RunInfo::batch_norm`).
pub fn load_model(
    path: &Path,
    batch_norm: BatchNormSettings,
    device: &Device,
) -> Result<CancerNet, InferenceError> {
    let fail = |why: String| InferenceError::Model {
        path: path.to_path_buf(),
        why,
    };
    if !path.is_file() {
        return Err(fail("no such file".into()));
    }
    // burn panics on some malformed files instead of returning an error; contain it.
    let device = device.clone().without_autodiff();
    let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        load_module(CancerNet::with_batch_norm(&device, batch_norm), path)
    }));
    match loaded {
        Ok(Ok(model)) => Ok(model.valid()),
        Ok(Err(why)) => Err(fail(why.to_string())),
        Err(_) => Err(fail("the file is not a CancerNet model".into())),
    }
}

/// `indices` of `store` in inference batches (no augmentation, the last padded), rendered ahead
/// on their own threads.
fn inference_batches(
    store: &Arc<PatchStore>,
    indices: &[usize],
    device: &Device,
) -> Result<std::sync::mpsc::Receiver<HostBatch>, InferenceError> {
    let plan = BatchPlan {
        order: indices.to_vec(),
        batch_size: INFERENCE_BATCH.min(indices.len()),
        drop_last: false,
        augmentation: None,
        render_threads: render_threads(device),
    };
    prefetch_batches(Arc::clone(store), plan).map_err(|err| InferenceError::Thread(err.to_string()))
}

/// Every asked patch's embedding and P(IDC), from one pass of the model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmbeddedPatches {
    /// `DENSE_UNITS` values a patch, one row after another.
    pub rows: Vec<f32>,
    pub prob_idc: Vec<f32>,
}

/// The model's embedding ([`CancerNet::embedding`], `DENSE_UNITS` values a patch) and P(IDC) of
/// each of `indices`. `on_batch` hears how many patches are done after each batch and stops
/// the work by returning false ([`InferenceError::Stopped`]).
pub fn embed_patches(
    model: &CancerNet,
    store: &Arc<PatchStore>,
    indices: &[usize],
    device: &Device,
    on_batch: &mut dyn FnMut(usize) -> bool,
) -> Result<EmbeddedPatches, InferenceError> {
    let mut embedded = EmbeddedPatches::default();
    if indices.is_empty() {
        return Ok(embedded);
    }
    let batches = inference_batches(store, indices, device)?;
    embedded.rows.reserve(indices.len() * DENSE_UNITS);
    embedded.prob_idc.reserve(indices.len());
    let backend = |err| InferenceError::Backend(format!("{err:?}"));
    for batch in batches {
        let items = batch.len();
        let embedding = model.embedding(batch.into_images_tensor(device));
        let prob_idc = model.prob_idc_of_embedding(embedding.clone());
        let mut read = Transaction::default()
            .register(embedding)
            .register(prob_idc)
            .execute();
        let mut probabilities = read
            .pop()
            .expect("two tensors read")
            .try_to_vec_as::<f32>()
            .map_err(backend)?;
        let mut values = read
            .pop()
            .expect("two tensors read")
            .try_to_vec_as::<f32>()
            .map_err(backend)?;
        values.truncate(items * DENSE_UNITS);
        probabilities.truncate(items);
        embedded.rows.extend(values);
        embedded.prob_idc.extend(probabilities);
        if !on_batch(embedded.prob_idc.len()) {
            return Err(InferenceError::Stopped);
        }
    }
    Ok(embedded)
}

/// Probabilities of IDC for the real items of one batch.
pub fn predict_batch(
    model: &CancerNet,
    batch: HostBatch,
    device: &Device,
) -> Result<Vec<f32>, InferenceError> {
    let items = batch.len();
    let data = model
        .prob_idc(batch.into_images_tensor(device))
        .try_into_data()
        .map_err(|err| InferenceError::Backend(format!("{err:?}")))?;
    real_probabilities(data, items)
}

/// The first `len` values (a batch's real items, not its padding) of read-back probabilities.
fn real_probabilities(data: TensorData, len: usize) -> Result<Vec<f32>, InferenceError> {
    let mut values = data
        .try_to_vec_as::<f32>()
        .map_err(|err| InferenceError::Backend(format!("{err:?}")))?;
    values.truncate(len);
    Ok(values)
}

/// Batches' probabilities of IDC queued on the device, read back together every few batches
/// (every batch on the CPU, which computes as it goes).
pub struct PendingPredictions {
    every: usize,
    /// Each queued batch's probabilities (padding included) and its real items.
    queued: Vec<(Tensor<1>, usize)>,
}

impl PendingPredictions {
    pub fn new(device: &Device) -> Self {
        Self::reading_every(if uses_cpu_kernels(device) {
            1
        } else {
            GPU_INFERENCE_WINDOW
        })
    }

    /// Reads back every `batches` batches (at least 1).
    pub fn reading_every(batches: usize) -> Self {
        Self {
            every: batches.max(1),
            queued: Vec::new(),
        }
    }

    /// Queues `batch`'s forward pass; once enough are queued, reads them all back: each batch's
    /// probabilities for its real items, in the order queued.
    pub fn push(
        &mut self,
        model: &CancerNet,
        batch: HostBatch,
        device: &Device,
    ) -> Result<Vec<Vec<f32>>, InferenceError> {
        let items = batch.len();
        self.queued
            .push((model.prob_idc(batch.into_images_tensor(device)), items));
        if self.queued.len() >= self.every {
            self.read()
        } else {
            Ok(Vec::new())
        }
    }

    /// Reads back whatever is still queued.
    pub fn read(&mut self) -> Result<Vec<Vec<f32>>, InferenceError> {
        if self.queued.is_empty() {
            return Ok(Vec::new());
        }
        let queued = std::mem::take(&mut self.queued);
        let lengths: Vec<usize> = queued.iter().map(|(_, len)| *len).collect();
        let transaction = queued
            .into_iter()
            .fold(Transaction::default(), |transaction, (probabilities, _)| {
                transaction.register(probabilities)
            });
        let data = transaction
            .try_execute()
            .map_err(|err| InferenceError::Backend(format!("{err:?}")))?;
        data.into_iter()
            .zip(lengths)
            .map(|(data, len)| real_probabilities(data, len))
            .collect()
    }
}

/// Probabilities of IDC for the patches `indices` of `store`, in the same order.
pub fn predict_patches(
    model: &CancerNet,
    store: &Arc<PatchStore>,
    indices: &[usize],
    device: &Device,
) -> Result<Vec<f32>, InferenceError> {
    if indices.is_empty() {
        return Ok(Vec::new());
    }
    let batches = inference_batches(store, indices, device)?;
    let mut probabilities = Vec::with_capacity(indices.len());
    let mut pending = PendingPredictions::new(device);
    for batch in batches {
        probabilities.extend(pending.push(model, batch, device)?.into_iter().flatten());
    }
    probabilities.extend(pending.read()?.into_iter().flatten());
    Ok(probabilities)
}

/// Mean cross-entropy (unweighted) and accuracy at 0.5 of IDC probabilities against the truth.
pub fn loss_and_accuracy(labels: &[Label], prob_idc: &[f32]) -> (f64, f64) {
    if labels.is_empty() {
        return (0.0, 0.0);
    }
    let mut loss = 0.0;
    let mut correct = 0usize;
    for (&label, &prob) in labels.iter().zip(prob_idc) {
        let prob_truth = match label {
            Label::Idc => prob,
            Label::NonIdc => 1.0 - prob,
        };
        loss -= f64::from(prob_truth.max(1e-7)).ln();
        correct += usize::from(prob_truth > 0.5 || (prob_truth == 0.5 && label == Label::Idc));
    }
    (loss / labels.len() as f64, correct as f64 / labels.len() as f64)
}
