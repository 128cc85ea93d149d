//! `idc-studio train`: progress bars while the worker trains, then the test metrics.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;

use indicatif::{ProgressBar, ProgressStyle};

use super::report::{print_metrics, print_scan_report};
use super::scan::scan_with_progress;
use crate::dataset::demo::{DemoConfig, default_demo_dir, ensure_demo_dataset};
use crate::dataset::stain::patient_stains::stain_folder;
use crate::dataset::stain::{StainAugment, StainNormalisation};
use crate::dataset::{LabelSource, SplitKind};
use crate::model::DeviceChoice;
use crate::review::{Reviews, annotations_folder, reviewed_corrections};
use crate::training::events::format_duration;
use crate::training::{RunFolder, RunOutcome, TrainConfig, TrainingEvent, TrainingJob, spawn_training};

#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Dataset folder in the IDC layout (with --demo: where the demo dataset is, or goes;
    /// with --resume: the run's own dataset unless given).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Use the built-in synthetic demo dataset, generating it on first use.
    #[arg(long)]
    pub demo: bool,
    /// Epochs to train [default: 40; with --resume: the run's own].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Patches per batch [default: 32].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// AdaGrad's learning rate [default: 0.01].
    #[arg(long)]
    pub learning_rate: Option<f64>,
    /// Where to train [default: auto; with --resume: the run's own].
    #[arg(long, value_enum)]
    pub device: Option<DeviceChoice>,
    /// How patches are divided into training, validation and test parts [default: patient].
    #[arg(long, value_enum)]
    pub split: Option<SplitKind>,
    /// Seeds the split, the initial weights, the batches' order and augmentation [default: 42].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run folder (default: run-<date>-<time> in the app's runs folder,
    /// ~/.local/share/idc-studio/runs).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint, with its recorded settings (--epochs
    /// and --device may change them; any other setting given must be the recorded one).
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// Train without the recipe's random rotations, zooms, shifts and flips.
    #[arg(long)]
    pub no_augment: bool,
    /// Random re-staining of training patches (HED jitter), so the model meets stains it has
    /// not seen [default: strong; with --resume: the run's own].
    #[arg(long, value_enum)]
    pub stain_augment: Option<StainAugment>,
    /// Map every patient's stain onto one reference (Macenko, estimated per patient from all
    /// its patches) in training and in every prediction of the run [default: none].
    #[arg(long, value_enum)]
    pub normalize_stain: Option<StainNormalisation>,
    /// Which labels to train and test on: dataset (as its folders say), reviewed (all readers'
    /// consensus: relabels apply, patches judged unsure or disputed are left out) or
    /// reviewed:READER (one reader's) [default: dataset; with --resume: the run's own].
    #[arg(long, value_name = "dataset|reviewed[:READER]")]
    pub labels: Option<crate::dataset::LabelSource>,
}

pub fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let data = match (&args.data, args.demo) {
        (Some(dir), false) => dir.clone(),
        (data, true) => {
            let dir = data.clone().unwrap_or_else(default_demo_dir);
            if let Some(summary) = ensure_demo_dataset(&dir, &DemoConfig::default())? {
                eprintln!(
                    "generated the synthetic demo dataset: {} patches in {}",
                    summary.patches,
                    dir.display()
                );
            }
            dir
        }
        // A resumed run knows its dataset.
        (None, false) if args.resume => match &args.out {
            Some(out) => RunFolder::open(out)?.read_info()?.dataset,
            None => anyhow::bail!("--resume needs --out RUN_DIR"),
        },
        (None, false) => {
            anyhow::bail!("say which dataset: --data DIR, or --demo for the built-in synthetic one")
        }
    };
    let config = match (&args.out, args.resume) {
        (Some(out), true) => asked_config(&args, &RunFolder::open(out)?.read_info()?.config),
        _ => asked_config(&args, &TrainConfig::default()),
    };
    config.validate().map_err(anyhow::Error::msg)?;
    let (store, report) = scan_with_progress(&data)?;
    print_scan_report(&report, &store);
    let corrections = if args.resume {
        Vec::new() // a resumed run keeps the corrections it recorded
    } else {
        reviewed_corrections_for(&store, &config.labels)?
    };
    let (sender, events) = mpsc::channel();
    let stain_folder = stain_folder(&annotations_folder(
        store.root(),
        &crate::user_folders::data_home(),
    ));
    let job = TrainingJob {
        stain_folder: Some(stain_folder),
        store,
        corrections,
        config,
        // Without --out, a folder of its own in the runs folder the app lists, named for now.
        run_dir: args
            .out
            .clone()
            .unwrap_or_else(crate::training::default_runs_folder),
        resume: args.resume,
        in_runs_folder: args.out.is_none(),
    };
    let handle = spawn_training(job, move |event| {
        let _ = sender.send(event); // the receiver only goes away once we are done
    })?;
    let stop = handle.stop_signal();
    // Ctrl-C stops after the current batch; the last finished epoch stays resumable.
    let _ = ctrlc::set_handler(move || {
        eprintln!("stopping after this batch…");
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
    });

    let bar = ProgressBar::hidden();
    for event in events {
        show_event(&bar, event);
    }
    match handle.join()? {
        RunOutcome::Finished(_) => Ok(ExitCode::SUCCESS),
        RunOutcome::Stopped { .. } => Ok(ExitCode::from(130)),
    }
}

fn show_event(bar: &ProgressBar, event: TrainingEvent) {
    match event {
        TrainingEvent::Started {
            device,
            run_dir,
            train_patches,
            validation_patches,
            test_patches,
            first_epoch,
            epochs,
            batches_per_epoch,
        } => {
            println!("device       {device}");
            println!("run folder   {}", run_dir.display());
            println!(
                "split        train {train_patches}, validation {validation_patches}, test {test_patches}"
            );
            if first_epoch > 1 {
                println!("resuming at epoch {first_epoch} of {epochs}");
            }
            if device.starts_with("GPU") {
                println!(
                    "note         the first batches wait for GPU kernel tuning: a minute or two on this machine's first GPU run"
                );
            }
            bar.set_length(batches_per_epoch as u64);
            bar.set_style(
                ProgressStyle::with_template("epoch {prefix} {bar:30} {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        TrainingEvent::EstimatingStain { done, total } => {
            if done == total {
                println!("stain        estimated for {total} patients (Macenko), normalising every patch");
            }
        }
        TrainingEvent::Warning { message } => println_above(bar, format!("warning: {message}")),
        TrainingEvent::Batch {
            epoch,
            batch,
            loss,
            accuracy,
            images_per_sec,
            eta_secs,
            ..
        } => {
            bar.set_prefix(epoch.to_string());
            bar.set_position(batch as u64);
            bar.set_message(format!(
                "loss {loss:.3} acc {accuracy:.2} | {images_per_sec:.0} img/s | ETA {}",
                format_duration(eta_secs)
            ));
        }
        TrainingEvent::Epoch(metrics) => println_above(
            bar,
            format!(
                "epoch {:>3}: train loss {:.4} acc {:.4} | validation loss {:.4} acc {:.4} | {:.0} img/s, {:.1} s",
                metrics.epoch,
                metrics.train_loss,
                metrics.train_accuracy,
                metrics.validation_loss,
                metrics.validation_accuracy,
                metrics.images_per_sec,
                metrics.seconds
            ),
        ),
        TrainingEvent::Checkpoint { epoch, best } => {
            if best {
                println_above(
                    bar,
                    format!("           checkpoint {epoch} saved, best validation loss so far"),
                );
            }
            bar.set_position(0);
        }
        TrainingEvent::Evaluating { patches } => {
            bar.finish_and_clear();
            println!("predicting the {patches} validation and test patches with the best model…");
        }
        TrainingEvent::Finished { metrics, run_dir } => {
            print_metrics(&metrics);
            println!("saved to {}", run_dir.display());
        }
        TrainingEvent::Stopped { epoch, batch } => {
            bar.finish_and_clear();
            println!(
                "stopped in epoch {epoch} before batch {batch}; continue with --resume --out <run folder>"
            );
        }
        TrainingEvent::Failed { .. } => bar.finish_and_clear(),
    }
}

/// The settings the user asked for: `base` (the recipe's for a new run, the recorded ones for
/// a resumed run) with what they typed over it. The trainer refuses any change to a resumed run
/// but the epochs and the device, naming it.
/// The readers' corrections that `labels` asks for, read from the dataset's annotations.
fn reviewed_corrections_for(
    store: &crate::dataset::PatchStore,
    labels: &LabelSource,
) -> anyhow::Result<Vec<crate::dataset::LabelOverride>> {
    let LabelSource::Reviewed { reader } = labels else {
        return Ok(Vec::new());
    };
    let folder = annotations_folder(store.root(), &crate::user_folders::data_home());
    let (reviews, warnings) = Reviews::open(&folder)?;
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    if let Some(reader) = reader
        && !reviews.readers().any(|known| known == reader)
    {
        let known: Vec<&str> = reviews.readers().collect();
        anyhow::bail!(
            "--labels reviewed:{reader}: {} has no annotations by {reader:?} (readers: {})",
            folder.display(),
            if known.is_empty() {
                "none yet".to_string()
            } else {
                known.join(", ")
            }
        );
    }
    let corrections = reviewed_corrections(&reviews, reader.as_deref());
    println!(
        "labels       {labels}: {} reviewed patches in {}",
        corrections.len(),
        folder.display()
    );
    Ok(corrections)
}

fn asked_config(args: &TrainArgs, base: &TrainConfig) -> TrainConfig {
    TrainConfig {
        epochs: args.epochs.unwrap_or(base.epochs),
        batch_size: args.batch_size.unwrap_or(base.batch_size),
        learning_rate: args.learning_rate.unwrap_or(base.learning_rate),
        split: args.split.unwrap_or(base.split),
        seed: args.seed.unwrap_or(base.seed),
        device: args.device.unwrap_or(base.device),
        augment: base.augment && !args.no_augment,
        stain_augment: args.stain_augment.unwrap_or(base.stain_augment),
        normalize_stain: args.normalize_stain.unwrap_or(base.normalize_stain),
        labels: args.labels.clone().unwrap_or_else(|| base.labels.clone()),
        ..base.clone()
    }
}

/// Prints a line above the progress bar, also when standard error is not a terminal.
fn println_above(bar: &ProgressBar, line: String) {
    bar.suspend(|| println!("{line}"));
}
