//! Which GPU kernels a training step launches, how often, and how long each runs on the device:
//! cubecl's launch observer, installed around a few training steps (`bench` on a GPU).
//!
//! A GPU step of CancerNet is a few hundred kernels, and on a fast card the host's work per
//! launch (recording, fusing, encoding, submitting) sets the pace: the count is the figure to
//! bring down. The device times say which kernels the card itself spends its step on, at the
//! real shapes, in one run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cubecl_runtime::config::{TypeNameFormatLevel, type_name_format};
use cubecl_runtime::logging::{
    LaunchObservation, LaunchObserver, ProfileDuration, TimingMethod, TimingRequest,
};

/// Counts (and, when asked, times) every kernel launched while it is installed.
pub struct KernelCensus {
    timed: bool,
    launches: Mutex<HashMap<&'static str, usize>>,
    /// Measurements handed over unread ([`TimingRequest::Deferred`]): read after the pass, so the
    /// kernels run back to back as in a real step.
    pending: Mutex<Vec<(&'static str, ProfileDuration)>>,
    /// Measurements already read (cubecl reads them itself where its profiling logger is on).
    read: Mutex<Vec<(&'static str, Duration, TimingMethod)>>,
}

/// One kernel's share of the observed steps.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelRow {
    /// The kernel's type name, shortened ([`short_name`]).
    pub name: String,
    pub launches: usize,
    /// Device time of all its launches; `None` when not timed or no measurement came back.
    pub time: Option<Duration>,
}

/// What the observed steps launched.
#[derive(Debug, Clone)]
pub struct CensusReport {
    /// The most launched first; with times, the longest first.
    pub rows: Vec<KernelRow>,
    /// How the times were taken: on the device, or host clock around a blocking submit (a
    /// backend without timestamp queries), which includes the submit.
    pub method: Option<TimingMethod>,
}

impl CensusReport {
    pub fn launches(&self) -> usize {
        self.rows.iter().map(|row| row.launches).sum()
    }

    pub fn device_time(&self) -> Option<Duration> {
        self.method?;
        Some(self.rows.iter().filter_map(|row| row.time).sum())
    }
}

impl KernelCensus {
    /// Installs a census for as long as the returned guard lives.
    pub fn start(timed: bool) -> (Arc<KernelCensus>, LaunchObservation) {
        let census = Arc::new(KernelCensus {
            timed,
            launches: Mutex::default(),
            pending: Mutex::default(),
            read: Mutex::default(),
        });
        let guard = LaunchObservation::new(Arc::clone(&census) as Arc<dyn LaunchObserver>);
        (census, guard)
    }

    /// The launches seen so far, with their device times read (this waits for the device).
    pub fn report(&self) -> CensusReport {
        let launches = self
            .launches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        let mut read = self.read.lock().unwrap_or_else(PoisonError::into_inner).clone();
        for (kernel, profile) in pending {
            let method = profile.timing_method();
            if let Some(ticks) = cubecl::future::block_on(profile.resolve()) {
                read.push((kernel, ticks.duration(), method));
            }
        }
        let mut by_name: HashMap<String, KernelRow> = HashMap::new();
        for (kernel, count) in launches {
            let name = short_name(kernel);
            by_name
                .entry(name.clone())
                .or_insert(KernelRow {
                    name,
                    launches: 0,
                    time: None,
                })
                .launches += count;
        }
        let mut method = None;
        for (kernel, duration, how) in read {
            if let Some(row) = by_name.get_mut(&short_name(kernel)) {
                *row.time.get_or_insert(Duration::ZERO) += duration;
            }
            // One System measurement makes the whole table host-clocked.
            if method != Some(TimingMethod::System) {
                method = Some(how);
            }
        }
        let mut rows: Vec<KernelRow> = by_name.into_values().collect();
        rows.sort_by(|a, b| {
            b.time
                .cmp(&a.time)
                .then(b.launches.cmp(&a.launches))
                .then(a.name.cmp(&b.name))
        });
        CensusReport { rows, method }
    }
}

/// The kernel's type without module paths, and of its type parameters only those that tell two
/// kernels of one type apart in a table: the operation (`DivOp`) and the family of an algorithm
/// (`SimpleMatmulFamily`). A matrix product's full name lists some twenty parameters.
fn short_name(kernel: &str) -> String {
    let balanced = type_name_format(kernel, TypeNameFormatLevel::Balanced);
    let mut parts = balanced.split(" | ").map(str::trim);
    let mut name = parts.next().unwrap_or_default().to_string();
    for part in parts.filter(|part| part.ends_with("Op") || part.ends_with("Family")) {
        name.push_str(" | ");
        name.push_str(part);
    }
    name
}

impl LaunchObserver for KernelCensus {
    fn launched(&self, kernel: &'static str) {
        *self
            .launches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(kernel)
            .or_default() += 1;
    }

    fn timing(&self) -> TimingRequest {
        if self.timed {
            TimingRequest::Deferred
        } else {
            TimingRequest::None
        }
    }

    fn profiled(&self, kernel: &'static str, profile: ProfileDuration) {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((kernel, profile));
    }

    fn timed(&self, kernel: &'static str, duration: Duration, method: TimingMethod) {
        self.read
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((kernel, duration, method));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_the_type_its_operation_and_its_family() {
        assert_eq!(
            short_name("cubecl_std::ops::KernelScalarBinop<f32, burn_cubecl::DivOp>"),
            "KernelScalarBinop | DivOp"
        );
        assert_eq!(
            short_name(
                "idc_studio::ops::depthwise::gpu::depthwise_forward_kernel::DepthwiseForwardKernel<R>"
            ),
            "DepthwiseForwardKernel"
        );
    }
}
