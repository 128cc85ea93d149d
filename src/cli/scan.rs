//! `idc-studio scan DIR`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use super::report::print_scan_report;
use crate::dataset::scan::{ScanProgress, ScanReport};
use crate::dataset::{PatchStore, scan_dataset};

pub fn run(dir: &Path) -> anyhow::Result<ExitCode> {
    let (store, report) = scan_with_progress(dir)?;
    print_scan_report(&report, &store);
    for file in &report.skipped {
        println!("skipped {}: {}", file.path.display(), file.reason);
    }
    Ok(ExitCode::SUCCESS)
}

/// Scans `dir` with a progress bar on standard error.
pub fn scan_with_progress(dir: &Path) -> anyhow::Result<(Arc<PatchStore>, ScanReport)> {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("decoding {bar:30} {pos}/{len} patches ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let result = scan_dataset(dir, &|progress: ScanProgress| {
        bar.set_length(progress.total as u64);
        bar.set_position(progress.decoded as u64);
    });
    bar.finish_and_clear();
    let (store, report) = result?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "scanned {} patches in {seconds:.1} s ({:.0} patches/s)",
        report.patches + report.skipped.len(),
        (report.patches + report.skipped.len()) as f64 / seconds.max(1e-9)
    );
    Ok((Arc::new(store), report))
}
