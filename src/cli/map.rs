//! `idc-studio map RUN --out map.csv`: every patch's place on the dataset map of a run, made on
//! this machine (or read from the run's cache), with how long each step took.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::scan::scan_with_progress;
use crate::atomic_file::write_atomic_with;
use crate::dataset::split::{Split, SplitPart};
use crate::model::{DeviceChoice, select_device};
use crate::review::map::{MapProgress, run_map};
use crate::training::RunFolder;

#[derive(Debug, Clone, clap::Args)]
pub struct MapArgs {
    pub run_dir: PathBuf,
    /// Where to write the CSV: patient,x,y,label,part,map_x,map_y.
    #[arg(long)]
    pub out: PathBuf,
    /// The dataset [default: the one the run trained on].
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

pub fn run(args: MapArgs) -> anyhow::Result<ExitCode> {
    let run = RunFolder::open(&args.run_dir)?;
    if run.owns(&args.out) {
        anyhow::bail!(
            "{}: is a file of the run; choose another --out",
            args.out.display()
        );
    }
    let info = run.read_info()?;
    let data = args.data.unwrap_or_else(|| info.dataset.clone());
    let (store, _) = scan_with_progress(&data)?;
    let split = Split::load(&store, info.config.split, info.config.seed, &run.split_path())?;
    let compute = select_device(args.device)?;
    let progress = Arc::new(MapProgress::default());
    let started = Instant::now();
    let reporter = report_progress(Arc::clone(&progress));
    let map = run_map(&run, &store, &compute.device, &progress);
    progress.stop();
    let _ = reporter.join();
    let map = map?.expect("nothing stops the command line's map");
    let ended = Instant::now();
    for (step, took) in progress.durations(ended) {
        eprintln!("{:>8.1} s  {}", took.as_secs_f64(), step.describe());
    }
    eprintln!(
        "{} patches mapped in {:.1} s (peak memory {})",
        map.len(),
        ended.duration_since(started).as_secs_f64(),
        peak_memory().unwrap_or_else(|| "unknown".into())
    );
    write_atomic_with(&args.out, |file| {
        let mut writer = csv::Writer::from_writer(file);
        writer.write_record(["patient", "x", "y", "label", "part", "map_x", "map_y"])?;
        for (index, place) in map.points.iter().enumerate() {
            let patch = store.patch(index);
            let part = match split.part(index) {
                Some(SplitPart::Train) => "train",
                Some(SplitPart::Validation) => "validation",
                Some(SplitPart::Test) => "test",
                None => "",
            };
            writer.write_record([
                store.patient_name(patch).to_string(),
                patch.x.to_string(),
                patch.y.to_string(),
                patch.label.index().to_string(),
                part.to_string(),
                format!("{:.4}", place[0]),
                format!("{:.4}", place[1]),
            ])?;
        }
        writer.flush()
    })
    .map_err(|err| anyhow::anyhow!("{}: {err}", args.out.display()))?;
    eprintln!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// A line on standard error each time the step changes and every ten seconds, until stopped.
fn report_progress(progress: Arc<MapProgress>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last = None;
        let mut said = Instant::now();
        while !progress.stopped() {
            let (step, done, total) = progress.now();
            if last != Some(step) || said.elapsed() > Duration::from_secs(10) {
                if last.is_some() || done > 0 {
                    eprintln!("{}: {done} of {total}", step.describe());
                }
                last = Some(step);
                said = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
}

/// The process's peak resident memory, from Linux's /proc (None elsewhere).
pub fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(format!("{:.0} MiB", kib / 1024.0))
}
