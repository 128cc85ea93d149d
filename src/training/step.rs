//! One optimisation step of CancerNet on one batch: the unit both the trainer and the
//! benchmark time.

use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Transaction;

use super::batches::HostBatch;
use crate::model::CancerNet;
use crate::model::cancernet::BatchNormSettings;
use crate::ops::adagrad::DeviceAdaGrad;
use crate::ops::loss::ClassifierLoss;
use crate::ops::uses_cpu_kernels;

/// The model, its optimiser and its loss, on a training (autodiff) device.
pub struct Learner {
    pub model: CancerNet,
    pub optimizer: DeviceAdaGrad,
    loss: ClassifierLoss,
    learning_rate: f64,
    device: Device,
}

/// The device could not give back a step's loss (a lost GPU, a failed transfer).
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot read the loss back: {0}")]
pub struct ReadBackError(String);

/// What one step measured on its batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepOutcome {
    pub loss: f64,
    /// Correctly classified real (not padding) items.
    pub correct: usize,
}

impl Learner {
    /// A fresh CancerNet with AdaGrad and class-weighted cross-entropy on `device` (made
    /// autodiff here).
    pub fn new(
        device: &Device,
        learning_rate: f64,
        lr_decay: f64,
        class_weights: [f32; 2],
        batch_norm: BatchNormSettings,
    ) -> Self {
        let device = device.clone().autodiff();
        Self {
            model: CancerNet::with_batch_norm(&device, batch_norm),
            optimizer: DeviceAdaGrad::new(&device, lr_decay),
            loss: ClassifierLoss::new(class_weights, &device),
            learning_rate,
            device,
        }
    }

    /// Forward, backward and an AdaGrad update on `batch`, then its loss and hits read back.
    /// Takes the learner by value so the optimiser can update the parameters in place.
    pub fn step(self, batch: HostBatch) -> Result<(Self, StepOutcome), ReadBackError> {
        let (learner, pending) = self.step_pending(batch);
        Ok((learner, pending.read()?))
    }

    /// Forward, backward and an AdaGrad update on `batch`, leaving its loss and hits on the
    /// device. Reading them waits for the device to finish everything queued, so a GPU is kept
    /// busy by reading only every few steps (see [`ReadBackWindow`]).
    pub fn step_pending(mut self, batch: HostBatch) -> (Self, PendingOutcome) {
        let items = batch.len();
        let labels = batch.labels.clone();
        let images = batch.into_images_tensor(&self.device);
        let logits = self.model.forward(images);
        let (loss, correct) = self.loss.loss_and_hits(logits, &labels, items);
        let pending = PendingOutcome {
            steps: vec![(loss.clone().inner(), correct, items)],
        };
        let gradients = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optimizer.step(self.learning_rate, self.model, gradients);
        (self, pending)
    }
}

/// Steps between loss read-backs on `device`. The CPU backend computes as it goes, so reading
/// every step costs nothing there; a GPU runs behind the host, and each read would drain its
/// queue, leaving it idle while the host records the next step (figures in docs/gpu-check.md).
pub fn read_back_every(device: &Device) -> usize {
    if uses_cpu_kernels(device) {
        1
    } else {
        GPU_READ_BACK_STEPS
    }
}

/// Steps between loss read-backs on a GPU.
pub const GPU_READ_BACK_STEPS: usize = 16;

/// Gathers steps' outcomes on the device and hands them over every `every` steps.
pub struct ReadBackWindow {
    every: usize,
    pending: Option<PendingOutcome>,
}

impl ReadBackWindow {
    pub fn new(every: usize) -> Self {
        Self {
            every: every.max(1),
            pending: None,
        }
    }

    /// Adds one step; returns the gathered steps, to be read, once `every` are in or at the
    /// `last` step.
    pub fn push(&mut self, outcome: PendingOutcome, last: bool) -> Option<PendingOutcome> {
        let gathered = match self.pending.take() {
            Some(earlier) => earlier.merge(outcome),
            None => outcome,
        };
        if last || gathered.steps() >= self.every {
            Some(gathered)
        } else {
            self.pending = Some(gathered);
            None
        }
    }
}

/// The loss and hits of one or more steps, still on the device.
#[derive(Clone)]
pub struct PendingOutcome {
    /// Each step's mean loss over its real items, its hits (counted in f32, exact up to 2^24)
    /// and its real items. Kept apart and added up on the host once read: adding them on the
    /// device took three operations a step (on a GPU three launches).
    steps: Vec<(Tensor<1>, Tensor<1>, usize)>,
}

impl PendingOutcome {
    /// Both steps' figures together (nothing is read back).
    fn merge(mut self, other: PendingOutcome) -> PendingOutcome {
        self.steps.extend(other.steps);
        self
    }

    /// Steps gathered so far.
    pub fn steps(&self) -> usize {
        self.steps.len()
    }

    /// Real (not padding) items in the gathered steps.
    pub fn items(&self) -> usize {
        self.steps.iter().map(|(.., items)| items).sum()
    }

    /// Waits for the device and reads the mean loss per item and the correct count, every
    /// step's in one transfer.
    pub fn read(self) -> Result<StepOutcome, ReadBackError> {
        let items = self.items();
        let transaction = self
            .steps
            .iter()
            .fold(Transaction::default(), |transaction, (loss, correct, _)| {
                transaction.register(loss.clone()).register(correct.clone())
            });
        let data = transaction
            .try_execute()
            .map_err(|err| ReadBackError(format!("{err:?}")))?;
        let (mut weighted_loss, mut correct) = (0.0f64, 0usize);
        for (figures, (.., step_items)) in data.chunks(2).zip(&self.steps) {
            let [loss, hits] = [&figures[0], &figures[1]].map(|figure| {
                figure
                    .as_slice::<f32>()
                    .ok()
                    .and_then(|values| values.first().copied())
                    .ok_or_else(|| ReadBackError(format!("{figure:?}")))
            });
            weighted_loss += f64::from(loss?) * *step_items as f64;
            correct += hits?.max(0.0) as usize;
        }
        Ok(StepOutcome {
            loss: weighted_loss / items.max(1) as f64,
            correct,
        })
    }
}
