//! Training on the CPU: a short run learns, stops when asked, resumes, and its saved model
//! predicts exactly what the run recorded.

mod common;

use std::sync::{Mutex, MutexGuard, mpsc};

use common::datasets::small_demo;
use idc_studio::dataset::{Label, SplitKind};
use idc_studio::metrics::Metrics;
use idc_studio::model::DeviceChoice;
use idc_studio::model::cancernet::BatchNormSettings;
use idc_studio::training::evaluate::{load_model, predict_patches};
use idc_studio::training::{RunFolder, RunOutcome, TrainConfig, TrainingEvent, TrainingJob, spawn_training};

/// Enough steps (about 190 of batch 16) for the model to settle past the class weights' pull.
const SHORT_RUN_EPOCHS: usize = 6;

/// burn's CPU backend draws weights and dropout masks from one random generator per process,
/// which a run seeds when it starts. Tests that train take turns, so a run's draws are its own
/// and the run is the same every time (in parallel, a rare draw gave a run that predicted one
/// class for every test patch).
fn one_run_at_a_time() -> MutexGuard<'static, ()> {
    static RANDOM_GENERATOR: Mutex<()> = Mutex::new(());
    RANDOM_GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn cpu_config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        // Small batches: more steps from a small dataset.
        batch_size: 16,
        split: SplitKind::Patch,
        device: DeviceChoice::Cpu,
        ..TrainConfig::default()
    }
}

fn train(job: TrainingJob) -> (RunOutcome, Vec<TrainingEvent>) {
    let (sender, receiver) = mpsc::channel();
    let handle = spawn_training(job, move |event| sender.send(event).unwrap()).unwrap();
    let events: Vec<TrainingEvent> = receiver.iter().collect();
    (handle.join().unwrap(), events)
}

#[test]
fn a_short_run_learns_and_writes_a_complete_run_folder() {
    let _turn = one_run_at_a_time();
    let store = &small_demo().store;
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let job = TrainingJob {
        store: store.clone(),
        config: cpu_config(SHORT_RUN_EPOCHS),
        run_dir: run_dir.clone(),
        resume: false,
        in_runs_folder: false,
        corrections: Vec::new(),
        stain_folder: None,
    };
    let (outcome, events) = train(job);
    let RunOutcome::Finished(metrics) = outcome else {
        panic!("run did not finish: {events:?}")
    };

    // The test part's majority class is the bar to clear.
    let run = RunFolder::open(&run_dir).unwrap();
    let rows = run.read_predictions().unwrap();
    let idc = rows.iter().filter(|row| row.label == Label::Idc).count();
    let majority = idc.max(rows.len() - idc) as f64 / rows.len() as f64;
    println!(
        "test accuracy {:.3}, majority rate {majority:.3}, {metrics:?}",
        metrics.accuracy
    );
    assert!(
        metrics.accuracy > majority + 0.05,
        "accuracy {} vs majority {majority}",
        metrics.accuracy
    );
    assert!(metrics.roc_auc.unwrap() > 0.75);

    // Every batch report is kept on disk, so a reopened run plots what it plotted live, and
    // the device it trained on is recorded.
    let batch_reports = events
        .iter()
        .filter(|e| matches!(e, TrainingEvent::Batch { .. }))
        .count();
    let steps = run.read_steps().unwrap();
    assert_eq!(steps.len(), batch_reports);
    assert!(
        steps
            .iter()
            .all(|step| step.loss.is_finite() && step.epoch <= SHORT_RUN_EPOCHS)
    );
    assert!(run.read_info().unwrap().device.unwrap().starts_with("CPU"));

    // Events: started, batches, every epoch with its checkpoint, evaluation, finished.
    assert!(matches!(
        events.first(),
        Some(TrainingEvent::Started {
            first_epoch: 1,
            epochs: SHORT_RUN_EPOCHS,
            ..
        })
    ));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, TrainingEvent::Epoch(_)))
            .count(),
        SHORT_RUN_EPOCHS
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, TrainingEvent::Checkpoint { .. }))
            .count(),
        SHORT_RUN_EPOCHS
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TrainingEvent::Batch { images_per_sec, .. } if *images_per_sec > 0.0))
    );
    assert!(matches!(events.last(), Some(TrainingEvent::Finished { .. })));

    // The folder: config, split, per-epoch log, model, predictions and metrics.
    for file in [
        "config.json",
        "split.csv",
        "epochs.csv",
        "model.bpk",
        "predictions.csv",
        "metrics.json",
    ] {
        assert!(run_dir.join(file).is_file(), "{file} written");
    }
    assert_eq!(run.read_epochs().unwrap().len(), SHORT_RUN_EPOCHS);
    let saved: Metrics = serde_json::from_str(&std::fs::read_to_string(run.metrics_path()).unwrap()).unwrap();
    assert_eq!(saved.confusion, metrics.confusion);
    assert!((saved.accuracy - metrics.accuracy).abs() < 1e-12);
    let header = std::fs::read_to_string(run.predictions_path()).unwrap();
    assert!(header.starts_with("path,patient,x,y,label,prob_idc\n"));
    let json = std::fs::read_to_string(run.metrics_path()).unwrap();
    for key in [
        "accuracy",
        "sensitivity",
        "specificity",
        "precision",
        "f1",
        "balanced_accuracy",
        "roc_auc",
        "confusion",
        "calibration",
        "ece",
        "brier",
        "log_loss",
    ] {
        assert!(json.contains(&format!("\"{key}\"")), "metrics.json has {key}");
    }
    let calibration = saved
        .calibration
        .expect("metrics.json has the calibration scores");
    assert_eq!(calibration.patches, saved.patches);
    assert!(calibration.ece >= 0.0 && calibration.ece <= 1.0 && calibration.brier <= 1.0);

    // Saved and loaded, the model predicts exactly what the run recorded.
    let device = idc_studio::model::select_device(DeviceChoice::Cpu)
        .unwrap()
        .device;
    // With the batch-norm settings the run recorded, which are the model's; with burn's
    // defaults (those of runs saved before settings were recorded) the same file predicts
    // otherwise.
    let batch_norm = run.read_info().unwrap().batch_norm;
    assert_eq!(batch_norm, BatchNormSettings::MODEL);
    let model = load_model(&run.model_path(), batch_norm, &device).unwrap();
    let index = store.index_by_identity();
    let test_indices: Vec<usize> = rows
        .iter()
        .map(|row| index[&(row.patient.as_str(), row.x, row.y)])
        .collect();
    let again = predict_patches(&model, store, &test_indices, &device).unwrap();
    let recorded: Vec<f32> = rows.iter().map(|row| row.prob_idc).collect();
    assert_eq!(again, recorded);
    let other = load_model(&run.model_path(), BatchNormSettings::BURN_DEFAULTS, &device).unwrap();
    assert_ne!(
        predict_patches(&other, store, &test_indices, &device).unwrap(),
        recorded
    );
}

#[test]
fn a_stop_request_is_honoured_within_one_batch_and_the_run_resumes() {
    let _turn = one_run_at_a_time();
    let store = &small_demo().store;
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let job = TrainingJob {
        store: store.clone(),
        config: cpu_config(1),
        run_dir: run_dir.clone(),
        resume: false,
        in_runs_folder: false,
        corrections: Vec::new(),
        stain_folder: None,
    };

    // Finish one epoch, then ask for a second and stop it after its first batch.
    let (outcome, _) = train(job.clone());
    assert!(matches!(outcome, RunOutcome::Finished(_)));
    let resumed = TrainingJob {
        config: cpu_config(2),
        resume: true,
        ..job.clone()
    };
    let (sender, receiver) = mpsc::channel();
    let handle = spawn_training(resumed.clone(), move |event| sender.send(event).unwrap()).unwrap();
    let mut batches_after_stop = None;
    let mut events = Vec::new();
    for event in receiver.iter() {
        if let TrainingEvent::Batch { .. } = event {
            match &mut batches_after_stop {
                None => {
                    handle.stop();
                    batches_after_stop = Some(0);
                }
                Some(count) => *count += 1,
            }
        }
        events.push(event);
    }
    assert_eq!(
        handle.join().unwrap(),
        RunOutcome::Stopped { completed_epochs: 1 }
    );
    assert!(
        batches_after_stop.unwrap() <= 1,
        "at most the batch in flight completes"
    );
    assert!(matches!(
        events.first(),
        Some(TrainingEvent::Started { first_epoch: 2, .. })
    ));
    assert!(matches!(
        events.last(),
        Some(TrainingEvent::Stopped { epoch: 2, .. })
    ));
    let run = RunFolder::open(&run_dir).unwrap();
    assert_eq!(
        run.read_epochs().unwrap().len(),
        1,
        "the stopped epoch is not logged"
    );
    assert!(
        !run.predictions_path().exists() && run.read_metrics().unwrap().is_none(),
        "the first finish's results are gone once the run trains further"
    );

    // Resumed again, it picks up at epoch 2 and finishes.
    let (outcome, events) = train(resumed);
    assert!(matches!(outcome, RunOutcome::Finished(_)));
    assert!(matches!(
        events.first(),
        Some(TrainingEvent::Started { first_epoch: 2, .. })
    ));
    assert_eq!(run.read_epochs().unwrap().len(), 2);
    assert!(
        !run.checkpoint_model_path(1).exists(),
        "older checkpoints are removed"
    );
    assert!(run.checkpoint_model_path(2).exists());
}

#[test]
fn a_new_run_never_overwrites_an_existing_one() {
    let _turn = one_run_at_a_time();
    let store = &small_demo().store;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), "{}").unwrap();
    let job = TrainingJob {
        store: store.clone(),
        config: cpu_config(1),
        run_dir: dir.path().to_path_buf(),
        resume: false,
        in_runs_folder: false,
        corrections: Vec::new(),
        stain_folder: None,
    };
    let (sender, receiver) = mpsc::channel();
    let handle = spawn_training(job, move |event| sender.send(event).unwrap()).unwrap();
    let events: Vec<TrainingEvent> = receiver.iter().collect();
    let err = handle.join().unwrap_err();
    assert!(err.to_string().contains("already holds a run"), "{err}");
    assert!(matches!(events.last(), Some(TrainingEvent::Failed { .. })));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("config.json")).unwrap(),
        "{}"
    );
}

#[test]
fn a_file_that_is_not_a_model_is_a_clear_error() {
    let _turn = one_run_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.bpk");
    std::fs::write(&path, b"not a model at all").unwrap();
    let device = idc_studio::model::select_device(DeviceChoice::Cpu)
        .unwrap()
        .device;
    let err = load_model(&path, BatchNormSettings::MODEL, &device)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("{}: cannot load the model", path.display())),
        "{err}"
    );
}

#[test]
fn a_loaded_model_keeps_predicting_after_its_file_is_deleted_or_replaced() {
    let _turn = one_run_at_a_time();
    use idc_studio::model::CancerNet;
    use idc_studio::training::batches::HostBatch;
    use idc_studio::training::evaluate::predict_batch;

    let store = &small_demo().store;
    let device = idc_studio::model::select_device(DeviceChoice::Cpu)
        .unwrap()
        .device;
    let batch = HostBatch::build(store, &[0, 1, 2], 4, None);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.bpk");
    let save = |seed: u64| {
        device.seed(seed);
        burn::module::Module::save_file(CancerNet::new(&device), &path).unwrap();
    };
    save(1);
    let first = load_model(&path, BatchNormSettings::MODEL, &device).unwrap();
    let expected = predict_batch(&first, batch.clone(), &device).unwrap();

    // Loaded, then its file replaced by another model's before the first use (a run's model
    // rewritten by a resumed run): it predicts with the values it was loaded with.
    let loaded = load_model(&path, BatchNormSettings::MODEL, &device).unwrap();
    save(2);
    let other = load_model(&path, BatchNormSettings::MODEL, &device).unwrap();
    assert_ne!(predict_batch(&other, batch.clone(), &device).unwrap(), expected);
    assert_eq!(predict_batch(&loaded, batch.clone(), &device).unwrap(), expected);

    // And with its file gone (burn would read it on first use, and panic).
    let loaded = load_model(&path, BatchNormSettings::MODEL, &device).unwrap();
    drop(dir);
    predict_batch(&loaded, batch.clone(), &device).unwrap();
}

#[test]
fn losses_read_back_every_few_steps_add_up_to_the_per_step_losses() {
    let _turn = one_run_at_a_time();
    use idc_studio::training::batches::HostBatch;
    use idc_studio::training::step::{Learner, ReadBackWindow};

    let store = &small_demo().store;
    let cpu = idc_studio::model::select_device(DeviceChoice::Cpu).unwrap();
    // Seven batches of 8, the last one short (5 real items and 3 of padding).
    let batches: Vec<HostBatch> = (0..7)
        .map(|k| {
            let real = if k == 6 { 5 } else { 8 };
            let indices: Vec<usize> = (k * 8..k * 8 + real).collect();
            HostBatch::build(store, &indices, 8, None)
        })
        .collect();

    // Each step's figures read on their own, and the same steps gathered three at a time.
    let mut learner = Learner::new(&cpu.device, 1e-2, 2.5e-4, [1.0, 2.5], BatchNormSettings::MODEL);
    let mut per_step = Vec::new();
    let mut window = ReadBackWindow::new(3);
    let mut reads = Vec::new();
    for (number, batch) in (1..).zip(&batches) {
        let pending;
        (learner, pending) = learner.step_pending(batch.clone());
        per_step.push(pending.clone().read().unwrap());
        if let Some(gathered) = window.push(pending, number == batches.len()) {
            reads.push((number, gathered.items(), gathered.read().unwrap()));
        }
    }

    let read_at: Vec<(usize, usize)> = reads.iter().map(|(number, items, _)| (*number, *items)).collect();
    assert_eq!(read_at, vec![(3, 24), (6, 24), (7, 5)]);
    for ((_, _, read), steps) in reads.iter().zip([0..3, 3..6, 6..7]) {
        let items: Vec<f64> = steps.clone().map(|k| batches[k].len() as f64).collect();
        let expected_loss = steps
            .clone()
            .zip(&items)
            .map(|(k, n)| per_step[k].loss * n)
            .sum::<f64>()
            / items.iter().sum::<f64>();
        let expected_correct: usize = steps.map(|k| per_step[k].correct).sum();
        assert!(
            (read.loss - expected_loss).abs() < 1e-5 * expected_loss.abs().max(1.0),
            "window loss {} vs per-step {expected_loss}",
            read.loss
        );
        assert_eq!(read.correct, expected_correct);
    }
}

#[test]
fn adagrad_in_groups_steps_each_parameter_as_on_its_own_and_resumes_from_its_checkpoint() {
    let device = burn::prelude::Device::flex().autodiff();
    let [direct, grouped, start] = common::stack::direct_and_grouped(&device);
    assert_ne!(direct, start, "the parameters moved");
    assert_eq!(direct, grouped);
}
