//! `idc-studio train`: progress bars while the worker trains, then the test metrics.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;

use indicatif::{ProgressBar, ProgressStyle};

use super::SplitArgs;
use super::report::{print_metrics, print_scan_report};
use super::scan::scan_with_progress;
use crate::dataset::demo::{DemoConfig, default_demo_dir, ensure_demo_dataset};
use crate::model::DeviceChoice;
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
    #[arg(long, default_value_t = 40)]
    pub epochs: usize,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 1e-2)]
    pub learning_rate: f64,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    #[command(flatten)]
    pub split: SplitArgs,
    /// Run folder (default: runs/run-<date>-<time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// Train without random augmentation.
    #[arg(long)]
    pub no_augment: bool,
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
    let config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        split: args.split.split,
        seed: args.split.seed,
        device: args.device,
        augment: !args.no_augment,
        ..TrainConfig::default()
    };
    config.validate().map_err(anyhow::Error::msg)?;
    let (store, report) = scan_with_progress(&data)?;
    print_scan_report(&report, &store);
    let run_dir = args.out.clone().unwrap_or_else(default_run_dir);

    let (sender, events) = mpsc::channel();
    let job = TrainingJob {
        store,
        config,
        run_dir,
        resume: args.resume,
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
            bar.set_length(batches_per_epoch as u64);
            bar.set_style(
                ProgressStyle::with_template("epoch {prefix} {bar:30} {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
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
            println!("evaluating the best model on {patches} test patches…");
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

fn format_duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

/// `runs/run-YYYYMMDD-HHMMSS` (UTC) under the current folder.
fn default_run_dir() -> PathBuf {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let time = seconds % 86_400;
    PathBuf::from("runs").join(format!(
        "run-{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        time / 3600,
        time / 60 % 60,
        time % 60
    ))
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Prints a line above the progress bar, also when standard error is not a terminal.
fn println_above(bar: &ProgressBar, line: String) {
    bar.suspend(|| println!("{line}"));
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn dates_run_folders_correctly() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_419), (2025, 11, 27));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
