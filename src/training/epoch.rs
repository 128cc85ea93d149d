//! One epoch of training batches through the learner: the loop a training run and each fold of
//! a cross-validation share. Batches come from the batch threads in the plan's order; the loss
//! is read back every few steps (every step on the CPU), checked, and handed to the caller; a
//! stop request is honoured before the next batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::batches::{BatchPlan, prefetch_batches};
use super::step::{Learner, ReadBackWindow};
use crate::dataset::PatchStore;

/// A read-back of the loss: the steps since the last one, together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchRead {
    /// The last batch read, from 1.
    pub batch: usize,
    pub batches: usize,
    /// Mean loss per image over the steps read.
    pub loss: f64,
    pub accuracy: f64,
    /// Wall seconds per step since the last read-back.
    pub seconds_per_step: f64,
}

/// The epoch's training figures over every image it trained on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochTotals {
    pub loss: f64,
    pub accuracy: f64,
    pub images: usize,
}

/// How an epoch ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EpochEnd {
    Trained(EpochTotals),
    /// Stopped before `batch` (from 1) was trained.
    Stopped {
        batch: usize,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum EpochError {
    #[error("could not start the batch threads: {0}")]
    Threads(String),
    #[error("{0}")]
    ReadBack(String),
    #[error("the loss became {loss} in epoch {epoch}, batch {batch}; try a lower learning rate")]
    NotFinite { epoch: usize, batch: usize, loss: f64 },
    #[error("the batch thread ended after {seen} of {expected} images in epoch {epoch}")]
    ShortEpoch {
        epoch: usize,
        seen: usize,
        expected: usize,
    },
}

/// Trains `learner` on every batch of `plan` (whole batches only), reading the loss back
/// every `read_every` steps and telling `on_read` each time.
pub fn train_epoch(
    mut learner: Learner,
    epoch: usize,
    store: &Arc<PatchStore>,
    plan: BatchPlan,
    read_every: usize,
    stop: &AtomicBool,
    on_read: &mut dyn FnMut(&BatchRead),
) -> Result<(Learner, EpochEnd), EpochError> {
    let batches_per_epoch = plan.order.len() / plan.batch_size;
    let expected = batches_per_epoch * plan.batch_size;
    let batches =
        prefetch_batches(Arc::clone(store), plan).map_err(|err| EpochError::Threads(err.to_string()))?;
    let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
    let mut window = ReadBackWindow::new(read_every);
    let mut window_started = Instant::now();
    for (batch_number, batch) in (1..).zip(batches) {
        if stop.load(Ordering::SeqCst) {
            return Ok((learner, EpochEnd::Stopped { batch: batch_number }));
        }
        let outcome;
        (learner, outcome) = learner.step_pending(batch);
        let Some(gathered) = window.push(outcome, batch_number == batches_per_epoch) else {
            continue;
        };
        let (steps, items) = (gathered.steps(), gathered.items());
        let read = gathered
            .read()
            .map_err(|why| EpochError::ReadBack(why.to_string()))?;
        if !read.loss.is_finite() {
            return Err(EpochError::NotFinite {
                epoch,
                batch: batch_number,
                loss: read.loss,
            });
        }
        loss_sum += read.loss * items as f64;
        correct += read.correct;
        seen += items;
        let seconds_per_step = window_started.elapsed().as_secs_f64() / steps as f64;
        window_started = Instant::now();
        on_read(&BatchRead {
            batch: batch_number,
            batches: batches_per_epoch,
            loss: read.loss,
            accuracy: read.correct as f64 / items.max(1) as f64,
            seconds_per_step,
        });
    }
    if seen < expected {
        return Err(EpochError::ShortEpoch {
            epoch,
            seen,
            expected,
        });
    }
    let totals = EpochTotals {
        loss: loss_sum / seen.max(1) as f64,
        accuracy: correct as f64 / seen.max(1) as f64,
        images: seen,
    };
    Ok((learner, EpochEnd::Trained(totals)))
}
