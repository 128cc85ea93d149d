//! The training loop, run on a worker thread: shuffled, augmented batches through CancerNet
//! with class-weighted cross-entropy and AdaGrad; validation, a checkpoint and (when validation
//! loss improves) the best model after every epoch; then predictions and metrics on the test
//! part with the best model. A stop request is honoured before the next batch.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::augment::Augmentation;
use super::batches::{BatchPlan, render_threads};
use super::config::TrainConfig;
use super::epoch::{BatchRead, EpochEnd, EpochError, EpochTotals, train_epoch};
use super::evaluate::{InferenceError, load_model, loss_and_accuracy, predict_patches};
use super::events::{EpochMetrics, StepMetrics, TrainingEvent};
use super::run_folder::{
    CheckpointState, PartPredictionRow, PredictionRow, RunFileError, RunFolder, RunInfo,
};
use super::run_start::{RunStart, prepare_new_run, prepare_resume};
use super::stain::normalise_reporting;
use super::step::{Learner, read_back_every};
use crate::dataset::split::SplitError;
use crate::dataset::{Label, LabelOverride, PatchStore, SplitPart};
use crate::metrics::Metrics;
use crate::model::saved_file::{load_module, load_optimizer_record, save_module, save_optimizer_record};
use crate::model::{CancerNet, ComputeDevice, DeviceError, select_device};

/// What to train, on what, and where the run goes.
#[derive(Debug, Clone)]
pub struct TrainingJob {
    pub store: Arc<PatchStore>,
    pub config: TrainConfig,
    pub run_dir: PathBuf,
    /// Continue the run in `run_dir` from its last checkpoint, with its saved split. `config`
    /// must then be the recorded settings, except for the number of epochs and the device.
    pub resume: bool,
    /// A new run in a folder of its own, created in `run_dir` and named for the current time.
    pub in_runs_folder: bool,
    /// The readers' corrections, for `config.labels` = reviewed (a resumed run reads its own
    /// from the run folder instead).
    pub corrections: Vec<LabelOverride>,
    /// Where the dataset's patient stains are kept, for a run that normalises stain (`None`:
    /// estimated each time).
    pub stain_folder: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    Finished(Box<Metrics>),
    Stopped { completed_epochs: usize },
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("invalid settings: {0}")]
    Config(String),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(transparent)]
    Split(#[from] SplitError),
    #[error(transparent)]
    RunFile(#[from] RunFileError),
    #[error(transparent)]
    Inference(#[from] InferenceError),
    #[error("{}: {why}", path.display())]
    File { path: PathBuf, why: String },
    #[error("{0}")]
    Data(String),
    #[error("the compute backend failed: {0}")]
    Backend(String),
    #[error("training stopped unexpectedly: {0}")]
    Crashed(String),
}

/// A training run on its own thread.
pub struct TrainingHandle {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<RunOutcome, TrainError>>,
}

impl TrainingHandle {
    /// Asks the run to stop before its next batch; its last checkpoint stays resumable.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// The flag [`TrainingHandle::stop`] sets, for stopping from elsewhere (a signal handler).
    pub fn stop_signal(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    pub fn join(self) -> Result<RunOutcome, TrainError> {
        self.thread
            .join()
            .unwrap_or_else(|panic| Err(TrainError::Crashed(panic_message(&panic))))
    }
}

/// Starts `job` on a thread named `idc-training`; `listener` hears every event, ending with
/// `Finished`, `Stopped` or `Failed`.
pub fn spawn_training(
    job: TrainingJob,
    listener: impl FnMut(TrainingEvent) + Send + 'static,
) -> std::io::Result<TrainingHandle> {
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("idc-training".into())
        .spawn(move || {
            let mut listener = listener;
            // burn reports some failures by panicking; the listener must still hear about them.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_training(&job, &mut listener, &stop_flag)
            }))
            .unwrap_or_else(|panic| Err(TrainError::Crashed(panic_message(&panic))));
            if let Err(err) = &result {
                listener(TrainingEvent::Failed {
                    message: format!("{err:#}"),
                });
            }
            result
        })?;
    Ok(TrainingHandle { stop, thread })
}

/// The text of a caught panic, for the error that reports it.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs `job` on the calling thread: the run prepared and restored, then epoch after epoch
/// trained, validated and committed, then the test part predicted with the best model.
pub fn run_training(
    job: &TrainingJob,
    listener: &mut dyn FnMut(TrainingEvent),
    stop: &AtomicBool,
) -> Result<RunOutcome, TrainError> {
    job.config
        .validate()
        .map_err(|why| TrainError::Config(why.to_string()))?;
    // Everything that can be checked is checked before anything is written: a refused start
    // leaves no folder behind, and a failed one leaves nothing that blocks a retry.
    let start = if job.resume {
        prepare_resume(job)?
    } else {
        prepare_new_run(job)?
    };
    let RunStart {
        run,
        mut info,
        split,
        checkpoint,
        store,
    } = start;
    let Some(store) = normalised_store(&store, &info.config, job, listener, stop)? else {
        listener(TrainingEvent::Stopped { epoch: 1, batch: 0 });
        return Ok(RunOutcome::Stopped {
            completed_epochs: checkpoint.map_or(0, |state| state.completed_epochs),
        });
    };
    let compute = device_for(&run, &mut info)?;
    // Seeds weight initialisation (in the restore); each epoch reseeds its dropout masks.
    compute.device.clone().autodiff().seed(info.config.seed);
    let (mut learner, mut state) = restore(&run, &info, &compute.device, checkpoint)?;
    let mut logs = RunLogs::read(&run, &state)?;
    let parts = [SplitPart::Train, SplitPart::Validation, SplitPart::Test].map(|part| split.indices(part));
    listener(TrainingEvent::Started {
        device: compute.description.clone(),
        run_dir: run.root().to_path_buf(),
        train_patches: parts[0].len(),
        validation_patches: parts[1].len(),
        test_patches: parts[2].len(),
        first_epoch: state.completed_epochs + 1,
        epochs: info.config.epochs,
        batches_per_epoch: parts[0].len() / info.config.batch_size,
    });
    let mut pace = Pace::default();
    let source = EpochSource {
        store: &store,
        train: &parts[0],
        config: &info.config,
        device: &compute.device,
    };
    for epoch in state.completed_epochs + 1..=info.config.epochs {
        let started = Instant::now();
        let end;
        (learner, end) = train_one_epoch(
            learner,
            epoch,
            &source,
            &mut |read| {
                logs.steps.push(StepMetrics {
                    epoch,
                    batch: read.batch,
                    batches: read.batches,
                    loss: read.loss,
                    accuracy: read.accuracy,
                });
                listener(pace.batch_event(epoch, read, &info.config));
            },
            stop,
        )?;
        let totals = match end {
            EpochEnd::Trained(totals) => totals,
            EpochEnd::Stopped { batch } => {
                listener(TrainingEvent::Stopped { epoch, batch });
                return Ok(RunOutcome::Stopped {
                    completed_epochs: state.completed_epochs,
                });
            }
        };
        let metrics = validate(
            &learner,
            &store,
            &parts[1],
            &compute.device,
            epoch,
            totals,
            started,
        )?;
        logs.epochs.push(metrics.clone());
        listener(TrainingEvent::Epoch(metrics.clone()));
        let best = commit_epoch(&run, &learner, &mut state, &logs, &metrics)?;
        listener(TrainingEvent::Checkpoint { epoch, best });
    }
    let held_out = HeldOut {
        validation: &parts[1],
        test: &parts[2],
    };
    finish(&run, &info, &store, held_out, &compute.device, listener)
}

/// The device the run's settings ask for, recorded in the run (the last one, where a resume
/// moved it).
fn device_for(run: &RunFolder, info: &mut RunInfo) -> Result<ComputeDevice, TrainError> {
    let compute = select_device(info.config.device)?;
    if info.device.as_deref() != Some(compute.description.as_str()) {
        info.device = Some(compute.description.clone());
        run.write_info(info)?;
    }
    Ok(compute)
}

/// The test part predicted with the best model, its results written and reported.
fn finish(
    run: &RunFolder,
    info: &RunInfo,
    store: &Arc<PatchStore>,
    parts: HeldOut,
    device: &Device,
    listener: &mut dyn FnMut(TrainingEvent),
) -> Result<RunOutcome, TrainError> {
    listener(TrainingEvent::Evaluating {
        patches: parts.validation.len() + parts.test.len(),
    });
    let best_model = load_model(&run.model_path(), info.batch_norm, device)?;
    let metrics = evaluate_test_part(&best_model, store, parts, device, run)?;
    listener(TrainingEvent::Finished {
        metrics: Box::new(metrics.clone()),
        run_dir: run.root().to_path_buf(),
    });
    Ok(RunOutcome::Finished(Box::new(metrics)))
}

/// A fresh learner, or the one the last committed checkpoint holds, with where training stood.
fn restore(
    run: &RunFolder,
    info: &RunInfo,
    device: &Device,
    checkpoint: Option<CheckpointState>,
) -> Result<(Learner, CheckpointState), TrainError> {
    let config = &info.config;
    let mut learner = Learner::new(
        device,
        config.learning_rate,
        config.lr_decay,
        info.class_weights,
        info.batch_norm,
    );
    let Some(saved) = checkpoint else {
        let fresh = CheckpointState {
            completed_epochs: 0,
            best_validation_loss: f64::INFINITY,
            best_epoch: 0,
        };
        return Ok((learner, fresh));
    };
    let model_path = run.checkpoint_model_path(saved.completed_epochs);
    // Read whole now: the files are deleted once the next epoch's checkpoint is committed.
    learner.model = load_module(learner.model, &model_path).map_err(|why| TrainError::File {
        path: model_path.clone(),
        why: format!("cannot load checkpoint: {why}"),
    })?;
    let optimizer_path = run.checkpoint_optimizer_path(saved.completed_epochs);
    let record = load_optimizer_record(&optimizer_path).map_err(|why| TrainError::File {
        path: optimizer_path.clone(),
        why: format!("cannot load checkpoint: {why}"),
    })?;
    learner.optimizer = learner.optimizer.load_record(record);
    if saved.best_epoch == saved.completed_epochs {
        // A kill between committing the checkpoint and copying it to model.bpk left the best
        // model behind the log; the checkpoint's model is the best one.
        save_model(&learner.model, &run.model_path())?;
    }
    Ok((learner, saved))
}

/// The run's epoch and batch logs, as far as its last committed epoch.
struct RunLogs {
    epochs: Vec<EpochMetrics>,
    steps: Vec<StepMetrics>,
}

impl RunLogs {
    fn read(run: &RunFolder, state: &CheckpointState) -> Result<Self, TrainError> {
        if state.completed_epochs == 0 {
            return Ok(Self {
                epochs: Vec::new(),
                steps: Vec::new(),
            });
        }
        // A damaged log is an error, not a reason to start it over and lose its rows.
        let mut epochs = run.read_epochs()?;
        epochs.truncate(state.completed_epochs);
        let mut steps = run.read_steps()?;
        steps.retain(|step| step.epoch <= state.completed_epochs);
        Ok(Self { epochs, steps })
    }
}

/// What every epoch of a run trains on, and how.
struct EpochSource<'a> {
    store: &'a Arc<PatchStore>,
    train: &'a [usize],
    config: &'a TrainConfig,
    device: &'a Device,
}

/// Epoch `epoch` over the training part: shuffled, augmented and its dropout masks drawn from
/// seeds of its own, so a resumed run trains as the uninterrupted one would have.
fn train_one_epoch(
    learner: Learner,
    epoch: usize,
    source: &EpochSource,
    on_read: &mut dyn FnMut(&BatchRead),
    stop: &AtomicBool,
) -> Result<(Learner, EpochEnd), TrainError> {
    let EpochSource {
        store,
        train,
        config,
        device,
    } = *source;
    device.clone().autodiff().seed(epoch_seed(config.seed, epoch, 3));
    let mut order = train.to_vec();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(epoch_seed(config.seed, epoch, 1)));
    let plan = BatchPlan {
        order,
        batch_size: config.batch_size,
        drop_last: true,
        augmentation: Augmentation::of(config)
            .map(|augmentation| (augmentation, epoch_seed(config.seed, epoch, 2))),
        render_threads: render_threads(device),
    };
    train_epoch(
        learner,
        epoch,
        store,
        plan,
        read_back_every(device),
        stop,
        on_read,
    )
    .map_err(|err| match err {
        EpochError::ReadBack(_) | EpochError::NotFinite { .. } => TrainError::Backend(err.to_string()),
        EpochError::Threads(_) | EpochError::ShortEpoch { .. } => TrainError::Crashed(err.to_string()),
    })
}

/// The epoch's figures with its validation loss and accuracy.
fn validate(
    learner: &Learner,
    store: &Arc<PatchStore>,
    validation: &[usize],
    device: &Device,
    epoch: usize,
    totals: EpochTotals,
    started: Instant,
) -> Result<EpochMetrics, TrainError> {
    let train_seconds = started.elapsed().as_secs_f64();
    let labels: Vec<Label> = validation.iter().map(|&i| store.patch(i).label).collect();
    let probabilities = predict_patches(&learner.model.valid(), store, validation, device)?;
    let (validation_loss, validation_accuracy) = loss_and_accuracy(&labels, &probabilities);
    if !validation_loss.is_finite() {
        return Err(TrainError::Backend(format!(
            "the validation loss became {validation_loss} in epoch {epoch}; try a lower learning rate"
        )));
    }
    Ok(EpochMetrics {
        epoch,
        train_loss: totals.loss,
        train_accuracy: totals.accuracy,
        validation_loss,
        validation_accuracy,
        images_per_sec: totals.images as f64 / train_seconds.max(1e-9),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Saves the epoch's checkpoint and logs, commits it, and then (when validation improved) the
/// best model; true when it did.
fn commit_epoch(
    run: &RunFolder,
    learner: &Learner,
    state: &mut CheckpointState,
    logs: &RunLogs,
    metrics: &EpochMetrics,
) -> Result<bool, TrainError> {
    let epoch = metrics.epoch;
    let best = metrics.validation_loss < state.best_validation_loss;
    save_model(&learner.model, &run.checkpoint_model_path(epoch))?;
    let optimizer_path = run.checkpoint_optimizer_path(epoch);
    save_optimizer_record(learner.optimizer.to_record(), &optimizer_path).map_err(|why| {
        TrainError::File {
            path: optimizer_path.clone(),
            why: why.to_string(),
        }
    })?;
    run.write_epochs(&logs.epochs)?;
    run.write_steps(&logs.steps)?;
    state.completed_epochs = epoch;
    if best {
        state.best_validation_loss = metrics.validation_loss;
        state.best_epoch = epoch;
    }
    run.commit_checkpoint(state)?;
    // Only after the commit: model.bpk is never from an epoch the log does not hold.
    if best {
        save_model(&learner.model, &run.model_path())?;
    }
    Ok(best)
}

/// The training pace, smoothed over read-backs, for the images/s and time left each batch
/// event reports.
#[derive(Default)]
struct Pace {
    seconds_per_batch: Option<f64>,
}

impl Pace {
    fn batch_event(&mut self, epoch: usize, read: &BatchRead, config: &TrainConfig) -> TrainingEvent {
        let smoothed = self.seconds_per_batch.map_or(read.seconds_per_step, |previous| {
            0.9 * previous + 0.1 * read.seconds_per_step
        });
        self.seconds_per_batch = Some(smoothed);
        let batches_left = (read.batches - read.batch) + (config.epochs - epoch) * read.batches;
        TrainingEvent::Batch {
            epoch,
            batch: read.batch,
            batches: read.batches,
            loss: read.loss,
            accuracy: read.accuracy,
            images_per_sec: config.batch_size as f64 / smoothed,
            eta_secs: smoothed * batches_left as f64,
        }
    }
}

/// Predicts the test part, writes `predictions.csv` and `metrics.json`.
fn evaluate_test_part(
    model: &CancerNet,
    store: &Arc<PatchStore>,
    parts: HeldOut,
    device: &Device,
    run: &RunFolder,
) -> Result<Metrics, TrainError> {
    // The validation part's predictions first: temperature scaling is fitted on them.
    let validation: Vec<PartPredictionRow> = predicted_rows(model, store, parts.validation, device, run)?
        .into_iter()
        .map(|row| PartPredictionRow::new(SplitPart::Validation, row))
        .collect();
    run.write_part_predictions(&validation)?;
    let rows = predicted_rows(model, store, parts.test, device, run)?;
    run.write_predictions(&rows)?;
    let labels: Vec<Label> = rows.iter().map(|row| row.label).collect();
    let probabilities: Vec<f32> = rows.iter().map(|row| row.prob_idc).collect();
    let metrics = Metrics::from_probabilities(&labels, &probabilities, 0.5);
    // Written last: metrics.json is what marks a run finished.
    run.write_metrics(&metrics)?;
    Ok(metrics)
}

/// The parts predicted once training has finished.
struct HeldOut<'a> {
    validation: &'a [usize],
    test: &'a [usize],
}

/// `indices`' rows with their P(IDC) under `model`, refused whole if any is not a probability.
fn predicted_rows(
    model: &CancerNet,
    store: &Arc<PatchStore>,
    indices: &[usize],
    device: &Device,
    run: &RunFolder,
) -> Result<Vec<PredictionRow>, TrainError> {
    let probabilities = predict_patches(model, store, indices, device)?;
    if let Some(bad) = probabilities
        .iter()
        .find(|prob| !(prob.is_finite() && (0.0..=1.0).contains(*prob)))
    {
        return Err(TrainError::Backend(format!(
            "{}: the best model gives {bad} as a probability of IDC; no results were written",
            run.model_path().display()
        )));
    }
    Ok(indices
        .iter()
        .zip(&probabilities)
        .map(|(&index, &prob_idc)| PredictionRow::of_patch(store, index, prob_idc))
        .collect())
}

/// `store` as the run sees it: each patient's stain mapped onto the reference when the run
/// normalises stain, the estimate reported as it goes. `None` when stopped meanwhile.
fn normalised_store(
    store: &Arc<PatchStore>,
    config: &TrainConfig,
    job: &TrainingJob,
    listener: &mut dyn FnMut(TrainingEvent),
    stop: &AtomicBool,
) -> Result<Option<Arc<PatchStore>>, TrainError> {
    let mut report = |done, total| listener(TrainingEvent::EstimatingStain { done, total });
    let normalised = normalise_reporting(
        store,
        config.normalize_stain,
        job.stain_folder.as_deref(),
        &mut report,
        stop,
    )
    .map_err(|err| TrainError::Crashed(err.to_string()))?;
    Ok(normalised.map(|(store, warnings)| {
        for message in warnings {
            listener(TrainingEvent::Warning { message });
        }
        store
    }))
}

fn save_model(model: &CancerNet, path: &std::path::Path) -> Result<(), TrainError> {
    save_module(model.clone(), path).map_err(|why| TrainError::File {
        path: path.to_path_buf(),
        why: why.to_string(),
    })
}

/// Separate, reproducible random streams per epoch and purpose.
fn epoch_seed(seed: u64, epoch: usize, purpose: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((epoch as u64) << 8)
        .wrapping_add(purpose)
}
