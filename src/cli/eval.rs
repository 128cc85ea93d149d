//! `idc-studio eval RUN_DIR [--threshold T]`.

use std::path::Path;
use std::process::ExitCode;

use super::report::print_metrics;
use crate::dataset::Label;
use crate::metrics::Metrics;
use crate::training::{PredictionRow, RunFolder};

pub fn run(run_dir: &Path, threshold: f32) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&threshold),
        "threshold {threshold} is not between 0 and 1"
    );
    let run = RunFolder::open(run_dir)?;
    let info = run.read_info()?;
    let rows = run.read_predictions()?;
    anyhow::ensure!(
        !rows.is_empty(),
        "{}: no predictions",
        run.predictions_path().display()
    );
    let labels: Vec<Label> = rows.iter().map(PredictionRow::truth).collect();
    let probabilities: Vec<f32> = rows.iter().map(|row| row.prob_idc).collect();
    if info.synthetic {
        println!("SYNTHETIC demo data: not real tissue");
    }
    println!(
        "run {} ({:?} split, seed {})",
        run.root().display(),
        info.config.split,
        info.config.seed
    );
    print_metrics(&Metrics::from_probabilities(&labels, &probabilities, threshold));
    Ok(ExitCode::SUCCESS)
}
