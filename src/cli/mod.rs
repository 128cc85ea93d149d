//! The command line: `demo-data`, `scan`, `train`, `eval`, `predict` and `bench`. It only wires
//! the engine together and prints; every failure ends as one line naming the file and the
//! problem, with a non-zero exit.

mod bench;
mod demo;
mod eval;
mod predict;
mod report;
mod scan;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::dataset::SplitKind;
use crate::model::DeviceChoice;

#[derive(Debug, Parser)]
#[command(
    name = "idc-studio",
    version,
    about = "Train and audit a CancerNet IDC classifier on breast histology patches"
)]
#[command(arg_required_else_help = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the synthetic demo dataset (real PNGs in the IDC layout) to DIR.
    DemoData {
        dir: PathBuf,
        #[arg(long, default_value_t = 25)]
        patients: usize,
        #[arg(long, default_value_t = 400)]
        patches_per_patient: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Count patients, patches and classes in DIR and list the files that cannot be used.
    Scan { dir: PathBuf },
    /// Train CancerNet, then report the confusion matrix and metrics on the test part.
    Train(train::TrainArgs),
    /// The confusion matrix and metrics of a saved run, at any threshold.
    Eval {
        run_dir: PathBuf,
        #[arg(long, default_value_t = 0.5)]
        threshold: f32,
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
    },
    /// Measure ingest, data pipeline, training and inference throughput on this machine.
    Bench(bench::BenchArgs),
}

/// Arguments shared by the commands that train.
#[derive(Debug, Clone, clap::Args)]
pub struct SplitArgs {
    #[arg(long, value_enum, default_value_t = SplitKind::Patient)]
    pub split: SplitKind,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Runs the command line and turns any error into one line on standard error.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::DemoData {
            dir,
            patients,
            patches_per_patient,
            seed,
        } => demo::run(&dir, patients, patches_per_patient, seed),
        Command::Scan { dir } => scan::run(&dir),
        Command::Train(args) => train::run(args),
        Command::Eval { run_dir, threshold } => eval::run(&run_dir, threshold),
        Command::Predict {
            run_dir,
            paths,
            out,
            device,
        } => predict::run(&run_dir, &paths, out.as_deref(), device),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", format!("{err:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
