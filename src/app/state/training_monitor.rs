//! The training view's picture of a run, built from the worker's events: phase, progress, speed,
//! and the loss and accuracy series the plots draw.

use std::path::PathBuf;

use egui_plot::PlotPoint;

use crate::metrics::Metrics;
use crate::training::{EpochMetrics, StepMetrics, TrainingEvent};

/// Per-batch series keep at most this many points: a long run plots as fast as a short one.
const MAX_POINTS: usize = 2048;

/// A per-batch series averaged into buckets that double in size as the run grows.
#[derive(Debug, Clone, Default)]
pub struct BatchSeries {
    points: Vec<PlotPoint>,
    bucket: usize,
    sum: [f64; 2],
    count: usize,
}

impl BatchSeries {
    pub fn push(&mut self, x: f64, y: f64) {
        self.bucket = self.bucket.max(1);
        self.sum[0] += x;
        self.sum[1] += y;
        self.count += 1;
        if self.count < self.bucket {
            return;
        }
        let n = self.count as f64;
        self.points.push(PlotPoint::new(self.sum[0] / n, self.sum[1] / n));
        self.sum = [0.0; 2];
        self.count = 0;
        if self.points.len() >= MAX_POINTS {
            self.points = self
                .points
                .chunks(2)
                .map(|pair| {
                    let n = pair.len() as f64;
                    PlotPoint::new(
                        pair.iter().map(|point| point.x).sum::<f64>() / n,
                        pair.iter().map(|point| point.y).sum::<f64>() / n,
                    )
                })
                .collect();
            self.bucket *= 2;
        }
    }

    pub fn points(&self) -> &[PlotPoint] {
        &self.points
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub enum Phase {
    #[default]
    Idle,
    /// Asked to start; the worker has not reported yet (finding the device, splitting).
    Starting,
    Training,
    Evaluating {
        patches: usize,
    },
    Finished {
        metrics: Box<Metrics>,
    },
    Stopped {
        epoch: usize,
        batch: usize,
    },
    Failed(String),
}

#[derive(Debug, Clone, Default)]
pub struct TrainingMonitor {
    pub phase: Phase,
    pub device: String,
    pub run_dir: Option<PathBuf>,
    pub epochs: usize,
    pub batches_per_epoch: usize,
    pub split_sizes: [usize; 3],
    pub epoch: usize,
    pub batch: usize,
    pub images_per_sec: f64,
    pub eta_secs: f64,
    pub train_loss: BatchSeries,
    pub train_accuracy: BatchSeries,
    pub epoch_log: Vec<EpochMetrics>,
    /// Batch reports heard: one per batch on the CPU, one per 16 batches on a GPU.
    pub batch_reports: usize,
    /// Patients whose stain is estimated, of all, while a run that normalises stain starts.
    pub stain_estimate: Option<(usize, usize)>,
}

impl TrainingMonitor {
    /// A monitor showing a past run's logs: the training curves it showed live, from
    /// `steps.csv`, or one point an epoch for a run saved before steps were kept.
    pub fn from_logs(run_dir: PathBuf, epoch_log: Vec<EpochMetrics>, step_log: &[StepMetrics]) -> Self {
        let mut monitor = TrainingMonitor {
            run_dir: Some(run_dir),
            epochs: epoch_log.len(),
            epoch: epoch_log.len(),
            ..TrainingMonitor::default()
        };
        if step_log.is_empty() {
            for epoch in &epoch_log {
                monitor.train_loss.push(epoch.epoch as f64, epoch.train_loss);
                monitor
                    .train_accuracy
                    .push(epoch.epoch as f64, epoch.train_accuracy);
            }
        }
        for step in step_log {
            monitor.train_loss.push(step.x(), step.loss);
            monitor.train_accuracy.push(step.x(), step.accuracy);
        }
        monitor.epoch_log = epoch_log;
        monitor
    }

    pub fn is_running(&self) -> bool {
        matches!(
            self.phase,
            Phase::Starting | Phase::Training | Phase::Evaluating { .. }
        )
    }

    pub fn apply(&mut self, event: TrainingEvent) {
        match event {
            TrainingEvent::Started {
                device,
                run_dir,
                train_patches,
                validation_patches,
                test_patches,
                first_epoch,
                epochs,
                batches_per_epoch,
            } => {
                self.phase = Phase::Training;
                self.device = device;
                self.run_dir = Some(run_dir);
                self.split_sizes = [train_patches, validation_patches, test_patches];
                self.epoch = first_epoch;
                self.epochs = epochs;
                self.batches_per_epoch = batches_per_epoch;
            }
            TrainingEvent::Batch {
                epoch,
                batch,
                batches,
                loss,
                accuracy,
                images_per_sec,
                eta_secs,
            } => {
                self.epoch = epoch;
                self.batch = batch;
                self.batches_per_epoch = batches;
                self.images_per_sec = images_per_sec;
                self.eta_secs = eta_secs;
                self.batch_reports += 1;
                let x = (epoch - 1) as f64 + batch as f64 / batches.max(1) as f64;
                self.train_loss.push(x, loss);
                self.train_accuracy.push(x, accuracy);
            }
            TrainingEvent::EstimatingStain { done, total } => self.stain_estimate = Some((done, total)),
            // Shown as the app's messages (views/training.rs).
            TrainingEvent::Warning { .. } => {}
            TrainingEvent::Epoch(metrics) => self.epoch_log.push(metrics),
            TrainingEvent::Checkpoint { .. } => {}
            TrainingEvent::Evaluating { patches } => self.phase = Phase::Evaluating { patches },
            TrainingEvent::Finished { metrics, .. } => self.phase = Phase::Finished { metrics },
            TrainingEvent::Stopped { epoch, batch } => self.phase = Phase::Stopped { epoch, batch },
            TrainingEvent::Failed { message } => self.phase = Phase::Failed(message),
        }
    }

    /// What the wait before a GPU's first batch report is: the backend searching kernels for
    /// CancerNet's shapes, long on a machine's first GPU run and short once kept on disk
    /// (docs/performance.md).
    pub fn gpu_warm_up_note(&self) -> Option<&'static str> {
        let waiting = self.phase == Phase::Training && self.batch_reports == 0;
        (waiting && self.device.starts_with("GPU")).then_some(
            "Tuning GPU kernels for these shapes: a minute or two on this machine's first GPU run, seconds after that.",
        )
    }

    /// Share of the whole run done, 0 to 1.
    pub fn progress(&self) -> f32 {
        if self.epochs == 0 || self.batches_per_epoch == 0 {
            return 0.0;
        }
        let done = (self.epoch.saturating_sub(1) * self.batches_per_epoch + self.batch) as f32;
        (done / (self.epochs * self.batches_per_epoch) as f32).clamp(0.0, 1.0)
    }

    pub fn validation_loss(&self) -> Vec<[f64; 2]> {
        self.epoch_log
            .iter()
            .map(|epoch| [epoch.epoch as f64, epoch.validation_loss])
            .collect()
    }

    pub fn validation_accuracy(&self) -> Vec<[f64; 2]> {
        self.epoch_log
            .iter()
            .map(|epoch| [epoch.epoch as f64, epoch.validation_accuracy])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reopened_run_plots_its_saved_steps_where_it_has_them() {
        let epoch = |n: usize| EpochMetrics {
            epoch: n,
            train_loss: 0.5,
            train_accuracy: 0.8,
            validation_loss: 0.4,
            validation_accuracy: 0.85,
            images_per_sec: 100.0,
            seconds: 1.0,
        };
        let steps: Vec<StepMetrics> = (1..=4)
            .map(|batch| StepMetrics {
                epoch: 1 + (batch - 1) / 2,
                batch: 1 + (batch - 1) % 2,
                batches: 2,
                loss: 1.0 / batch as f64,
                accuracy: 0.5,
            })
            .collect();
        let with_steps = TrainingMonitor::from_logs("run".into(), vec![epoch(1), epoch(2)], &steps);
        let xs: Vec<f64> = with_steps.train_loss.points().iter().map(|p| p.x).collect();
        assert_eq!(xs, [0.5, 1.0, 1.5, 2.0]);
        assert_eq!(with_steps.train_loss.points()[3].y, 0.25);

        let older = TrainingMonitor::from_logs("run".into(), vec![epoch(1), epoch(2)], &[]);
        let xs: Vec<f64> = older.train_loss.points().iter().map(|p| p.x).collect();
        assert_eq!(
            xs,
            [1.0, 2.0],
            "one point an epoch for a run saved before steps were kept"
        );
    }

    fn started(device: &str) -> TrainingEvent {
        TrainingEvent::Started {
            device: device.to_string(),
            run_dir: PathBuf::from("run"),
            train_patches: 640,
            validation_patches: 64,
            test_patches: 160,
            first_epoch: 1,
            epochs: 2,
            batches_per_epoch: 20,
        }
    }

    #[test]
    fn the_wait_for_a_gpus_first_batches_is_explained_until_they_come() {
        let mut gpu = TrainingMonitor::default();
        gpu.apply(started("GPU NVIDIA H100 80GB HBM3 (Vulkan, DiscreteGpu)"));
        assert!(gpu.gpu_warm_up_note().unwrap().contains("Tuning GPU kernels"));
        gpu.apply(TrainingEvent::Batch {
            epoch: 1,
            batch: 16,
            batches: 20,
            loss: 0.6,
            accuracy: 0.7,
            images_per_sec: 2900.0,
            eta_secs: 1.0,
        });
        assert_eq!(gpu.gpu_warm_up_note(), None);

        let mut cpu = TrainingMonitor::default();
        cpu.apply(started("CPU (burn flex, 2 threads)"));
        assert_eq!(cpu.gpu_warm_up_note(), None);
    }

    #[test]
    fn a_long_run_keeps_a_bounded_averaged_series() {
        let mut series = BatchSeries::default();
        for step in 0..100_000 {
            series.push(step as f64, 1.0);
        }
        assert!(series.points().len() < MAX_POINTS);
        assert!(series.points().len() > MAX_POINTS / 4);
        assert!(series.points().iter().all(|point| (point.y - 1.0).abs() < 1e-12));
        let last = series.points().last().unwrap();
        assert!(last.x > 90_000.0, "{}", last.x);
    }
}
