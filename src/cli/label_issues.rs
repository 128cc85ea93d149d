//! `idc-studio label-issues --data DIR --out DIR`: out-of-sample P(IDC) for every patch from
//! models trained on patient folds, then every patch ranked by how much its given label is to
//! be doubted (confident learning).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::scan::scan_with_progress;
use crate::dataset::PatchStore;
use crate::dataset::label_noise::{PLANTED_FLIPS_FILE, read_planted_flips};
use crate::dataset::stain::patient_stains::stain_folder_of;
use crate::dataset::stain::{PatientStains, StainAugment, StainNormalisation};
use crate::model::DeviceChoice;
use crate::review::import::read_prediction_table;
use crate::review::label_issues::{LABEL_ISSUES_FILE, class_thresholds, score_detection, write_label_issues};
use crate::review::unlike_patients::{
    PATIENTS_FILE, PatientScores, UNLIKE_THE_OTHERS, note_stains, patient_scores, suspected_cause,
    write_patient_scores,
};
use crate::training::TrainConfig;
use crate::training::cross_validation::{
    CrossValidationError, CrossValidationJob, FoldEvent, OUT_OF_FOLD_FILE, OutOfFoldRow, cross_validate,
};

#[derive(Debug, Clone, clap::Args)]
pub struct LabelIssuesArgs {
    /// Dataset folder in the IDC layout.
    #[arg(long)]
    pub data: PathBuf,
    /// Folds of whole patients: each patch is predicted by the model trained on the others.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Epochs each fold's model trains.
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Patches per batch.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Train without the recipe's random rotations, zooms, shifts and flips.
    #[arg(long)]
    pub no_augment: bool,
    /// Random re-staining of training patches (HED jitter).
    #[arg(long, value_enum, default_value_t = StainAugment::default())]
    pub stain_augment: StainAugment,
    /// Map every patient's stain onto one reference (Macenko, per patient) before training
    /// and predicting.
    #[arg(long, value_enum, default_value_t = StainNormalisation::default())]
    pub normalize_stain: StainNormalisation,
    /// Folder for the folds, out_of_fold.csv and label_issues.csv; a stopped run given the same
    /// folder goes on from its first unfinished fold.
    #[arg(long)]
    pub out: PathBuf,
    /// Another model's out-of-fold predictions instead of training: a CSV naming each patch by
    /// `path` or `patient,x,y`, with `prob_idc` (or `pred_probs_0,pred_probs_1`) and `fold`.
    #[arg(long, value_name = "FILE")]
    pub predictions: Option<PathBuf>,
}

pub fn run(args: LabelIssuesArgs) -> anyhow::Result<ExitCode> {
    let (store, _report) = scan_with_progress(&args.data)?;
    let started = std::time::Instant::now();
    let rows = match &args.predictions {
        Some(file) => {
            let rows = rows_from_predictions(&store, file)?;
            std::fs::create_dir_all(&args.out)
                .map_err(|err| anyhow::anyhow!("{}: {err}", args.out.display()))?;
            crate::atomic_file::write_csv_atomic(&args.out.join(OUT_OF_FOLD_FILE), &rows)
                .map_err(|err| anyhow::anyhow!("{}: {err}", args.out.join(OUT_OF_FOLD_FILE).display()))?;
            rows
        }
        None => match cross_validated(&args, &store)? {
            Some(rows) => rows,
            None => return Ok(ExitCode::from(130)),
        },
    };
    let ranked = write_label_issues(&args.out, &rows)?;
    let mut patients = patient_scores(&rows);
    let stain_folder = stain_folder_of(store.root());
    // Whether each patient's stain is unusual tells stain from tissue among the failures.
    let stains = PatientStains::for_store(&store, &stain_folder, &|_, _| {}, &AtomicBool::new(false));
    if let Ok((stains, _unsaved)) = &stains {
        note_stains(&mut patients, stains);
    }
    write_patient_scores(&args.out, &patients)?;
    let path = args.out.join(LABEL_ISSUES_FILE);
    let [non_idc, idc] = class_thresholds(&rows);
    let suspected = ranked.iter().filter(|row| row.suspected).count();
    println!(
        "{} patches in {:.1} s; the dataset's thresholds: non-IDC {non_idc:.3}, IDC {idc:.3} (each patient is judged against its own)",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "suspected label errors: {suspected} ({:.2}% of the patches)",
        100.0 * suspected as f64 / rows.len().max(1) as f64
    );
    println!("wrote {}", args.out.join(OUT_OF_FOLD_FILE).display());
    println!("wrote {} (worst label first)", path.display());
    println!(
        "wrote {} (each patient's out-of-fold accuracy, sensitivity, specificity, AUC)",
        args.out.join(PATIENTS_FILE).display()
    );
    if let Some(flips) = read_planted_flips(&args.data)? {
        let planted: std::collections::HashSet<(String, u32, u32)> = flips
            .into_iter()
            .map(|flip| (flip.patient, flip.x, flip.y))
            .collect();
        let score = score_detection(&ranked, |row| {
            planted.contains(&(row.patient.clone(), row.x, row.y))
        });
        println!(
            "against the {} planted label errors ({PLANTED_FLIPS_FILE}): suspected precision {:.3}, recall {:.3}; \
             precision of the worst {}: {:.3} (random picks: {:.3})",
            score.planted,
            score.suspected_precision,
            score.suspected_recall,
            score.planted,
            score.worst_n_precision,
            score.random_precision
        );
    }
    print_unlike_patients(&patients);
    Ok(ExitCode::SUCCESS)
}

/// Out-of-fold P(IDC) from models trained here on patient folds; `None` when stopped (the
/// finished folds are kept for the same command to go on from).
fn cross_validated(
    args: &LabelIssuesArgs,
    store: &Arc<PatchStore>,
) -> anyhow::Result<Option<Vec<OutOfFoldRow>>> {
    let config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        device: args.device,
        seed: args.seed,
        augment: !args.no_augment,
        stain_augment: args.stain_augment,
        normalize_stain: args.normalize_stain,
        ..TrainConfig::default()
    };
    let job = CrossValidationJob {
        store: Arc::clone(store),
        folds: args.folds,
        config,
        out_dir: args.out.clone(),
        stain_folder: Some(stain_folder_of(store.root())),
    };
    let folds = args.folds;
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = Arc::clone(&stop);
    let _ = ctrlc::set_handler(move || {
        eprintln!("stopping after this batch; the finished folds are kept…");
        stopping.store(true, Ordering::SeqCst);
    });
    match cross_validate(&job, &mut |event| report(event, folds), &stop) {
        Ok(rows) => Ok(Some(rows)),
        Err(stopped @ CrossValidationError::Stopped { .. }) => {
            eprintln!("{stopped} (the same command with --out {})", args.out.display());
            Ok(None)
        }
        Err(err) => Err(err.into()),
    }
}

/// Another model's out-of-fold predictions, every row checked against the dataset; each
/// patch is judged against the dataset's label.
fn rows_from_predictions(store: &PatchStore, file: &std::path::Path) -> anyhow::Result<Vec<OutOfFoldRow>> {
    let table = read_prediction_table(file, store)?;
    anyhow::ensure!(
        table.has_folds,
        "{}: has no `fold` column; label issues need out-of-fold predictions, each patch predicted by a model that never saw it",
        file.display()
    );
    if table.rows.len() < store.len() {
        eprintln!(
            "{}: {} of the dataset's {} patches have predictions; only they are ranked",
            file.display(),
            table.rows.len(),
            store.len()
        );
    }
    table
        .rows
        .iter()
        .enumerate()
        .map(|(line, row)| {
            let patch = store.patch(row.patch);
            let fold = row
                .fold
                .ok_or_else(|| anyhow::anyhow!("{}: row {} has no fold", file.display(), line + 1))?;
            Ok(OutOfFoldRow {
                patient: store.patient_name(patch).to_string(),
                x: patch.x,
                y: patch.y,
                path: patch.path.clone(),
                label: patch.label,
                prob_idc: row.prob_idc,
                fold,
            })
        })
        .collect()
}

/// The patients on whom the models fail as a whole, last, where a reader looks.
fn print_unlike_patients(patients: &[PatientScores]) {
    let unlike: Vec<&PatientScores> = patients.iter().filter(|patient| patient.unlike_others).collect();
    let median = {
        let mut accuracies: Vec<f64> = patients.iter().map(|patient| patient.accuracy).collect();
        accuracies.sort_by(f64::total_cmp);
        accuracies.get(accuracies.len() / 2).copied().unwrap_or(0.0)
    };
    if unlike.is_empty() {
        println!("no patient is unlike the others (median out-of-fold accuracy {median:.3})");
        return;
    }
    println!(
        "{} patient(s) {UNLIKE_THE_OTHERS}: the models that never saw them fail on the slide as a whole, \
         so their patches are listed apart, not as label errors (median out-of-fold accuracy {median:.3}):",
        unlike.len()
    );
    for patient in unlike {
        println!(
            "  {:<10} accuracy {:.3}, {} patches, {} IDC, mean P(IDC) {:.2}; {}",
            patient.patient,
            patient.accuracy,
            patient.patches,
            patient.idc,
            patient.mean_prob_idc,
            suspected_cause(patient)
        );
    }
}

fn report(event: FoldEvent, folds: usize) {
    match event {
        FoldEvent::Kept { fold } => println!("fold {}/{folds}: kept from an earlier run", fold + 1),
        FoldEvent::Started {
            fold,
            device,
            train_patches,
            held_out_patches,
            ..
        } => println!(
            "fold {}/{folds}: training on {train_patches} patches, predicting {held_out_patches} ({device})",
            fold + 1
        ),
        FoldEvent::Epoch {
            epoch,
            loss,
            accuracy,
            ..
        } => println!("  epoch {epoch}: loss {loss:.4}, accuracy {accuracy:.4}"),
        FoldEvent::Batch { .. } => {}
        FoldEvent::Finished { fold, seconds } => {
            println!("fold {}/{folds}: done in {seconds:.1} s", fold + 1)
        }
        FoldEvent::EstimatingStain { done, total } => {
            if done == total {
                println!("stain: estimated for {total} patients (Macenko), normalising every patch");
            }
        }
        FoldEvent::Warning { message } => eprintln!("warning: {message}"),
    }
}
