//! Out-of-sample predictions for every patch of a dataset: K models, each trained on the
//! patients of K - 1 folds and predicting the patches of the fold it never saw. Folds group
//! whole patients, as the training split does, so no model is scored on a slide it learnt from.
//!
//! Each finished fold is written to its own file in the output folder before the next starts,
//! so a stopped or killed run resumes at the first fold without one; the settings file refuses
//! a resume with other settings or another dataset.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::augment::Augmentation;
use super::batches::{BatchPlan, render_threads};
use super::config::{ConfigError, TrainConfig};
use super::epoch::{BatchRead, EpochEnd, train_epoch};
use super::evaluate::{InferenceError, predict_patches};
use super::stain::normalise_reporting;
use super::step::{Learner, read_back_every};
use crate::atomic_file::{write_atomic_with, write_csv_atomic};
use crate::dataset::stain::{StainAugment, StainNormalisation};
use crate::dataset::{Label, PatchStore};
use crate::model::cancernet::BatchNormSettings;
use crate::model::{DeviceError, select_device};

/// One patch's out-of-sample prediction: the row of `out_of_fold.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutOfFoldRow {
    pub patient: String,
    pub x: u32,
    pub y: u32,
    pub path: std::path::PathBuf,
    /// The given label, 0 or 1 in the file.
    #[serde(with = "crate::dataset::label_index")]
    pub label: Label,
    /// P(IDC) from the model of the fold that held this patch out.
    pub prob_idc: f32,
    pub fold: usize,
}

impl OutOfFoldRow {
    /// The model's confidence in `label`.
    pub fn confidence_in(&self, label: Label) -> f64 {
        if label == Label::Idc {
            f64::from(self.prob_idc)
        } else {
            1.0 - f64::from(self.prob_idc)
        }
    }
}

/// What to cross-validate, and where the folds' files go.
#[derive(Debug, Clone)]
pub struct CrossValidationJob {
    pub store: Arc<PatchStore>,
    pub folds: usize,
    /// Epochs, batch size, learning rate, device, seed and augmentation of each fold's model.
    pub config: TrainConfig,
    pub out_dir: PathBuf,
    /// Where the dataset's patient stains are kept, when `config` normalises stain.
    pub stain_folder: Option<PathBuf>,
}

/// What a cross-validation reports as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum FoldEvent {
    /// A fold found finished in the output folder, kept as it is.
    Kept {
        fold: usize,
    },
    Started {
        fold: usize,
        folds: usize,
        device: String,
        train_patches: usize,
        held_out_patches: usize,
    },
    /// Batches of the current epoch done so far (at each read-back of the loss).
    Batch {
        fold: usize,
        epoch: usize,
        batch: usize,
        batches: usize,
    },
    Epoch {
        fold: usize,
        epoch: usize,
        loss: f64,
        accuracy: f64,
    },
    Finished {
        fold: usize,
        seconds: f64,
    },
    /// Each patient's stain being estimated, before the first fold trains: `done` of `total`.
    EstimatingStain {
        done: usize,
        total: usize,
    },
    /// Something the user should know that does not stop the search.
    Warning {
        message: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CrossValidationError {
    #[error("invalid settings: {0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Folds(String),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(transparent)]
    Inference(#[from] InferenceError),
    #[error("the compute backend failed: {0}")]
    Backend(String),
    #[error("{}: {why}", path.display())]
    File { path: PathBuf, why: String },
    #[error("stopped after {finished} of {folds} folds; run again to go on")]
    Stopped { finished: usize, folds: usize },
}

/// The settings a cross-validation's folder was made with: a resume must match them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FoldSettings {
    dataset: PathBuf,
    patches: usize,
    folds: usize,
    epochs: usize,
    batch_size: usize,
    learning_rate: f64,
    lr_decay: f64,
    seed: u64,
    augment: bool,
    /// Absent in folders made before stain handling, which had none.
    #[serde(default = "StainAugment::of_older_runs")]
    stain_augment: StainAugment,
    #[serde(default)]
    normalize_stain: StainNormalisation,
}

/// The name of the merged file of every patch's out-of-sample prediction.
pub const OUT_OF_FOLD_FILE: &str = "out_of_fold.csv";
const SETTINGS_FILE: &str = "cross_validation.json";

fn fold_file(out_dir: &Path, fold: usize) -> PathBuf {
    out_dir.join(format!("fold-{fold}.csv"))
}

/// A search begun earlier in a folder: its folds, epochs, and how many folds it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarlierSearch {
    pub folds: usize,
    pub epochs: usize,
    pub finished: usize,
}

/// What an earlier search left in `out_dir`, if it left its settings there.
pub fn earlier_search(out_dir: &Path) -> Option<EarlierSearch> {
    let text = std::fs::read_to_string(out_dir.join(SETTINGS_FILE)).ok()?;
    let settings: FoldSettings = serde_json::from_str(&text).ok()?;
    let finished = (0..settings.folds)
        .filter(|&fold| fold_file(out_dir, fold).is_file())
        .count();
    Some(EarlierSearch {
        folds: settings.folds,
        epochs: settings.epochs,
        finished,
    })
}

/// Removes an earlier search's folds and settings from `out_dir`, so a search with other
/// settings can start there. The merged and ranked files stay until a new search replaces them.
pub fn clear_folds(out_dir: &Path) -> std::io::Result<()> {
    let Some(earlier) = earlier_search(out_dir) else {
        return Ok(());
    };
    for fold in 0..earlier.folds {
        match std::fs::remove_file(fold_file(out_dir, fold)) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
    }
    std::fs::remove_file(out_dir.join(SETTINGS_FILE))
}

/// The patch indices of each fold: patients shuffled by `seed` and dealt out in turn, largest
/// first, so the folds hold about as many patches each.
pub fn patient_folds(store: &PatchStore, folds: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut by_patient: Vec<Vec<usize>> = vec![Vec::new(); store.patients().len()];
    for (index, patch) in store.patches().iter().enumerate() {
        by_patient[patch.patient as usize].push(index);
    }
    let mut patients: Vec<usize> = (0..by_patient.len())
        .filter(|&p| !by_patient[p].is_empty())
        .collect();
    patients.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    patients.sort_by_key(|&p| std::cmp::Reverse(by_patient[p].len()));
    let mut assigned: Vec<Vec<usize>> = vec![Vec::new(); folds];
    for patient in patients {
        let smallest = (0..folds).min_by_key(|&fold| assigned[fold].len()).unwrap_or(0);
        assigned[smallest].extend(&by_patient[patient]);
    }
    for fold in &mut assigned {
        fold.sort_unstable();
    }
    assigned
}

/// Every patch's P(IDC) from the fold model that held it out, in dataset order, also written
/// to [`OUT_OF_FOLD_FILE`] in the output folder.
pub fn cross_validate(
    job: &CrossValidationJob,
    listener: &mut dyn FnMut(FoldEvent),
    stop: &AtomicBool,
) -> Result<Vec<OutOfFoldRow>, CrossValidationError> {
    check_job(job)?;
    let store = &job.store;
    prepare_folder(job)?;
    let folds = patient_folds(store, job.folds, job.config.seed);
    let mut rows = Vec::with_capacity(store.len());
    // The store the folds train and predict on, stain-normalised when asked: made before the
    // first fold that trains (none when every fold is kept).
    let mut normalised: Option<Arc<PatchStore>> = None;
    for (fold, held_out) in folds.iter().enumerate() {
        let path = fold_file(&job.out_dir, fold);
        if path.is_file() {
            let kept: Vec<OutOfFoldRow> = read_rows(&path)?;
            if kept.len() == held_out.len() {
                listener(FoldEvent::Kept { fold });
                rows.extend(kept);
                continue;
            }
        }
        if stop.load(Ordering::SeqCst) {
            return Err(CrossValidationError::Stopped {
                finished: fold,
                folds: job.folds,
            });
        }
        let started = Instant::now();
        let train: Vec<usize> = folds
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != fold)
            .flat_map(|(_, indices)| indices.iter().copied())
            .collect();
        let fold_store = match &normalised {
            Some(store) => Arc::clone(store),
            None => {
                let mut report = |done, total| listener(FoldEvent::EstimatingStain { done, total });
                let made = normalise_reporting(
                    store,
                    job.config.normalize_stain,
                    job.stain_folder.as_deref(),
                    &mut report,
                    stop,
                )
                .map_err(|err| CrossValidationError::Backend(err.to_string()))?;
                let Some((made, warnings)) = made else {
                    return Err(CrossValidationError::Stopped {
                        finished: fold,
                        folds: job.folds,
                    });
                };
                for message in warnings {
                    listener(FoldEvent::Warning { message });
                }
                normalised.insert(made).clone()
            }
        };
        let Some(probabilities) =
            train_and_predict(job, &fold_store, fold, &train, held_out, listener, stop)?
        else {
            return Err(CrossValidationError::Stopped {
                finished: fold,
                folds: job.folds,
            });
        };
        let fold_rows = out_of_fold_rows(store, fold, held_out, probabilities);
        write_rows(&path, &fold_rows)?;
        listener(FoldEvent::Finished {
            fold,
            seconds: started.elapsed().as_secs_f64(),
        });
        rows.extend(fold_rows);
    }
    let order = store.index_by_identity();
    rows.sort_by_key(|row| order.get(&(row.patient.as_str(), row.x, row.y)).copied());
    write_rows(&job.out_dir.join(OUT_OF_FOLD_FILE), &rows)?;
    Ok(rows)
}

/// Refuses settings the trainer would refuse, and folds that cannot each hold patients out.
fn check_job(job: &CrossValidationJob) -> Result<(), CrossValidationError> {
    job.config.validate()?;
    if job.folds < 2 {
        return Err(CrossValidationError::Folds(format!(
            "{} folds: at least 2 are needed, so that each model has patches it never saw",
            job.folds
        )));
    }
    let patients = job.store.patients().len();
    if patients < job.folds {
        return Err(CrossValidationError::Folds(format!(
            "{} folds of whole patients need at least {} patients; the dataset has {patients}",
            job.folds, job.folds
        )));
    }
    Ok(())
}

/// The rows of fold `fold`: each held-out patch with the P(IDC) its fold's model gave it.
fn out_of_fold_rows(
    store: &PatchStore,
    fold: usize,
    held_out: &[usize],
    probabilities: Vec<f32>,
) -> Vec<OutOfFoldRow> {
    held_out
        .iter()
        .zip(probabilities)
        .map(|(&index, prob_idc)| {
            let patch = store.patch(index);
            OutOfFoldRow {
                patient: store.patient_name(patch).to_string(),
                x: patch.x,
                y: patch.y,
                path: patch.path.clone(),
                label: patch.label,
                prob_idc,
                fold,
            }
        })
        .collect()
}

/// Creates the output folder with its settings, or checks that an earlier one was made with
/// the same settings on the same dataset.
fn prepare_folder(job: &CrossValidationJob) -> Result<(), CrossValidationError> {
    let config = &job.config;
    let settings = FoldSettings {
        dataset: job.store.root().to_path_buf(),
        patches: job.store.len(),
        folds: job.folds,
        epochs: config.epochs,
        batch_size: config.batch_size,
        learning_rate: config.learning_rate,
        lr_decay: config.lr_decay,
        seed: config.seed,
        augment: config.augment,
        stain_augment: config.stain_augment,
        normalize_stain: config.normalize_stain,
    };
    let file_error = |path: &Path, why: String| CrossValidationError::File {
        path: path.to_path_buf(),
        why,
    };
    std::fs::create_dir_all(&job.out_dir).map_err(|err| file_error(&job.out_dir, err.to_string()))?;
    let path = job.out_dir.join(SETTINGS_FILE);
    if path.is_file() {
        let text = std::fs::read_to_string(&path).map_err(|err| file_error(&path, err.to_string()))?;
        let earlier: FoldSettings =
            serde_json::from_str(&text).map_err(|err| file_error(&path, format!("unreadable: {err}")))?;
        if earlier != settings {
            return Err(file_error(
                &path,
                "this folder holds folds made with other settings or another dataset; choose another --out"
                    .into(),
            ));
        }
        return Ok(());
    }
    let json = serde_json::to_string_pretty(&settings).expect("settings serialise");
    write_atomic_with(&path, |file| std::io::Write::write_all(file, json.as_bytes()))
        .map_err(|err| file_error(&path, err.to_string()))
}

/// One fold's model, trained on `train` for the configured epochs, then its P(IDC) for each of
/// `held_out`. `None` when stopped.
fn train_and_predict(
    job: &CrossValidationJob,
    store: &Arc<PatchStore>,
    fold: usize,
    train: &[usize],
    held_out: &[usize],
    listener: &mut dyn FnMut(FoldEvent),
    stop: &AtomicBool,
) -> Result<Option<Vec<f32>>, CrossValidationError> {
    let config = &job.config;
    let mut counts = [0usize; 2];
    for &index in train {
        counts[store.patch(index).label.index()] += 1;
    }
    if let Some(missing) = Label::ALL.into_iter().find(|label| counts[label.index()] == 0) {
        return Err(CrossValidationError::Folds(format!(
            "fold {fold}'s training patients have no {} patches; use fewer folds",
            missing.name()
        )));
    }
    // The recipe's class weights: the larger class's count over each class's.
    let largest = *counts.iter().max().unwrap_or(&1) as f32;
    let class_weights = counts.map(|count| largest / count as f32);
    let compute = select_device(config.device)?;
    let fold_seed = config.seed.wrapping_add(fold as u64 * 1_000_003);
    compute.device.clone().autodiff().seed(fold_seed);
    listener(FoldEvent::Started {
        fold,
        folds: job.folds,
        device: compute.description.clone(),
        train_patches: train.len(),
        held_out_patches: held_out.len(),
    });
    let mut learner = Learner::new(
        &compute.device,
        config.learning_rate,
        config.lr_decay,
        class_weights,
        BatchNormSettings::MODEL,
    );
    let read_every = read_back_every(&compute.device);
    for epoch in 1..=config.epochs {
        let epoch_seed = fold_seed.wrapping_mul(31).wrapping_add(epoch as u64);
        let mut order = train.to_vec();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(epoch_seed));
        let plan = BatchPlan {
            order,
            batch_size: config.batch_size,
            drop_last: true,
            augmentation: Augmentation::of(config).map(|augmentation| (augmentation, epoch_seed)),
            render_threads: render_threads(&compute.device),
        };
        let mut on_read = |read: &BatchRead| {
            listener(FoldEvent::Batch {
                fold,
                epoch,
                batch: read.batch,
                batches: read.batches,
            });
        };
        let end;
        (learner, end) = train_epoch(learner, epoch, store, plan, read_every, stop, &mut on_read)
            .map_err(|err| CrossValidationError::Backend(err.to_string()))?;
        let EpochEnd::Trained(totals) = end else {
            return Ok(None);
        };
        listener(FoldEvent::Epoch {
            fold,
            epoch,
            loss: totals.loss,
            accuracy: totals.accuracy,
        });
    }
    let plain_device = compute.device.clone();
    Ok(Some(predict_patches(
        &learner.model.valid(),
        store,
        held_out,
        &plain_device,
    )?))
}

fn write_rows(path: &Path, rows: &[OutOfFoldRow]) -> Result<(), CrossValidationError> {
    write_csv_atomic(path, rows).map_err(|err| CrossValidationError::File {
        path: path.to_path_buf(),
        why: err.to_string(),
    })
}

fn read_rows(path: &Path) -> Result<Vec<OutOfFoldRow>, CrossValidationError> {
    crate::atomic_file::read_csv(path).map_err(|err| CrossValidationError::File {
        path: path.to_path_buf(),
        why: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::demo::{DemoConfig, generate_demo_dataset};
    use crate::dataset::scan_dataset;

    #[test]
    fn a_fold_file_whose_label_is_not_0_or_1_is_named_with_its_line() {
        let folder = tempfile::tempdir().unwrap();
        let path = fold_file(folder.path(), 0);
        std::fs::write(
            &path,
            "patient,x,y,path,label,prob_idc,fold\n\
             8863,50,100,a.png,1,0.9,0\n\
             8863,100,100,b.png,2,0.2,0\n",
        )
        .unwrap();
        let err = read_rows(&path).unwrap_err().to_string();
        assert!(
            err.contains("fold-0.csv") && err.contains("line 3: label 2 is not 0 or 1"),
            "{err}"
        );
    }

    #[test]
    fn folds_hold_whole_patients_and_every_patch_once() {
        let folder = tempfile::tempdir().unwrap();
        let config = DemoConfig {
            patients: 7,
            patches_per_patient: 40,
            seed: 3,
            ..DemoConfig::default()
        };
        generate_demo_dataset(folder.path(), &config).unwrap();
        let (store, _) = scan_dataset(folder.path(), &|_| {}).unwrap();
        let folds = patient_folds(&store, 3, 42);
        let mut all: Vec<usize> = folds.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..store.len()).collect::<Vec<_>>());
        for (a, fold) in folds.iter().enumerate() {
            for (b, other) in folds.iter().enumerate().filter(|(b, _)| *b != a) {
                let patients = |indices: &Vec<usize>| {
                    indices
                        .iter()
                        .map(|&i| store.patch(i).patient)
                        .collect::<std::collections::HashSet<_>>()
                };
                assert!(
                    patients(fold).is_disjoint(&patients(other)),
                    "folds {a} and {b} share a patient"
                );
            }
        }
        assert_eq!(
            folds,
            patient_folds(&store, 3, 42),
            "the same seed, the same folds"
        );
    }
}
