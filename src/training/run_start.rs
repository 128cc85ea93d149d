//! The start of a training run, checked before anything is written: a new run's folder (never
//! one that holds a trained run or the user's own files), its labels and split, or a resumed
//! run exactly as it was recorded.

use std::sync::Arc;

use super::config::TrainConfig;
use super::run_folder::{CheckpointState, RunClaim, RunFolder, RunInfo};
use super::trainer::{TrainError, TrainingJob};
use crate::dataset::{Label, LabelOverride, LabelSource, PatchStore, Split, SplitKind, SplitPart};
use crate::model::cancernet::BatchNormSettings;

/// A run folder, held, with what it will train on.
pub(super) struct RunStart {
    pub run: RunClaim,
    pub info: RunInfo,
    pub split: Split,
    pub checkpoint: Option<CheckpointState>,
    /// The patches with the labels the run trains on.
    pub store: Arc<PatchStore>,
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

pub(super) fn prepare_new_run(job: &TrainingJob) -> Result<RunStart, TrainError> {
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
        imported: None,
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
pub(super) fn prepare_resume(job: &TrainingJob) -> Result<RunStart, TrainError> {
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
