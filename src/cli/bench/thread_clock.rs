//! CPU time per thread of this process, read from Linux's /proc: what a GPU training step costs
//! the host (recording the autodiff graph on the training thread, fusing, encoding and
//! submitting kernels on cubecl's device threads), apart from the time it waits.

use std::collections::HashMap;
use std::time::Duration;

/// The name and the CPU time (user + system) of each live thread of this process, by thread id.
pub struct ThreadTimes(HashMap<u32, (String, Duration)>);

/// What the threads used between two [`ThreadTimes`]: each thread that used any, by name (as
/// the thread named itself; several may share one), the busiest first. The busiest says whose
/// work is the host's floor (the training thread's autodiff and fusion, or a GPU runtime's own
/// threads).
#[derive(Debug, Clone)]
pub struct HostUse {
    pub threads: Vec<(String, Duration)>,
}

impl HostUse {
    /// All threads together.
    pub fn total(&self) -> Duration {
        self.threads.iter().map(|(_, used)| *used).sum()
    }

    /// The one thread that used most: the host's floor under the work, as it runs serially.
    pub fn busiest(&self) -> Duration {
        self.threads.first().map_or(Duration::ZERO, |(_, used)| *used)
    }
}

impl ThreadTimes {
    /// Now, where the platform tells it (Linux); `None` elsewhere or when /proc is unreadable.
    pub fn now() -> Option<Self> {
        let ticks_per_second = clock_ticks_per_second()?;
        let mut times = HashMap::new();
        for entry in std::fs::read_dir("/proc/self/task").ok()? {
            let entry = entry.ok()?;
            let Ok(id) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            // A thread may end between listing and reading: skip it.
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            if let (Some(name), Some(ticks)) = (thread_name(&stat), cpu_ticks(&stat)) {
                let time = Duration::from_secs_f64(ticks as f64 / ticks_per_second as f64);
                times.insert(id, (name.to_string(), time));
            }
        }
        Some(Self(times))
    }

    /// The CPU time used since `earlier`, by threads alive now (a new one counts from zero).
    pub fn since(&self, earlier: &ThreadTimes) -> HostUse {
        let mut threads: Vec<(String, Duration)> = self
            .0
            .iter()
            .map(|(id, (name, time))| {
                let before = earlier.0.get(id).map_or(Duration::ZERO, |(_, time)| *time);
                (name.clone(), time.saturating_sub(before))
            })
            .filter(|(_, used)| !used.is_zero())
            .collect();
        threads.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        HostUse { threads }
    }
}

/// The thread's name: field 2 of its stat line, between the first '(' and the last ')'.
fn thread_name(stat: &str) -> Option<&str> {
    stat.get(stat.find('(')? + 1..stat.rfind(')')?)
}

/// utime + stime (fields 14 and 15) of a /proc/<pid>/task/<tid>/stat line, in clock ticks. The
/// thread's name (field 2, in parentheses) may hold spaces and parentheses: count from the last ')'.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// The kernel's clock ticks per second, the unit of /proc's CPU times.
#[cfg(target_os = "linux")]
fn clock_ticks_per_second() -> Option<i64> {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then_some(ticks as i64)
}

/// Elsewhere there is no /proc to read thread times from.
#[cfg(not(target_os = "linux"))]
fn clock_ticks_per_second() -> Option<i64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_ticks_past_an_odd_thread_name() {
        let stat = "4242 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 31 0 0 20 0 7 0 100";
        assert_eq!(cpu_ticks(stat), Some(281));
        assert_eq!(thread_name(stat), Some("a (b) c"));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn a_spinning_thread_shows_as_the_busiest() {
        let Some(before) = ThreadTimes::now() else {
            return; // not Linux
        };
        let spinner = std::thread::Builder::new().name("spinner".into()).spawn(|| {
            let started = std::time::Instant::now();
            let mut sum = 0u64;
            while started.elapsed() < Duration::from_millis(400) {
                sum = std::hint::black_box(sum.wrapping_add(1));
            }
            // Still alive when the second reading is taken.
            std::thread::sleep(Duration::from_millis(200));
        });
        let spinner = spinner.unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let used = ThreadTimes::now().unwrap().since(&before);
        spinner.join().unwrap();
        // 400 ms of spinning; other tests may share the cores, so ask for an eighth of it.
        assert!(used.busiest() >= Duration::from_millis(50), "{used:?}");
        assert!(used.total() >= used.busiest(), "{used:?}");
        let spun = used.threads.iter().find(|(name, _)| name == "spinner");
        assert!(
            spun.is_some_and(|(_, time)| *time >= Duration::from_millis(50)),
            "{used:?}"
        );
    }
}
