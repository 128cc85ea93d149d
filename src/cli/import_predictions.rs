//! `idc-studio import-predictions --data DIR --predictions FILE`: another model's predictions as
//! a run folder that Review, `eval` and `report` open like a trained run's.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use super::scan::scan_with_progress;
use crate::review::import::{ImportRequest, KeyedBy, import_predictions};
use crate::training::default_runs_folder;

#[derive(Debug, Clone, clap::Args)]
pub struct ImportPredictionsArgs {
    /// The dataset the predictions are of, in the IDC layout.
    #[arg(long)]
    pub data: PathBuf,
    /// CSV naming each patch by `path` or `patient,x,y`, with `prob_idc` (or
    /// `pred_probs_0,pred_probs_1`), and optionally `part` (train/validation/test) and `fold`.
    #[arg(long)]
    pub predictions: PathBuf,
    /// The run's folder name [default: the predictions file's name].
    #[arg(long)]
    pub name: Option<String>,
    /// A float32 N×D .npy of the rows' embeddings, in the CSV's order, for "More like this" and
    /// the map (the CSV must then name every patch).
    #[arg(long)]
    pub embeddings: Option<PathBuf>,
    /// Folder the run goes into [default: the app's runs folder].
    #[arg(long)]
    pub runs: Option<PathBuf>,
}

pub fn run(args: ImportPredictionsArgs) -> anyhow::Result<ExitCode> {
    let (store, _) = scan_with_progress(&args.data)?;
    let name = match &args.name {
        Some(name) => name.clone(),
        None => args
            .predictions
            .file_stem()
            .map_or_else(|| "imported".into(), |stem| stem.to_string_lossy().into_owned()),
    };
    let folder = args.runs.clone().unwrap_or_else(default_runs_folder).join(&name);
    let started = Instant::now();
    let imported = import_predictions(&ImportRequest {
        store: &store,
        predictions: &args.predictions,
        embeddings: args.embeddings.as_deref(),
        folder: &folder,
    })?;
    let keyed_by = match imported.keyed_by {
        KeyedBy::Path => "path",
        KeyedBy::PatientPosition => "patient, x and y",
    };
    println!(
        "imported {} rows (matched by {keyed_by}) in {:.2} s: {} in the test part, {} in the others; split by {:?}",
        imported.test_rows + imported.other_rows,
        started.elapsed().as_secs_f64(),
        imported.test_rows,
        imported.other_rows,
        imported.split
    );
    super::report::print_metrics(&imported.metrics);
    if !imported.with_embeddings {
        println!("no embeddings given: \"More like this\" and the map are unavailable for this run");
    }
    println!("wrote {}", folder.display());
    Ok(ExitCode::SUCCESS)
}
