//! How far a map's making has come, shared between its worker and whoever shows it (the app's
//! progress bar, the command line's lines), and the Stop the worker looks at between pieces.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The steps of making a map, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapStep {
    Embedding,
    Components,
    Indexing,
    Neighbours,
    Layout,
}

impl MapStep {
    pub const ALL: [MapStep; 5] = [
        MapStep::Embedding,
        MapStep::Components,
        MapStep::Indexing,
        MapStep::Neighbours,
        MapStep::Layout,
    ];

    /// What the step does, for a progress line.
    pub fn describe(self) -> &'static str {
        match self {
            MapStep::Embedding => "Embedding every patch with the run's model",
            MapStep::Components => "Principal components of the embeddings",
            MapStep::Indexing => "Indexing the embeddings for the neighbour search",
            MapStep::Neighbours => "Finding each patch's nearest neighbours",
            MapStep::Layout => "Laying out the map (UMAP)",
        }
    }

    fn index(self) -> u8 {
        MapStep::ALL.iter().position(|&step| step == self).unwrap_or(0) as u8
    }
}

/// Progress and Stop of one map.
#[derive(Debug, Default)]
pub struct MapProgress {
    step: AtomicU8,
    done: AtomicUsize,
    total: AtomicUsize,
    stop: AtomicBool,
    /// When each step began: the parts of the time a map took.
    began: Mutex<Vec<(MapStep, Instant)>>,
}

impl MapProgress {
    pub fn begin(&self, step: MapStep, total: usize) {
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        self.step.store(step.index(), Ordering::Relaxed);
        if let Ok(mut began) = self.began.lock() {
            began.push((step, Instant::now()));
        }
    }

    pub fn advance(&self, by: usize) {
        self.done.fetch_add(by, Ordering::Relaxed);
    }

    pub fn set_done(&self, done: usize) {
        self.done.store(done, Ordering::Relaxed);
    }

    /// The step under way, and how much of it is done of how much.
    pub fn now(&self) -> (MapStep, usize, usize) {
        let step = MapStep::ALL[usize::from(self.step.load(Ordering::Relaxed)).min(MapStep::ALL.len() - 1)];
        (
            step,
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// How long each step that began took (the last one until `end`).
    pub fn durations(&self, end: Instant) -> Vec<(MapStep, Duration)> {
        let Ok(began) = self.began.lock() else {
            return Vec::new();
        };
        began
            .iter()
            .enumerate()
            .map(|(at, &(step, start))| {
                let until = began.get(at + 1).map_or(end, |&(_, next)| next);
                (step, until.saturating_duration_since(start))
            })
            .collect()
    }
}
