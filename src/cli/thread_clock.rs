//! The CPU time of the calling thread: what a GPU training step costs the host (recording the
//! autodiff graph, fusing, encoding and submitting kernels), apart from the time it waits.

use std::time::Duration;

/// CPU time this thread has used so far, where the platform tells it.
#[cfg(unix)]
pub fn thread_cpu_time() -> Option<Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for clock_gettime to fill.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    (status == 0).then(|| Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
}

#[cfg(not(unix))]
pub fn thread_cpu_time() -> Option<Duration> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_work_and_not_sleep() {
        let Some(before) = thread_cpu_time() else {
            return;
        };
        std::thread::sleep(Duration::from_millis(50));
        let slept = thread_cpu_time().unwrap() - before;
        let mut sum = 0u64;
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(50) {
            sum = std::hint::black_box(sum.wrapping_add(1));
        }
        let worked = thread_cpu_time().unwrap() - before - slept;
        assert!(
            slept < Duration::from_millis(20),
            "sleeping used {slept:?} of CPU"
        );
        assert!(
            worked > Duration::from_millis(30),
            "50 ms of work counted as {worked:?}"
        );
    }
}
