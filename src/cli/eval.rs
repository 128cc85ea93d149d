//! `idc-studio eval RUN_DIR [--threshold T] [--by-patient]`.

use std::path::Path;
use std::process::ExitCode;

use super::report::{print_metrics, print_reliability};
use crate::dataset::Label;
use crate::dataset::split::SplitPart;
use crate::metrics::Metrics;
use crate::metrics::calibration::{
    BINS, Binning, calibration_scores, fit_temperature, reliability, with_temperature,
};
use crate::review::patients::{PatientResult, missed_share_of_top, results_by_patient};
use crate::training::{RunFolder, threshold_for};

pub fn run(run_dir: &Path, threshold: Option<f32>, by_patient: bool) -> anyhow::Result<ExitCode> {
    if let Some(threshold) = threshold {
        anyhow::ensure!(
            (0.0..=1.0).contains(&threshold),
            "threshold {threshold} is not between 0 and 1"
        );
    }
    let run = RunFolder::open(run_dir)?;
    let chosen = threshold_for(&run, threshold)?;
    let (threshold, described) = (chosen.threshold, chosen.described);
    let info = run.read_info()?;
    let rows = run.read_predictions()?;
    anyhow::ensure!(
        !rows.is_empty(),
        "{}: no predictions",
        run.predictions_path().display()
    );
    let labels: Vec<Label> = rows.iter().map(|row| row.label).collect();
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
    println!("threshold {described}");
    print_metrics(&Metrics::from_probabilities(&labels, &probabilities, threshold));
    print_reliability(&reliability(&labels, &probabilities, BINS, Binning::EqualWidth));
    print_temperature_scaling(&run, &labels, &probabilities)?;
    if by_patient {
        print_patients(&results_by_patient(&rows, threshold), &rows);
    }
    Ok(ExitCode::SUCCESS)
}

/// What temperature scaling fitted on the validation part would make of the test part's
/// calibration: shown beside the scores above, never applied to them.
fn print_temperature_scaling(run: &RunFolder, labels: &[Label], probabilities: &[f32]) -> anyhow::Result<()> {
    let (validation_labels, validation_probabilities): (Vec<Label>, Vec<f32>) = run
        .read_part_predictions()?
        .into_iter()
        .filter(|row| row.part == SplitPart::Validation)
        .map(|row| (row.label, row.prob_idc))
        .unzip();
    if validation_labels.is_empty() {
        println!(
            "temperature scaling: not fitted, the run kept no validation predictions (trained before they were kept, or imported without `part`)"
        );
        return Ok(());
    }
    let temperature = fit_temperature(&validation_labels, &validation_probabilities);
    let scaled: Vec<f32> = probabilities
        .iter()
        .map(|&p| with_temperature(p, temperature))
        .collect();
    let after = calibration_scores(labels, &scaled);
    println!(
        "temperature scaling (fitted on {} validation patches, not applied above): T = {temperature:.3}; after it ECE {:.4}, Brier {:.4}, log loss {:.4}",
        validation_labels.len(),
        after.ece,
        after.brier,
        after.log_loss
    );
    Ok(())
}

/// One line a patient, most missed cancers first, with the calibration of its test patches; a
/// dash where a score has no patches to count.
fn print_patients(results: &[PatientResult], rows: &[crate::training::PredictionRow]) {
    let score = |value: Option<f64>| value.map_or("     -".to_string(), |value| format!("{value:.4}"));
    println!();
    println!(
        "{:<12} {:>6} {:>6} {:>6} {:>6} {:>11} {:>11} {:>7} {:>7}",
        "patient", "test", "IDC", "missed", "false+", "sensitivity", "specificity", "ECE", "Brier"
    );
    for result in results {
        let (labels, probabilities): (Vec<Label>, Vec<f32>) = rows
            .iter()
            .filter(|row| row.patient == result.patient)
            .map(|row| (row.label, row.prob_idc))
            .unzip();
        let calibration = calibration_scores(&labels, &probabilities);
        println!(
            "{:<12} {:>6} {:>6} {:>6} {:>6} {:>11} {:>11} {:>7.4} {:>7.4}",
            result.patient,
            result.test_patches(),
            result.idc_patches(),
            result.missed(),
            result.false_alarms(),
            score(result.sensitivity()),
            score(result.specificity()),
            calibration.ece,
            calibration.brier
        );
    }
    let with_misses = results.iter().filter(|result| result.missed() > 0).count();
    println!(
        "missed cancers in {with_misses} of {} patients; the 3 with the most hold {:.0}% of them",
        results.len(),
        100.0 * missed_share_of_top(results, 3)
    );
}
