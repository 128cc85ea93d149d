//! One piece of background work whose result the UI picks up when it is ready, on poll-promise.
//! The work runs under `catch_unwind`: a worker that dies is a failure the UI shows, never a
//! panic of the UI thread (poll-promise panics when a promise's sender goes away unsent).

use poll_promise::Promise;

pub struct Task<T: Send + 'static> {
    promise: Promise<Result<T, String>>,
}

/// What a task slot has to say this frame.
pub enum Finished<T> {
    /// Still working, or no task.
    NotYet,
    Done(T),
    /// The worker panicked (or could not start); the message says why.
    Failed(String),
}

impl<T: Send + 'static> Task<T> {
    /// Runs `work` on a thread named `name`, then repaints `ctx` so the UI sees the result.
    pub fn spawn(name: &str, ctx: &egui::Context, work: impl FnOnce() -> T + Send + 'static) -> Self {
        let (sender, promise) = Promise::new();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new().name(name.into()).spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                .map_err(|panic| crate::training::panic_message(&panic));
            sender.send(outcome);
            ctx.request_repaint();
        });
        match spawned {
            Ok(_) => Self { promise },
            // The unsent promise is dropped unpolled, which is allowed.
            Err(err) => Self {
                promise: Promise::from_ready(Err(format!("could not start the {name} thread: {err}"))),
            },
        }
    }
}

/// Takes the result of the task in `slot` once it has ended, emptying the slot.
pub fn take_finished<T: Send + 'static>(slot: &mut Option<Task<T>>) -> Finished<T> {
    let Some(task) = slot.take() else {
        return Finished::NotYet;
    };
    match task.promise.try_take() {
        Ok(Ok(value)) => Finished::Done(value),
        Ok(Err(why)) => Finished::Failed(why),
        Err(promise) => {
            *slot = Some(Task { promise });
            Finished::NotYet
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait<T: Send + 'static>(mut slot: Option<Task<T>>) -> Finished<T> {
        let start = std::time::Instant::now();
        loop {
            match take_finished(&mut slot) {
                Finished::NotYet => {
                    assert!(start.elapsed().as_secs() < 10);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                ended => return ended,
            }
        }
    }

    #[test]
    fn a_result_is_taken_once() {
        let ctx = egui::Context::default();
        let ended = wait(Some(Task::spawn("idc-test", &ctx, || 42)));
        assert!(matches!(ended, Finished::Done(42)));
        assert!(matches!(take_finished::<u8>(&mut None), Finished::NotYet));
    }

    #[test]
    fn a_worker_that_panics_is_a_failure_not_a_panic_here() {
        let ctx = egui::Context::default();
        let ended = wait(Some(Task::spawn("idc-test", &ctx, || -> u8 {
            panic!("the disk vanished")
        })));
        assert!(matches!(ended, Finished::Failed(why) if why.contains("the disk vanished")));
    }
}
