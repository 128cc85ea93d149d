//! `idc-studio annotations export DATASET --out FILE`: the readers' corrected labels as CSV or
//! JSON, for scripts.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::review::export::{ExportFormat, export_bytes, export_rows};
use crate::review::{Reviews, annotations_folder};

#[derive(Debug, clap::Subcommand)]
pub enum AnnotationsCommand {
    /// Write every annotation of DATASET (or one reader's) as CSV, or JSON for a .json file.
    Export {
        dataset: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Only this reader's annotations.
        #[arg(long)]
        reader: Option<String>,
    },
}

pub fn run(command: AnnotationsCommand) -> anyhow::Result<ExitCode> {
    let AnnotationsCommand::Export { dataset, out, reader } = command;
    if !dataset.is_dir() {
        anyhow::bail!("{}: no such dataset folder", dataset.display());
    }
    let root = dataset.canonicalize().unwrap_or(dataset);
    let folder = annotations_folder(&root, &crate::user_folders::data_home());
    let (reviews, warnings) = Reviews::open(&folder)?;
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    if let Some(reader) = &reader
        && !reviews.readers().any(|known| known == reader)
    {
        anyhow::bail!("{}: no annotations by {reader:?}", folder.display());
    }
    let rows = export_rows(&reviews, reader.as_deref());
    let format = ExportFormat::for_path(&out);
    crate::atomic_file::write_atomic(&out, &export_bytes(&rows, format))
        .map_err(|err| anyhow::anyhow!("{}: {err}", out.display()))?;
    println!("wrote {} annotations to {}", rows.len(), out.display());
    Ok(ExitCode::SUCCESS)
}
