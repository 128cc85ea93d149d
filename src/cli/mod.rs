//! The command line: `app` (also what no arguments opens), `demo-data`, `scan`, `train`, `eval`,
//! `predict`, `label-issues`, `similar`, `map`, `duplicates`, `annotations export` and `bench`. It only wires
//! the engine together and prints; every failure ends as one line naming the file and the
//! problem, with a non-zero exit.

mod annotations;
mod app;
pub mod bench;
mod demo;
mod duplicates;
mod eval;
mod import_predictions;
mod label_issues;
mod map;
mod predict;
mod predict_input;
mod report;
mod scan;
mod share_report;
mod similar;
mod train;

use crate::dataset::demo::DemoConfig;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::model::DeviceChoice;

#[derive(Debug, Parser)]
#[command(
    name = "idc-studio",
    version,
    about = "Train and audit a CancerNet IDC classifier on breast histology patches"
)]
pub struct Cli {
    /// Without a command, the desktop app opens (with the last dataset and run).
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the desktop app.
    App(AppArgs),
    /// Write the synthetic demo dataset (real PNGs in the IDC layout) to DIR.
    DemoData {
        dir: PathBuf,
        #[arg(long, default_value_t = 25)]
        patients: usize,
        #[arg(long, default_value_t = 400)]
        patches_per_patient: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// How much the patients' stains differ: none (all alike), mild (one lab's batches) or
        /// strong (three labs, two far from the first). Each patient's is in demo_stains.csv.
        #[arg(long, value_enum, default_value_t = crate::dataset::demo::StainVariation::default())]
        stain_variation: crate::dataset::demo::StainVariation,
        /// Then flip this share of the labels (0 to 0.5), recorded in planted_flips.csv, to
        /// measure how well `label-issues` finds label errors.
        #[arg(long, value_name = "SHARE")]
        plant_label_errors: Option<f64>,
    },
    /// Count patients, patches and classes in DIR and list the files that cannot be used.
    Scan { dir: PathBuf },
    /// Train CancerNet, then report the confusion matrix and metrics on the test part.
    Train(train::TrainArgs),
    /// The confusion matrix and metrics of a saved run, at any threshold.
    Eval {
        run_dir: PathBuf,
        /// P(IDC) at or above which a patch counts as IDC [default: the one saved with the
        /// run in Review, else 0.5].
        #[arg(long)]
        threshold: Option<f32>,
        /// Also a table of each patient's test patches, most missed cancers first.
        #[arg(long)]
        by_patient: bool,
    },
    /// Probabilities of IDC for PNG files or folders of them, as CSV.
    Predict {
        run_dir: PathBuf,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Write the CSV here instead of to standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
        device: DeviceChoice,
        /// The threshold of the `predicted` column [default: the one saved with the run, else
        /// 0.5].
        #[arg(long)]
        threshold: Option<f32>,
    },
    /// Suspected label errors in a whole dataset: models on patient folds predict each patch
    /// they never saw, then confident learning ranks every label, worst first.
    LabelIssues(label_issues::LabelIssuesArgs),
    /// The patches most like one, by the run's model (its 256-unit layer, cosine similarity).
    Similar(similar::SimilarArgs),
    /// Another model's predictions (CSV, optionally with embeddings) as a run folder to review.
    ImportPredictions(import_predictions::ImportPredictionsArgs),
    /// The run's audit as one self-contained HTML file to share.
    Report(share_report::ReportArgs),
    /// Every patch of the dataset on a 2-D map (UMAP of the run's embeddings), as CSV.
    Map(map::MapArgs),
    /// Identical and nearly identical patches, label conflicts among them, and how many test
    /// patches have a copy in training under a patient split and a patch split.
    Duplicates(duplicates::DuplicatesArgs),
    /// Measure ingest, data pipeline, training and inference throughput on this machine.
    Bench(bench::BenchArgs),
    /// The readers' annotations of a dataset.
    #[command(subcommand)]
    Annotations(annotations::AnnotationsCommand),
}

#[derive(Debug, Clone, clap::Args)]
pub struct AppArgs {
    /// Open this dataset folder.
    #[arg(long, conflicts_with = "demo")]
    pub data: Option<PathBuf>,
    /// Open the built-in synthetic demo dataset (generated on first use).
    #[arg(long)]
    pub demo: bool,
    /// Open this finished run in Review (and the dataset it was trained on).
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// Folder for training runs (remembered).
    #[arg(long)]
    pub runs: Option<PathBuf>,
    /// Walk through every view, save a screenshot of each in DIR with what was measured, then close.
    #[arg(long, value_name = "DIR")]
    pub screenshots: Option<PathBuf>,
}

/// Runs the command line and turns any error into one line on standard error.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => app::run(None),
        Some(command) => run_command(command),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", format!("{err:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn run_command(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::App(args) => app::run(Some(args)),
        Command::DemoData {
            dir,
            patients,
            patches_per_patient,
            seed,
            stain_variation,
            plant_label_errors,
        } => demo::run(
            &dir,
            DemoConfig {
                patients,
                patches_per_patient,
                seed,
                stain_variation,
            },
            plant_label_errors,
        ),
        Command::Scan { dir } => scan::run(&dir),
        Command::Train(args) => train::run(args),
        Command::Eval {
            run_dir,
            threshold,
            by_patient,
        } => eval::run(&run_dir, threshold, by_patient),
        Command::Predict {
            run_dir,
            paths,
            out,
            device,
            threshold,
        } => predict::run(&run_dir, &paths, out.as_deref(), device, threshold),
        Command::LabelIssues(args) => label_issues::run(args),
        Command::Similar(args) => similar::run(args),
        Command::Map(args) => map::run(args),
        Command::ImportPredictions(args) => import_predictions::run(args),
        Command::Report(args) => share_report::run(args),
        Command::Duplicates(args) => duplicates::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Annotations(command) => annotations::run(command),
    }
}
