//! One piece of background work whose result the UI picks up when it is ready.

use std::sync::mpsc::{Receiver, TryRecvError, channel};

pub struct Task<T> {
    result: Receiver<T>,
}

impl<T: Send + 'static> Task<T> {
    /// Runs `work` on a thread named `name`, then repaints `ctx` so the UI sees the result.
    pub fn spawn(name: &str, ctx: &egui::Context, work: impl FnOnce() -> T + Send + 'static) -> Self {
        let (sender, result) = channel();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new().name(name.into()).spawn(move || {
            let _ = sender.send(work());
            ctx.request_repaint();
        });
        if let Err(err) = spawned {
            // No thread, no result: the receiver reports the task as lost.
            eprintln!("error: could not start the {name} thread: {err}");
        }
        Self { result }
    }
}

/// What a task has to say this frame.
pub enum Poll<T> {
    Pending,
    Ready(T),
    /// The worker ended without a result (it panicked).
    Lost,
}

/// Polls the task in `slot` and empties the slot once the task has ended: `Some(Some(value))`
/// when it finished, `Some(None)` when it was lost, `None` while it runs (or with no task).
pub fn take_finished<T>(slot: &mut Option<Task<T>>) -> Option<Option<T>> {
    let ended = match slot.as_ref()?.poll() {
        Poll::Pending => return None,
        Poll::Ready(value) => Some(value),
        Poll::Lost => None,
    };
    *slot = None;
    Some(ended)
}

impl<T> Task<T> {
    pub fn poll(&self) -> Poll<T> {
        match self.result.try_recv() {
            Ok(value) => Poll::Ready(value),
            Err(TryRecvError::Empty) => Poll::Pending,
            Err(TryRecvError::Disconnected) => Poll::Lost,
        }
    }
}
