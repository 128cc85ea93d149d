//! `idc-studio bench`: throughput of each stage on this machine, each the median of several
//! timed runs after a warm-up, on a freshly generated demo dataset.

mod epoch;
pub mod kernel_census;
mod layers;
mod thread_clock;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::{Duration, Instant};

use burn::module::Module;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::dataset::demo::{DemoConfig, generate_demo_dataset};
use crate::dataset::scan_dataset;
use crate::dataset::stain::StainAugment;
use crate::model::cancernet::BatchNormSettings;
use crate::model::{DeviceChoice, select_device};
use crate::ops::uses_cpu_kernels;
use crate::ops::variants::gpu_variants;
use crate::training::augment::Augmentation;
use crate::training::batches::{BatchPlan, HostBatch, PREFETCH_DEPTH, prefetch_batches, render_threads};
use crate::training::evaluate::{GPU_INFERENCE_WINDOW, INFERENCE_BATCH, PendingPredictions, predict_batch};
use crate::training::step::{GPU_READ_BACK_STEPS, Learner, ReadBackWindow};
use kernel_census::{CensusReport, KernelCensus};

use thread_clock::{HostUse, ThreadTimes};

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Training steps per timed run.
    #[arg(long, default_value_t = 16)]
    pub steps: usize,
    /// Timed runs per figure (the median is printed).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Instead: the time of each layer of a training step (forward + backward).
    #[arg(long)]
    pub layers: bool,
    /// Also: one whole training epoch over this many patches (demo patches repeated), through
    /// the batch thread as in a real run.
    #[arg(long, value_name = "PATCHES")]
    pub epoch_patches: Option<usize>,
    /// Threads that render the pipeline's patches (default: as many as a run on this device
    /// uses).
    #[arg(long, value_name = "THREADS")]
    pub render_threads: Option<usize>,
    /// Also, on a GPU: each kernel a training step launches, how often, and its device time.
    #[arg(long)]
    pub kernels: bool,
    /// The re-staining of training patches in the pipeline and epoch figures [default: a
    /// run's default].
    #[arg(long, value_enum, default_value_t = StainAugment::default())]
    pub stain_augment: StainAugment,
}

/// Trains on `batches`, reading the loss back every `read_every` steps.
fn train_steps(mut learner: Learner, batches: &[HostBatch], read_every: usize) -> anyhow::Result<Learner> {
    let mut window = ReadBackWindow::new(read_every);
    std::thread::scope(|scope| {
        for (number, batch) in (1..).zip(feed(scope, batches)?) {
            let outcome;
            (learner, outcome) = learner.step_pending(batch);
            if let Some(gathered) = window.push(outcome, number == batches.len()) {
                std::hint::black_box(gathered.read().map_err(anyhow::Error::msg)?);
            }
        }
        Ok(learner)
    })
}

/// `batches`, each handed over as a value of its own by a thread that copies them ahead of use,
/// as a run's batch thread hands over each batch it renders: the thread timed pays no copy.
fn feed<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    batches: &'scope [HostBatch],
) -> anyhow::Result<Receiver<HostBatch>> {
    let (sender, receiver) = sync_channel(PREFETCH_DEPTH);
    std::thread::Builder::new()
        .name("idc-bench-feed".into())
        .spawn_scoped(scope, move || {
            for batch in batches {
                if sender.send(batch.clone()).is_err() {
                    return; // the consumer stopped early
                }
            }
        })
        .map_err(|err| anyhow::anyhow!("could not start a worker thread: {err}"))?;
    Ok(receiver)
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.batch_size > 0 && args.steps > 0 && args.runs > 0 && args.render_threads != Some(0),
        "--batch-size, --steps, --runs and --render-threads must be at least 1"
    );
    if let Some(patches) = args.epoch_patches {
        let least = epoch::PATIENTS;
        anyhow::ensure!(
            patches >= least,
            "--epoch-patches must be at least {least} (one patch per patient)"
        );
    }
    let compute = select_device(args.device)?;
    println!("device     {}", compute.description);
    if !uses_cpu_kernels(&compute.device) {
        for departure in gpu_variants().departures() {
            println!("layer      {departure}");
        }
    }
    if args.layers {
        layers::run(&compute.device, args.batch_size, args.runs)?;
        return Ok(ExitCode::SUCCESS);
    }

    let folder = tempfile::tempdir()?;
    let demo = DemoConfig {
        patients: 8,
        patches_per_patient: 250,
        seed: 7,
        ..DemoConfig::default()
    };
    generate_demo_dataset(folder.path(), &demo)?;
    let mut store = None;
    let ingest = median_rate(args.runs.min(3), || {
        let started = Instant::now();
        let (scanned, _) = scan_dataset(folder.path(), &|_| {})?;
        let rate = scanned.len() as f64 / started.elapsed().as_secs_f64();
        store = Some(scanned);
        Ok(rate)
    })?;
    let store = Arc::new(store.ok_or_else(|| anyhow::anyhow!("the scan produced no store"))?);
    println!(
        "ingest     {ingest:>9.0} patches/s  (scan + PNG decode of {} demo patches)",
        store.len()
    );

    let indices: Vec<usize> = (0..store.len()).collect();
    // Batch `k` of any size: the demo patches in turn, wrapping around, so every figure has
    // as many full batches as asked for.
    let batch_indices = |k: usize, size: usize| -> Vec<usize> {
        (k * size..(k + 1) * size)
            .map(|position| indices[position % indices.len()])
            .collect()
    };
    let batches_per_run = 32;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let ranges = Augmentation {
        stain: args.stain_augment.ranges(),
        ..Augmentation::recipe()
    };
    let pipeline = median_rate(args.runs, || {
        let started = Instant::now();
        for k in 0..batches_per_run {
            std::hint::black_box(HostBatch::build(
                &store,
                &batch_indices(k, args.batch_size),
                args.batch_size,
                Some((&ranges, &mut rng)),
            ));
        }
        Ok((batches_per_run * args.batch_size) as f64 / started.elapsed().as_secs_f64())
    })?;
    println!(
        "pipeline   {pipeline:>9.0} images/s   (augment + resize + batch, one thread; stain augmentation {})",
        args.stain_augment.name()
    );
    let threads = args
        .render_threads
        .unwrap_or_else(|| render_threads(&compute.device));
    let fed = median_rate(args.runs, || {
        let plan = BatchPlan {
            order: (0..batches_per_run * 4)
                .flat_map(|k| batch_indices(k, args.batch_size))
                .collect(),
            batch_size: args.batch_size,
            drop_last: true,
            augmentation: Some((ranges, 1)),
            render_threads: threads,
        };
        let images = plan.order.len();
        let started = Instant::now();
        for batch in prefetch_batches(Arc::clone(&store), plan)? {
            std::hint::black_box(batch);
        }
        Ok(images as f64 / started.elapsed().as_secs_f64())
    })?;
    println!(
        "pipeline   {fed:>9.0} images/s   (the batch thread as a run has it here: {threads} render thread(s))"
    );

    let batches: Vec<HostBatch> = (0..args.steps)
        .map(|k| {
            HostBatch::build(
                &store,
                &batch_indices(k, args.batch_size),
                args.batch_size,
                Some((&ranges, &mut rng)),
            )
        })
        .collect();
    let mut learner = Learner::new(
        &compute.device,
        1e-2,
        2.5e-4,
        [1.0, 2.5],
        BatchNormSettings::MODEL,
    );
    for batch in batches.iter().take(3) {
        (learner, _) = learner.step(batch.clone()).map_err(anyhow::Error::msg)?; // warm-up: allocation pools, kernel tuning
    }
    let mut slot = Some(learner);
    // The host's CPU time in the run that used least, and that run's wall time. A busiest
    // thread near the wall time means the host sets a GPU step's pace (its work, or a wait that
    // spins).
    let mut least_host_use: Option<(HostUse, Duration)> = None;
    let on_gpu = !uses_cpu_kernels(&compute.device);
    for read_every in [1, GPU_READ_BACK_STEPS] {
        let rate = median_rate(args.runs, || {
            let learner = slot.take().ok_or_else(|| anyhow::anyhow!("no learner"))?;
            // Only a GPU step's host time says anything (below); on the CPU skip /proc.
            let host_before = on_gpu.then(ThreadTimes::now).flatten();
            let started = Instant::now();
            slot = Some(train_steps(learner, &batches, read_every)?);
            let elapsed = started.elapsed();
            let host_use = host_before.and_then(|before| Some(ThreadTimes::now()?.since(&before)));
            if let Some(used) = host_use
                && least_host_use
                    .as_ref()
                    .is_none_or(|(least, _)| used.total() < least.total())
            {
                least_host_use = Some((used, elapsed));
            }
            Ok((batches.len() * args.batch_size) as f64 / elapsed.as_secs_f64())
        })?;
        let when = if read_every == 1 {
            "loss read back every step".to_string()
        } else {
            format!("loss read back every {read_every} steps")
        };
        println!(
            "training   {rate:>9.0} images/s   (batch {}, forward + backward + AdaGrad, {when})",
            args.batch_size
        );
    }

    // Read on a GPU only: on the CPU backend the threads' time is the arithmetic itself.
    if let Some((used, elapsed)) = least_host_use {
        let per_step = |time: Duration| time.as_secs_f64() * 1000.0 / batches.len() as f64;
        println!(
            "host       {:>9.2} ms of CPU per step in all threads, {:.2} in the busiest thread; {:.2} ms \
             per step on the clock",
            per_step(used.total()),
            per_step(used.busiest()),
            per_step(elapsed)
        );
        let busiest_threads: Vec<String> = used
            .threads
            .iter()
            .take(4)
            .map(|(name, time)| format!("{name} {:.2}", per_step(*time)))
            .collect();
        println!(
            "host       by thread, ms per step: {}",
            busiest_threads.join(", ")
        );
    }
    if on_gpu {
        // Passes of their own, after the timed ones: the observer costs the host a little per
        // launch, and timing each kernel spaces them out.
        let learner = slot.take().ok_or_else(|| anyhow::anyhow!("no learner"))?;
        let (census, observation) = KernelCensus::start(false);
        let learner = train_steps(learner, &batches, GPU_READ_BACK_STEPS)?;
        drop(observation);
        print_launches(&census.report(), batches.len());
        slot = Some(if args.kernels {
            let (census, observation) = KernelCensus::start(true);
            let learner = train_steps(learner, &batches, GPU_READ_BACK_STEPS)?;
            drop(observation);
            print_kernel_times(&census.report(), batches.len());
            learner
        } else {
            learner
        });
    }

    let model = slot
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no learner"))?
        .model
        .valid();
    let inference_batches: Vec<HostBatch> = (0..16)
        .map(|k| HostBatch::build(&store, &batch_indices(k, INFERENCE_BATCH), INFERENCE_BATCH, None))
        .collect();
    predict_batch(&model, inference_batches[0].clone(), &compute.device)?;
    let images = (inference_batches.len() * INFERENCE_BATCH) as f64;
    // As a run predicts (validation, test, the app): a GPU reads several batches back at once.
    let inference = median_rate(args.runs, || {
        std::thread::scope(|scope| {
            let batches = feed(scope, &inference_batches)?;
            let started = Instant::now();
            let mut pending = PendingPredictions::new(&compute.device);
            for batch in batches {
                std::hint::black_box(pending.push(&model, batch, &compute.device)?);
            }
            std::hint::black_box(pending.read()?);
            Ok(images / started.elapsed().as_secs_f64())
        })
    })?;
    let how = if on_gpu {
        format!(", read back {GPU_INFERENCE_WINDOW} batches at a time")
    } else {
        String::new()
    };
    println!("inference  {inference:>9.0} images/s   (batch {INFERENCE_BATCH}{how})");
    if on_gpu {
        // Each batch read back before the next is queued: the cost of not overlapping them.
        let one_at_a_time = median_rate(args.runs, || {
            std::thread::scope(|scope| {
                let batches = feed(scope, &inference_batches)?;
                let started = Instant::now();
                for batch in batches {
                    std::hint::black_box(predict_batch(&model, batch, &compute.device)?);
                }
                Ok(images / started.elapsed().as_secs_f64())
            })
        })?;
        println!(
            "inference  {one_at_a_time:>9.0} images/s   (batch {INFERENCE_BATCH}, each batch read back before the next)"
        );
    }
    if let Some(patches) = args.epoch_patches {
        epoch::run(&store, patches, args.batch_size, args.device, args.stain_augment)?;
    }
    println!(
        "reference  Keras/TensorFlow on a 2-core machine of this kind: training 395-660 images/s, \
         inference about 1550 images/s; PyTorch eager training 375-420 (shared/reference/CANCERNET.md)"
    );
    Ok(ExitCode::SUCCESS)
}

/// The one-line count of a training step's kernel launches.
fn print_launches(report: &CensusReport, steps: usize) {
    println!(
        "kernels    {:>9.1} launches per training step ({} kinds of kernel)",
        report.launches() as f64 / steps as f64,
        report.rows.len()
    );
}

/// Each kernel's launches and device time per training step, the longest first.
fn print_kernel_times(report: &CensusReport, steps: usize) {
    let per_step = |count: usize| count as f64 / steps as f64;
    let ms_per_step = |time: std::time::Duration| time.as_secs_f64() * 1000.0 / steps as f64;
    match (report.method, report.device_time()) {
        (Some(method), Some(total)) => println!(
            "kernels    {:>9.2} ms per training step in all kernels, timed by {}",
            ms_per_step(total),
            match method {
                cubecl_runtime::logging::TimingMethod::Device => "the device's clock",
                cubecl_runtime::logging::TimingMethod::System => {
                    "the host's clock around each blocking submit (no timestamp queries here)"
                }
            }
        ),
        _ => println!("kernels    no device times came back (this backend gave none)"),
    }
    for row in &report.rows {
        let time = row
            .time
            .map_or_else(|| "-".to_string(), |time| format!("{:.3}", ms_per_step(time)));
        println!(
            "kernel     {time:>9} ms  {:>6.1} launches  {}",
            per_step(row.launches),
            row.name
        );
    }
}

/// Median of `runs` measurements.
fn median_rate(runs: usize, mut measure: impl FnMut() -> anyhow::Result<f64>) -> anyhow::Result<f64> {
    let mut rates = (0..runs.max(1))
        .map(|_| measure())
        .collect::<anyhow::Result<Vec<f64>>>()?;
    rates.sort_by(f64::total_cmp);
    Ok(rates[rates.len() / 2])
}
