//! Running a trained CancerNet over patches: probabilities of IDC, validation loss and
//! accuracy, and loading a run's model.

use std::path::Path;
use std::sync::Arc;

use burn::prelude::*;

use super::batches::{BatchPlan, HostBatch, prefetch_batches, render_threads};
use crate::dataset::{Label, PatchStore};
use crate::model::CancerNet;
use crate::model::cancernet::BatchNormSettings;

/// Batch size for inference: large enough to keep a device busy, the same every time.
pub const INFERENCE_BATCH: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error("{}: cannot load the model: {why}", path.display())]
    Model { path: std::path::PathBuf, why: String },
    #[error("the compute backend failed: {0}")]
    Backend(String),
    #[error("could not start a worker thread: {0}")]
    Thread(String),
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
        CancerNet::with_batch_norm(&device, batch_norm).try_load_file(path)
    }));
    match loaded {
        Ok(Ok(model)) => Ok(model.valid()),
        Ok(Err(err)) => Err(fail(format!("{err}"))),
        Err(_) => Err(fail("the file is not a CancerNet model".into())),
    }
}

/// Probabilities of IDC for the real items of one batch.
pub fn predict_batch(
    model: &CancerNet,
    batch: &HostBatch,
    device: &Device,
) -> Result<Vec<f32>, InferenceError> {
    let probabilities = model.prob_idc(batch.images_tensor(device));
    let mut values = probabilities
        .into_data()
        .try_to_vec_as::<f32>()
        .map_err(|err| InferenceError::Backend(format!("{err:?}")))?;
    values.truncate(batch.len());
    Ok(values)
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
    let plan = BatchPlan {
        order: indices.to_vec(),
        batch_size: INFERENCE_BATCH.min(indices.len()),
        drop_last: false,
        augmentation: None,
        render_threads: render_threads(device),
    };
    let batches =
        prefetch_batches(Arc::clone(store), plan).map_err(|err| InferenceError::Thread(err.to_string()))?;
    let mut probabilities = Vec::with_capacity(indices.len());
    for batch in batches {
        probabilities.extend(predict_batch(model, &batch, device)?);
    }
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
