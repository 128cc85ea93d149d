//! `idc-studio duplicates --data DIR [--run RUN]`: identical and nearly identical patches,
//! those given different labels, and how many test patches have a copy in training under a
//! split by patient and under a split by patch (and under the run's own split, by its model).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use super::scan::scan_with_progress;
use crate::atomic_file::write_atomic_with;
use crate::dataset::PatchStore;
use crate::dataset::split::{Split, SplitKind};
use crate::model::{DeviceChoice, select_device};
use crate::review::duplicates::{
    Duplicates, NEAR_LEVELS, PixelSearch, SplitLeak, embedding_leak, find_duplicates, split_leak,
};
use crate::review::similar::run_embeddings;
use crate::training::RunFolder;

#[derive(Debug, Clone, clap::Args)]
pub struct DuplicatesArgs {
    /// The dataset [default: the run's, with --run].
    #[arg(long, required_unless_present = "run")]
    pub data: Option<PathBuf>,
    /// Also measure this run's split, by its model's embeddings.
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// The seed of the patient and patch splits compared.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Write every pair found here as CSV.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

pub fn run(args: DuplicatesArgs) -> anyhow::Result<ExitCode> {
    let run = args.run.as_deref().map(RunFolder::open).transpose()?;
    let info = run.as_ref().map(RunFolder::read_info).transpose()?;
    let data = match (&args.data, &info) {
        (Some(data), _) => data.clone(),
        (None, Some(info)) => info.dataset.clone(),
        (None, None) => anyhow::bail!("name a dataset with --data or a run with --run"),
    };
    let (store, _) = scan_with_progress(&data)?;
    let started = Instant::now();
    let search = PixelSearch::new(&store);
    let duplicates = find_duplicates(&store, &search);
    eprintln!(
        "searched {} patches in {:.1} s",
        store.len(),
        started.elapsed().as_secs_f64()
    );
    print_duplicates(&store, &duplicates);

    let mut leaks = Vec::new();
    for (kind, words) in [(SplitKind::Patient, "by patient"), (SplitKind::Patch, "by patch")] {
        let split = Split::new(&store, kind, args.seed);
        let name = format!("{words}, seed {}", args.seed);
        leaks.push(split_leak(&store, &split, name, &search));
    }
    if let (Some(run), Some(info)) = (&run, &info) {
        let split = Split::load(&store, info.config.split, info.config.seed, &run.split_path())?;
        let compute = select_device(args.device)?;
        let embeddings = run_embeddings(run, &store, &compute.device)?;
        let name = format!("the run's ({})", run.root().display());
        leaks.push(split_leak(&store, &split, name.clone(), &search));
        leaks.push(embedding_leak(&store, &split, name, &embeddings));
    }
    print_leaks(&leaks);
    if let Some(out) = &args.out {
        write_pairs(&store, &duplicates, out)?;
        eprintln!("wrote {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn print_duplicates(store: &PatchStore, duplicates: &Duplicates) {
    let conflicts = duplicates.label_conflicts(store);
    println!(
        "identical patches: {} groups ({} patches); {} groups given both labels (label conflicts)",
        duplicates.exact.len(),
        duplicates.patches_with_copies(),
        conflicts.len()
    );
    for group in conflicts.iter().take(20) {
        let names: Vec<String> = group.iter().map(|&index| describe(store, index)).collect();
        println!("  conflict: {}", names.join(" = "));
    }
    println!(
        "near-duplicates (block colours within {NEAR_LEVELS} levels of 255): {} pairs, {} given different labels",
        duplicates.near.len(),
        duplicates.near_conflicts(store).len()
    );
}

fn describe(store: &PatchStore, index: usize) -> String {
    let patch = store.patch(index);
    format!(
        "patient {} ({}, {}) label {}",
        store.patient_name(patch),
        patch.x,
        patch.y,
        patch.label.index()
    )
}

fn print_leaks(leaks: &[SplitLeak]) {
    println!("\ntest patches whose nearest training patch is ...");
    println!(
        "{:<28} {:<7} {:>6} {:>16} {:>16} {:>22} {:>22}",
        "split",
        "by",
        "test",
        "an exact copy",
        "a near-duplicate",
        "near-dup., same patient",
        "of the same patient"
    );
    let cell = |leak: &SplitLeak, count: Option<usize>| match count {
        Some(count) => format!("{count} ({:.1}%)", 100.0 * leak.share(count)),
        None => "-".into(),
    };
    for leak in leaks {
        let by = match leak.measure {
            crate::review::duplicates::LeakMeasure::Pixels => "pixels",
            crate::review::duplicates::LeakMeasure::Model => "model",
        };
        println!(
            "{:<28} {:<7} {:>6} {:>16} {:>16} {:>22} {:>22}",
            leak.split,
            by,
            leak.test_patches,
            cell(leak, leak.exact_copy_in_training),
            cell(leak, leak.near_duplicate_in_training),
            cell(leak, leak.near_duplicate_same_patient),
            cell(leak, Some(leak.nearest_same_patient)),
        );
    }
}

fn write_pairs(store: &PatchStore, duplicates: &Duplicates, out: &std::path::Path) -> anyhow::Result<()> {
    let exact_pairs = duplicates.exact.iter().flat_map(|group| {
        group[1..]
            .iter()
            .map(move |&other| ("exact", group[0], other, 0.0f32))
    });
    let near_pairs = duplicates
        .near
        .iter()
        .map(|pair| ("near", pair.a, pair.b, pair.rms_levels));
    write_atomic_with(out, |file| {
        let mut writer = csv::Writer::from_writer(file);
        writer.write_record([
            "kind",
            "patient_a",
            "x_a",
            "y_a",
            "label_a",
            "patient_b",
            "x_b",
            "y_b",
            "label_b",
            "rms_levels",
            "same_patient",
            "labels_differ",
        ])?;
        for (kind, a, b, levels) in exact_pairs.chain(near_pairs) {
            let (pa, pb) = (store.patch(a), store.patch(b));
            writer.write_record([
                kind.to_string(),
                store.patient_name(pa).to_string(),
                pa.x.to_string(),
                pa.y.to_string(),
                pa.label.index().to_string(),
                store.patient_name(pb).to_string(),
                pb.x.to_string(),
                pb.y.to_string(),
                pb.label.index().to_string(),
                format!("{levels:.2}"),
                (pa.patient == pb.patient).to_string(),
                (pa.label != pb.label).to_string(),
            ])?;
        }
        writer.flush()
    })
    .map_err(|err| anyhow::anyhow!("{}: {err}", out.display()))
}
