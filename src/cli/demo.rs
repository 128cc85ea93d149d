//! `idc-studio demo-data DIR`.

use std::path::Path;
use std::process::ExitCode;

use crate::dataset::demo::{DemoConfig, generate_demo_dataset};
use crate::dataset::label_noise::{PLANTED_FLIPS_FILE, plant_label_flips};
use crate::dataset::scan_dataset;

pub fn run(dir: &Path, config: DemoConfig, plant_label_errors: Option<f64>) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(config.patients > 0, "--patients must be at least 1");
    anyhow::ensure!(
        config.patches_per_patient > 0,
        "--patches-per-patient must be at least 1"
    );
    let seed = config.seed;
    let started = std::time::Instant::now();
    let summary = generate_demo_dataset(dir, &config)?;
    println!(
        "wrote synthetic demo data to {}: {} patients, {} patches, {} IDC ({:.1}%), {} edge patches, stain variation {}, in {:.1} s",
        summary.root.display(),
        summary.patients,
        summary.patches,
        summary.idc_patches,
        100.0 * summary.idc_patches as f64 / summary.patches.max(1) as f64,
        summary.edge_patches,
        config.stain_variation.name(),
        started.elapsed().as_secs_f64()
    );
    if let Some(share) = plant_label_errors {
        let (store, _) = scan_dataset(dir, &|_| {})?;
        let flips = plant_label_flips(&store, share, seed)?;
        println!(
            "flipped the labels of {} patches ({:.1}%), listed in {}",
            flips.len(),
            100.0 * flips.len() as f64 / store.len().max(1) as f64,
            dir.join(PLANTED_FLIPS_FILE).display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
