//! How long the app takes to build its frames, over the last few seconds: shown in the status
//! bar and reported by the screenshot tour, so a slow view is noticed and measured.

use std::collections::VecDeque;
use std::time::Duration;

const KEPT_FRAMES: usize = 240;

#[derive(Debug, Default, Clone)]
pub struct FrameTimes {
    recent_ms: VecDeque<f64>,
    /// Every frame since the start, for the tour's report.
    all_ms: Vec<f64>,
}

impl FrameTimes {
    pub fn record(&mut self, elapsed: Duration) {
        let ms = elapsed.as_secs_f64() * 1000.0;
        if self.recent_ms.len() == KEPT_FRAMES {
            self.recent_ms.pop_front();
        }
        self.recent_ms.push_back(ms);
        self.all_ms.push(ms);
    }

    pub fn median_ms(&self) -> f64 {
        let mut sorted: Vec<f64> = self.recent_ms.iter().copied().collect();
        percentile(&mut sorted, 0.5)
    }

    /// Frames recorded since `from` (an earlier [`FrameTimes::count`]): median, 95th percentile
    /// and worst, in milliseconds.
    pub fn summary_since(&self, from: usize) -> (usize, f64, f64, f64) {
        let mut frames: Vec<f64> = self.all_ms.get(from..).unwrap_or_default().to_vec();
        let count = frames.len();
        let median = percentile(&mut frames, 0.5);
        let p95 = percentile(&mut frames, 0.95);
        let worst = frames.last().copied().unwrap_or(0.0);
        (count, median, p95, worst)
    }

    pub fn count(&self) -> usize {
        self.all_ms.len()
    }
}

/// Sorts `values` and returns the `fraction` percentile (0 when empty).
fn percentile(values: &mut [f64], fraction: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() - 1) as f64 * fraction).round() as usize;
    values[rank]
}
