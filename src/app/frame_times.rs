//! How long the app takes per frame, over the last few seconds: shown in the status bar and
//! reported by the screenshot tour, so a slow view is noticed and measured. Two clocks: building
//! the UI (our code, measured everywhere, tests included) and the whole frame as eframe reports
//! it (the UI plus tessellation and painting, without waiting for the screen).

use std::collections::VecDeque;
use std::time::Duration;

const KEPT_FRAMES: usize = 240;

/// Median, 95th percentile and worst of some frames, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FrameSummary {
    pub frames: usize,
    pub median_ms: f64,
    pub p95_ms: f64,
    pub worst_ms: f64,
}

impl std::fmt::Display for FrameSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "median {:.2} ms, 95th percentile {:.2} ms, worst {:.2} ms ({} frames)",
            self.median_ms, self.p95_ms, self.worst_ms, self.frames
        )
    }
}

#[derive(Debug, Default, Clone)]
pub struct FrameTimes {
    recent_ms: VecDeque<f64>,
    /// Every frame since the start, for the tour's report: UI build time.
    build_ms: Vec<f64>,
    /// Whole frames as eframe measured them, in the order they were reported.
    whole_ms: Vec<f64>,
}

impl FrameTimes {
    /// Time spent building one frame's UI.
    pub fn record(&mut self, elapsed: Duration) {
        let ms = elapsed.as_secs_f64() * 1000.0;
        if self.recent_ms.len() == KEPT_FRAMES {
            self.recent_ms.pop_front();
        }
        self.recent_ms.push_back(ms);
        self.build_ms.push(ms);
    }

    /// A whole frame's CPU time as the window reports it (for the previous frame).
    pub fn record_whole_frame(&mut self, seconds: f32) {
        self.whole_ms.push(f64::from(seconds) * 1000.0);
    }

    pub fn median_ms(&self) -> f64 {
        let mut sorted: Vec<f64> = self.recent_ms.iter().copied().collect();
        summarise(&mut sorted).median_ms
    }

    /// A mark to measure from: see [`FrameTimes::since`].
    pub fn mark(&self) -> (usize, usize) {
        (self.build_ms.len(), self.whole_ms.len())
    }

    /// UI build times and whole-frame times since `mark`.
    pub fn since(&self, mark: (usize, usize)) -> (FrameSummary, FrameSummary) {
        let mut build = self.build_ms.get(mark.0..).unwrap_or_default().to_vec();
        let mut whole = self.whole_ms.get(mark.1..).unwrap_or_default().to_vec();
        (summarise(&mut build), summarise(&mut whole))
    }
}

fn summarise(values: &mut [f64]) -> FrameSummary {
    if values.is_empty() {
        return FrameSummary::default();
    }
    values.sort_by(f64::total_cmp);
    let at = |fraction: f64| values[((values.len() - 1) as f64 * fraction).round() as usize];
    FrameSummary {
        frames: values.len(),
        median_ms: at(0.5),
        p95_ms: at(0.95),
        worst_ms: at(1.0),
    }
}
