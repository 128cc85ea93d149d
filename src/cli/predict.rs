//! `idc-studio predict RUN_DIR PATH...`: CSV of IDC probabilities for PNG files and folders.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use super::predict_input::{FileStains, PredictInput, prefetch_files};
use crate::atomic_file::write_atomic;
use crate::dataset::stain::StainNormalisation;
use crate::model::{DeviceChoice, select_device};
use crate::training::batches::render_threads;
use crate::training::evaluate::{INFERENCE_BATCH, PendingPredictions, load_model};
use crate::training::{RunFolder, threshold_for};

pub fn run(
    run_dir: &Path,
    paths: &[PathBuf],
    out: Option<&Path>,
    device: DeviceChoice,
    threshold: Option<f32>,
) -> anyhow::Result<ExitCode> {
    if let Some(threshold) = threshold {
        anyhow::ensure!(
            (0.0..=1.0).contains(&threshold),
            "threshold {threshold} is not between 0 and 1"
        );
    }
    let run = RunFolder::open(run_dir)?;
    let asked = threshold;
    let chosen = threshold_for(&run, asked)?;
    let threshold = chosen.threshold;
    if !chosen.is_default {
        eprintln!("predicted = P(IDC) >= threshold {}", chosen.described);
    }
    // Its test predictions are what Review and `eval` read.
    if let Some(out) = out {
        anyhow::ensure!(
            !run.owns(out),
            "{}: that is the run's own file; write the predictions somewhere else",
            out.display()
        );
    }
    let info = run.read_info()?;
    if let Some(imported) = &info.imported {
        anyhow::bail!(
            "{}: its predictions were imported from {} and it has no model to predict other patches with",
            run.root().display(),
            imported.predictions.display()
        );
    }
    let batch_norm = info.batch_norm;
    let compute = select_device(device)?;
    let model_path = run.model_path();
    let model = load_model(&model_path, batch_norm, &compute.device)?;
    let (files, mut failures) = collect_files(paths);

    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(["path", "prob_idc", "predicted"])?;
    let mut predicted = 0usize;
    // The model sees patches as it was trained to: stain-normalised where the run was.
    let stains = (info.config.normalize_stain == StainNormalisation::Macenko).then(|| {
        let (stains, warnings) = FileStains::estimate(&files);
        for warning in warnings {
            eprintln!("warning: {warning}");
        }
        Arc::new(stains)
    });
    let inputs = prefetch_files(files, INFERENCE_BATCH, render_threads(&compute.device), stains)
        .map_err(|err| anyhow::anyhow!("could not start a worker thread: {err}"))?;
    // The paths of the batches queued on the device, in order, until their probabilities come.
    let mut queued_paths: Vec<Vec<PathBuf>> = Vec::new();
    let mut pending = PendingPredictions::new(&compute.device);
    let mut write = |paths: Vec<PathBuf>, probabilities: Vec<f32>| -> anyhow::Result<()> {
        for (path, prob) in paths.iter().zip(probabilities) {
            // A damaged model computes NaN, which would read as "not IDC".
            anyhow::ensure!(
                prob.is_finite() && (0.0..=1.0).contains(&prob),
                "{}: the model gives {} as the probability of IDC for {}; the model file is damaged",
                model_path.display(),
                prob,
                path.display()
            );
            csv.write_record([
                path.display().to_string(),
                format!("{prob:.6}"),
                u8::from(prob >= threshold).to_string(),
            ])?;
            predicted += 1;
        }
        Ok(())
    };
    for input in inputs {
        let (paths, batch) = match input {
            PredictInput::Batch { paths, batch } => (paths, batch),
            PredictInput::Failure(failure) => {
                failures.push(failure);
                continue;
            }
        };
        queued_paths.push(paths);
        for probabilities in pending.push(&model, batch, &compute.device)? {
            write(queued_paths.remove(0), probabilities)?;
        }
    }
    for probabilities in pending.read()? {
        write(queued_paths.remove(0), probabilities)?;
    }
    let bytes = csv.into_inner().map_err(|err| anyhow::anyhow!("{err}"))?;
    deliver(&bytes, predicted, out, &failures)
}

/// Writes the CSV to `out` (atomically) or to standard output, then names each file that could
/// not be predicted; the exit code fails when one could not.
fn deliver(
    bytes: &[u8],
    predicted: usize,
    out: Option<&Path>,
    failures: &[String],
) -> anyhow::Result<ExitCode> {
    match out {
        Some(path) => {
            write_atomic(path, bytes).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
            eprintln!("wrote {predicted} predictions to {}", path.display());
        }
        None => std::io::stdout().write_all(bytes)?,
    }
    for failure in failures {
        eprintln!("error: {failure}");
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Files named directly, and the PNGs under folders, in a stable order; missing paths fail.
fn collect_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    let (mut files, mut failures) = (Vec::new(), Vec::new());
    for path in paths {
        if path.is_dir() {
            for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
                match entry {
                    // Anything but a folder: a FIFO or device with a PNG's name is named as such
                    // by the reader, not passed over in silence.
                    Ok(entry) if !entry.file_type().is_dir() && is_png_name(entry.path()) => {
                        files.push(entry.into_path());
                    }
                    Ok(_) => {}
                    Err(err) => failures.push(format!(
                        "{}: unreadable: {err}",
                        err.path().unwrap_or(path).display()
                    )),
                }
            }
        } else if path.exists() {
            files.push(path.clone());
        } else {
            failures.push(format!("{}: no such file or folder", path.display()));
        }
    }
    (files, failures)
}

fn is_png_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("png"))
}
