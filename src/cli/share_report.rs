//! `idc-studio report RUN --out report.html`: the run's audit as one self-contained HTML file to
//! send to a pathologist or a principal investigator.

use std::path::PathBuf;
use std::process::ExitCode;

use super::scan::scan_with_progress;
use crate::atomic_file::write_atomic;
use crate::dataset::Dataset;
use crate::dataset::split::Split;
use crate::review::label_issues::{label_issues_folder, read_label_issues};
use crate::review::report::{ReportInput, build_report};
use crate::review::{OpenRun, Reviews, annotations_folder};
use crate::training::RunFolder;

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    pub run_dir: PathBuf,
    /// Where to write the HTML file.
    #[arg(long)]
    pub out: PathBuf,
    /// The dataset [default: the one the run was trained on or imported for].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// How many of the surest missed cancers, and of the surest false alarms, to show as tiles.
    #[arg(long, default_value_t = 12)]
    pub tiles: usize,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let run = RunFolder::open(&args.run_dir)?;
    if run.owns(&args.out) {
        anyhow::bail!(
            "{}: is a file of the run; choose another --out",
            args.out.display()
        );
    }
    let info = run.read_info()?;
    let data = args.data.clone().unwrap_or_else(|| info.dataset.clone());
    let (store, report) = scan_with_progress(&data)?;
    let dataset = Dataset::new(store, report);
    let open = OpenRun::load(run.root(), &dataset)?;
    let split = Split::load(
        &dataset.store,
        info.config.split,
        info.config.seed,
        &run.split_path(),
    )?;
    // The readers' annotations and the label issues are kept with the dataset, where the app
    // keeps them; a dataset nobody has annotated has none, and nothing is created for it.
    let annotations = annotations_folder(dataset.store.root(), &crate::user_folders::data_home());
    let reviews = match annotations.is_dir() {
        true => Some(Reviews::open(&annotations)?.0),
        false => None,
    };
    let label_issues = read_label_issues(&label_issues_folder(&annotations))?;
    let html = build_report(&ReportInput {
        run: &open,
        store: &dataset.store,
        split: &split,
        reviews: reviews.as_ref(),
        label_issues: label_issues.as_deref(),
        tiles: args.tiles,
        made_at: chrono::Local::now().format("%Y-%m-%d %H:%M %:z").to_string(),
    })?;
    write_atomic(&args.out, html.as_bytes())
        .map_err(|err| anyhow::anyhow!("{}: {err}", args.out.display()))?;
    println!(
        "wrote {} ({:.1} KiB; {} test patches, {} readers)",
        args.out.display(),
        html.len() as f64 / 1024.0,
        open.review.len(),
        reviews.as_ref().map_or(0, |reviews| reviews.readers().count())
    );
    Ok(ExitCode::SUCCESS)
}
