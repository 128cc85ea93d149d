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
use super::batches::{BatchPlan, prefetch_batches, render_threads};
use super::config::TrainConfig;
use super::evaluate::{InferenceError, load_model, loss_and_accuracy, predict_patches};
use super::events::{EpochMetrics, StepMetrics, TrainingEvent};
use super::run_folder::{CheckpointState, PredictionRow, RunClaim, RunFileError, RunFolder, RunInfo};
use super::stain::normalise_reporting;
use super::step::{Learner, ReadBackWindow, read_back_every};
use crate::dataset::split::SplitError;
use crate::dataset::{Label, LabelOverride, LabelSource, PatchStore, Split, SplitKind, SplitPart};
use crate::metrics::Metrics;
use crate::model::cancernet::BatchNormSettings;
use crate::model::saved_file::{load_module, load_optimizer_record, save_module, save_optimizer_record};
use crate::model::{CancerNet, DeviceError, select_device};

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

/// Runs `job` on the calling thread.
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
    let store = &store;
    let compute = select_device(info.config.device)?;
    if info.device.as_deref() != Some(compute.description.as_str()) {
        info.device = Some(compute.description.clone());
        run.write_info(&info)?;
    }
    let config = &info.config;
    let plain_device = compute.device.clone();
    // Seeds weight initialisation; each epoch reseeds its dropout masks (below).
    plain_device.clone().autodiff().seed(config.seed);

    let train_indices = split.indices(SplitPart::Train);
    let validation_indices = split.indices(SplitPart::Validation);
    let test_indices = split.indices(SplitPart::Test);
    let batches_per_epoch = train_indices.len() / config.batch_size;

    let mut learner = Learner::new(
        &compute.device,
        config.learning_rate,
        config.lr_decay,
        info.class_weights,
        info.batch_norm,
    );
    let mut state = CheckpointState {
        completed_epochs: 0,
        best_validation_loss: f64::INFINITY,
        best_epoch: 0,
    };
    if let Some(saved) = checkpoint {
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
            // A kill between committing the checkpoint and copying it to model.bpk left the
            // best model behind the log; the checkpoint's model is the best one.
            save_model(&learner.model, &run.model_path())?;
        }
        state = saved;
    }
    let (mut epoch_log, mut step_log) = if state.completed_epochs > 0 {
        // A damaged log is an error, not a reason to start it over and lose its rows.
        let mut log = run.read_epochs()?;
        log.truncate(state.completed_epochs);
        let mut steps = run.read_steps()?;
        steps.retain(|step| step.epoch <= state.completed_epochs);
        (log, steps)
    } else {
        (Vec::new(), Vec::new())
    };

    listener(TrainingEvent::Started {
        device: compute.description.clone(),
        run_dir: run.root().to_path_buf(),
        train_patches: train_indices.len(),
        validation_patches: validation_indices.len(),
        test_patches: test_indices.len(),
        first_epoch: state.completed_epochs + 1,
        epochs: config.epochs,
        batches_per_epoch,
    });

    // Reading a loss back waits for the device: a GPU gets several steps queued between reads.
    let read_every = read_back_every(&compute.device);
    let validation_labels: Vec<Label> = validation_indices.iter().map(|&i| store.patch(i).label).collect();
    let mut seconds_per_batch: Option<f64> = None;

    for epoch in state.completed_epochs + 1..=config.epochs {
        let epoch_started = Instant::now();
        // Dropout masks are drawn from the device's generator: seeded per epoch, a resumed run
        // draws the masks the uninterrupted one would have.
        plain_device
            .clone()
            .autodiff()
            .seed(epoch_seed(config.seed, epoch, 3));
        let mut order = train_indices.clone();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(epoch_seed(config.seed, epoch, 1)));
        let plan = BatchPlan {
            order,
            batch_size: config.batch_size,
            drop_last: true,
            augmentation: Augmentation::of(config)
                .map(|augmentation| (augmentation, epoch_seed(config.seed, epoch, 2))),
            render_threads: render_threads(&compute.device),
        };
        let batches =
            prefetch_batches(Arc::clone(store), plan).map_err(|err| TrainError::Crashed(err.to_string()))?;
        let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
        let mut window = ReadBackWindow::new(read_every);
        let mut window_started = Instant::now();
        for (batch_number, batch) in (1..).zip(batches) {
            if stop.load(Ordering::SeqCst) {
                listener(TrainingEvent::Stopped {
                    epoch,
                    batch: batch_number,
                });
                return Ok(RunOutcome::Stopped {
                    completed_epochs: state.completed_epochs,
                });
            }
            let outcome;
            (learner, outcome) = learner.step_pending(batch);
            let Some(gathered) = window.push(outcome, batch_number == batches_per_epoch) else {
                continue;
            };
            let window_steps = gathered.steps();
            let window_items = gathered.items();
            let read = gathered
                .read()
                .map_err(|why| TrainError::Backend(why.to_string()))?;
            if !read.loss.is_finite() {
                return Err(TrainError::Backend(format!(
                    "the loss became {} in epoch {epoch}, batch {batch_number}; try a lower learning rate",
                    read.loss
                )));
            }
            loss_sum += read.loss * window_items as f64;
            correct += read.correct;
            seen += window_items;
            let elapsed = window_started.elapsed().as_secs_f64() / window_steps as f64;
            window_started = Instant::now();
            let smoothed = seconds_per_batch.map_or(elapsed, |previous| 0.9 * previous + 0.1 * elapsed);
            seconds_per_batch = Some(smoothed);
            let batches_left =
                (batches_per_epoch - batch_number) + (config.epochs - epoch) * batches_per_epoch;
            let accuracy = read.correct as f64 / window_items.max(1) as f64;
            step_log.push(StepMetrics {
                epoch,
                batch: batch_number,
                batches: batches_per_epoch,
                loss: read.loss,
                accuracy,
            });
            listener(TrainingEvent::Batch {
                epoch,
                batch: batch_number,
                batches: batches_per_epoch,
                loss: read.loss,
                accuracy,
                images_per_sec: config.batch_size as f64 / smoothed,
                eta_secs: smoothed * batches_left as f64,
            });
        }
        if seen < batches_per_epoch * config.batch_size {
            return Err(TrainError::Crashed(format!(
                "the batch thread ended after {seen} of {} images in epoch {epoch}",
                batches_per_epoch * config.batch_size
            )));
        }
        let train_seconds = epoch_started.elapsed().as_secs_f64();

        let validation_probabilities =
            predict_patches(&learner.model.valid(), store, &validation_indices, &plain_device)?;
        let (validation_loss, validation_accuracy) =
            loss_and_accuracy(&validation_labels, &validation_probabilities);
        if !validation_loss.is_finite() {
            return Err(TrainError::Backend(format!(
                "the validation loss became {validation_loss} in epoch {epoch}; try a lower learning rate"
            )));
        }
        let metrics = EpochMetrics {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            validation_loss,
            validation_accuracy,
            images_per_sec: seen as f64 / train_seconds.max(1e-9),
            seconds: epoch_started.elapsed().as_secs_f64(),
        };
        epoch_log.push(metrics.clone());
        listener(TrainingEvent::Epoch(metrics));

        let best = validation_loss < state.best_validation_loss;
        save_model(&learner.model, &run.checkpoint_model_path(epoch))?;
        let optimizer_path = run.checkpoint_optimizer_path(epoch);
        save_optimizer_record(learner.optimizer.to_record(), &optimizer_path).map_err(|why| {
            TrainError::File {
                path: optimizer_path.clone(),
                why: why.to_string(),
            }
        })?;
        run.write_epochs(&epoch_log)?;
        run.write_steps(&step_log)?;
        state.completed_epochs = epoch;
        if best {
            state.best_validation_loss = validation_loss;
            state.best_epoch = epoch;
        }
        run.commit_checkpoint(&state)?;
        // Only after the commit: model.bpk is never from an epoch the log does not hold.
        if best {
            save_model(&learner.model, &run.model_path())?;
        }
        listener(TrainingEvent::Checkpoint { epoch, best });
    }

    listener(TrainingEvent::Evaluating {
        patches: test_indices.len(),
    });
    let best_model = load_model(&run.model_path(), info.batch_norm, &plain_device)?;
    let metrics = evaluate_test_part(&best_model, store, &test_indices, &plain_device, &run)?;
    listener(TrainingEvent::Finished {
        metrics: Box::new(metrics.clone()),
        run_dir: run.root().to_path_buf(),
    });
    Ok(RunOutcome::Finished(Box::new(metrics)))
}

/// Predicts the test part, writes `predictions.csv` and `metrics.json`.
fn evaluate_test_part(
    model: &CancerNet,
    store: &Arc<PatchStore>,
    test_indices: &[usize],
    device: &Device,
    run: &RunFolder,
) -> Result<Metrics, TrainError> {
    let probabilities = predict_patches(model, store, test_indices, device)?;
    if let Some(bad) = probabilities
        .iter()
        .find(|prob| !(prob.is_finite() && (0.0..=1.0).contains(*prob)))
    {
        return Err(TrainError::Backend(format!(
            "{}: the best model gives {bad} as a probability of IDC; no results were written",
            run.model_path().display()
        )));
    }
    let rows: Vec<PredictionRow> = test_indices
        .iter()
        .zip(&probabilities)
        .map(|(&index, &prob_idc)| {
            let patch = store.patch(index);
            PredictionRow {
                path: patch.path.clone(),
                patient: store.patient_name(patch).to_string(),
                x: patch.x,
                y: patch.y,
                label: patch.label.index(),
                prob_idc,
            }
        })
        .collect();
    run.write_predictions(&rows)?;
    let labels: Vec<Label> = rows.iter().map(PredictionRow::truth).collect();
    let metrics = Metrics::from_probabilities(&labels, &probabilities, 0.5);
    run.write_metrics(&metrics)?;
    Ok(metrics)
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
    .map_err(TrainError::Crashed)?;
    Ok(normalised.map(|(store, warnings)| {
        for message in warnings {
            listener(TrainingEvent::Warning { message });
        }
        store
    }))
}

/// A run folder, held, with what it will train on.
struct RunStart {
    run: RunClaim,
    info: RunInfo,
    split: Split,
    checkpoint: Option<CheckpointState>,
    /// The patches with the labels the run trains on.
    store: Arc<PatchStore>,
}

/// The store with the labels `source` asks for: the dataset's, or with the readers'
/// corrections applied (and what they changed).
fn labelled_store(
    store: &Arc<PatchStore>,
    source: &LabelSource,
    corrections: &[LabelOverride],
) -> (Arc<PatchStore>, Option<crate::dataset::LabelChanges>) {
    match source {
        LabelSource::Dataset => (Arc::clone(store), None),
        LabelSource::Reviewed { .. } => {
            let (relabelled, changes) = store.relabelled(corrections);
            (Arc::new(relabelled), Some(changes))
        }
    }
}

fn prepare_new_run(job: &TrainingJob) -> Result<RunStart, TrainError> {
    let (labelled, label_changes) = labelled_store(&job.store, &job.config.labels, &job.corrections);
    let store = &labelled;
    let split = Split::new(store, job.config.split, job.config.seed);
    let class_weights = check_split(store, &split, &job.config)?;
    let run = if job.in_runs_folder {
        RunFolder::create_unique(&job.run_dir)?
    } else {
        RunFolder::new(&job.run_dir)
    };
    // Looked at before the claim (which leaves a lock file) and again under it.
    check_free_for_new_run(&run)?;
    let run = run.claim()?;
    check_free_for_new_run(&run)?;
    run.create()?;
    split.save(store, &run.split_path())?;
    if label_changes.is_some() {
        run.write_corrections(&job.corrections)?;
    }
    let info = RunInfo {
        config: job.config.clone(),
        dataset: store.root().to_path_buf(),
        synthetic: store.is_synthetic(),
        class_weights,
        version: env!("CARGO_PKG_VERSION").to_string(),
        batch_norm: BatchNormSettings::MODEL,
        label_changes,
        device: None,
    };
    run.write_info(&info)?;
    Ok(RunStart {
        run,
        info,
        split,
        checkpoint: None,
        store: labelled,
    })
}

/// Refuses a folder that holds a trained run or files of the user's own. A run that failed
/// before its first epoch is started again in place.
fn check_free_for_new_run(run: &RunFolder) -> Result<(), TrainError> {
    if !run.root().exists() {
        return Ok(());
    }
    if run.config_path().exists() && (run.read_info().is_err() || run.has_trained()?) {
        return Err(TrainError::Config(format!(
            "{} already holds a run; resume it or choose another output folder",
            run.root().display()
        )));
    }
    if let Some(stranger) = run.foreign_entry()? {
        return Err(TrainError::Config(format!(
            "{} is not empty and holds no run (it has {}); choose an empty or new folder",
            run.root().display(),
            stranger.display()
        )));
    }
    Ok(())
}

/// Refuses a split that cannot give a trained model and honest scores: a part with no
/// patches, a training part without both classes or smaller than one batch. Returns the class
/// weights of the training part.
fn check_split(store: &PatchStore, split: &Split, config: &TrainConfig) -> Result<[f32; 2], TrainError> {
    let advice = match config.split {
        SplitKind::Patient => format!(
            "a split by patient needs at least 3 patients with patches of both classes (this dataset has {}); add patients or use --split patch",
            store.patients().len()
        ),
        SplitKind::Patch => format!(
            "this dataset has {} patches; a split by patch needs some dozens",
            store.len()
        ),
    };
    for (part, name) in [(SplitPart::Test, "test"), (SplitPart::Validation, "validation")] {
        if split.indices(part).is_empty() {
            return Err(TrainError::Data(format!(
                "the {name} part would be empty: {advice}"
            )));
        }
    }
    let train = split.indices(SplitPart::Train);
    let mut train_counts = [0usize; 2];
    for &index in &train {
        train_counts[store.patch(index).label.index()] += 1;
    }
    if let Some(missing) = Label::ALL
        .into_iter()
        .find(|label| train_counts[label.index()] == 0)
    {
        return Err(TrainError::Data(format!(
            "the training part has no {} patches; a classifier needs both classes",
            missing.name()
        )));
    }
    if train.len() < config.batch_size {
        return Err(TrainError::Data(format!(
            "the training part has {} patches, fewer than one batch of {}",
            train.len(),
            config.batch_size
        )));
    }
    let largest = *train_counts.iter().max().unwrap_or(&1) as f32;
    Ok(train_counts.map(|count| largest / count as f32))
}

/// Continues the run as it was recorded. Only the number of epochs and the device may differ
/// from the recorded settings (a new epoch count is recorded); any other difference is refused
/// by name, since a resumed run with other settings would be neither run.
fn prepare_resume(job: &TrainingJob) -> Result<RunStart, TrainError> {
    let run = RunFolder::open(&job.run_dir)?.claim()?;
    let mut info = run.read_info()?;
    let changed = changed_settings(&info.config, &job.config);
    if !changed.is_empty() {
        return Err(TrainError::Config(format!(
            "{}: a resumed run keeps its settings, but {} differ{} from the recorded; start a new run to change {}",
            run.root().display(),
            changed.join(", "),
            if changed.len() == 1 { "s" } else { "" },
            if changed.len() == 1 { "it" } else { "them" },
        )));
    }
    // The corrections recorded when the run started, not the readers' current ones: a resumed
    // run trains on the labels it began with.
    let corrections = match info.config.labels {
        LabelSource::Dataset => Vec::new(),
        LabelSource::Reviewed { .. } => run.read_corrections()?,
    };
    let (labelled, _) = labelled_store(&job.store, &info.config.labels, &corrections);
    let split = Split::load(&labelled, info.config.split, info.config.seed, &run.split_path())?;
    check_split(&labelled, &split, &info.config)?;
    let checkpoint = run.read_checkpoint()?;
    let completed = checkpoint.as_ref().map_or(0, |state| state.completed_epochs);
    // A run killed after its last epoch but before its results were all written finishes
    // with its test evaluation alone.
    let has_results = run.predictions_path().exists() && run.metrics_path().exists();
    if job.config.epochs < completed || (job.config.epochs == completed && has_results) {
        return Err(TrainError::Config(format!(
            "{}: the run has finished {completed} epochs; ask for more to train further",
            run.root().display()
        )));
    }
    if job.config.epochs != info.config.epochs || job.config.device != info.config.device {
        info.config.epochs = job.config.epochs;
        info.config.device = job.config.device;
        run.write_info(&info)?;
    }
    // Results of an earlier finish belong to a model this run is about to move past.
    run.remove_results()?;
    Ok(RunStart {
        run,
        info,
        split,
        checkpoint,
        store: labelled,
    })
}

/// The names of the settings, other than epochs and device, in which `asked` differs from
/// `recorded`, as the command line spells them.
pub fn changed_settings(recorded: &TrainConfig, asked: &TrainConfig) -> Vec<String> {
    let split = |kind: SplitKind| match kind {
        SplitKind::Patient => "patient",
        SplitKind::Patch => "patch",
    };
    let on_off = |enabled: bool| if enabled { "on" } else { "off" };
    let settings = [
        (
            "--batch-size",
            asked.batch_size.to_string(),
            recorded.batch_size.to_string(),
        ),
        (
            "--learning-rate",
            asked.learning_rate.to_string(),
            recorded.learning_rate.to_string(),
        ),
        (
            "the learning-rate decay",
            asked.lr_decay.to_string(),
            recorded.lr_decay.to_string(),
        ),
        ("--split", split(asked.split).into(), split(recorded.split).into()),
        ("--seed", asked.seed.to_string(), recorded.seed.to_string()),
        (
            "augmentation",
            on_off(asked.augment).into(),
            on_off(recorded.augment).into(),
        ),
        (
            "--stain-augment",
            asked.stain_augment.name().into(),
            recorded.stain_augment.name().into(),
        ),
        (
            "--normalize-stain",
            asked.normalize_stain.name().into(),
            recorded.normalize_stain.name().into(),
        ),
        ("--labels", asked.labels.to_string(), recorded.labels.to_string()),
    ];
    settings
        .into_iter()
        .filter(|(_, asked, recorded)| asked != recorded)
        .map(|(name, asked, recorded)| format!("{name} ({asked} asked, {recorded} recorded)"))
        .collect()
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
