//! `idc-studio similar RUN_DIR --patch PNG`: the patches most like one, by the run's model.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::scan::scan_with_progress;
use crate::dataset::parse_patch_name;
use crate::model::{DeviceChoice, select_device};
use crate::review::similar::run_embeddings;
use crate::training::RunFolder;

#[derive(Debug, Clone, clap::Args)]
pub struct SimilarArgs {
    pub run_dir: PathBuf,
    /// The patch to match: a PNG of the dataset, by its IDC file name.
    #[arg(long)]
    pub patch: PathBuf,
    /// The dataset [default: the one the run trained on].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// How many neighbours.
    #[arg(long, default_value_t = 20)]
    pub count: usize,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

pub fn run(args: SimilarArgs) -> anyhow::Result<ExitCode> {
    let run = RunFolder::open(&args.run_dir)?;
    let data = match args.data {
        Some(data) => data,
        None => run.read_info()?.dataset,
    };
    let (store, _) = scan_with_progress(&data)?;
    let index = find_patch(&store, &args.patch)?;
    let compute = select_device(args.device)?;
    let started = std::time::Instant::now();
    let embeddings = run_embeddings(&run, &store, &compute.device)?;
    eprintln!(
        "{} patches embedded or read from the cache in {:.1} s",
        embeddings.len(),
        started.elapsed().as_secs_f64()
    );
    println!("rank,similarity,patient,x,y,label,path");
    for (rank, neighbour) in embeddings.nearest(index, args.count).iter().enumerate() {
        let patch = store.patch(neighbour.index);
        println!(
            "{},{:.6},{},{},{},{},{}",
            rank + 1,
            neighbour.similarity,
            store.patient_name(patch),
            patch.x,
            patch.y,
            patch.label.index(),
            patch.path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The store index of the patch named by `path`'s file name.
fn find_patch(store: &crate::dataset::PatchStore, path: &Path) -> anyhow::Result<usize> {
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| anyhow::anyhow!("{}: not a patch file name", path.display()))?;
    let parsed = parse_patch_name(name).map_err(|why| anyhow::anyhow!("{}: {why}", path.display()))?;
    store
        .index_by_identity()
        .get(&(parsed.patient.as_str(), parsed.x, parsed.y))
        .copied()
        .ok_or_else(|| anyhow::anyhow!("{}: no such patch in {}", path.display(), store.root().display()))
}
