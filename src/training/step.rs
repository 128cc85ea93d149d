//! One optimisation step of CancerNet on one batch: the unit both the trainer and the
//! benchmark time.

use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{AdaGradConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Transaction;

use super::adagrad::FusedAdaGrad;
use super::batches::HostBatch;
use super::loss::{correct_predictions, weighted_cross_entropy};
use crate::model::CancerNet;
use crate::model::cancernet::BatchNormSettings;
use crate::model::device::uses_cpu_kernels;
use crate::model::gpu_layers::{GpuAdaGrad, gpu_layers};

/// The model, its optimiser and its loss, on a training (autodiff) device.
pub struct Learner {
    pub model: CancerNet,
    pub optimizer: ModuleOptimizer,
    /// The optimiser's own AdaGrad, where its steps go six parameters to an operation (a GPU).
    grouped_steps: Option<FusedAdaGrad>,
    /// The loss's class weights, on the device without autodiff (constants of the loss).
    class_weights: Tensor<1>,
    /// burn's loss, where `IDC_STUDIO_GPU_LOSS` asks for it on a GPU (gpu_layers.rs).
    burns_loss: Option<CrossEntropyLoss>,
    learning_rate: f64,
    device: Device,
}

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
        // On the CPU the parameters are stepped one at a time, in place (adagrad.rs): grouping
        // them saves launches, which the CPU has none of.
        let gpu_adagrad = (!uses_cpu_kernels(&device)).then(|| gpu_layers().adagrad);
        let adagrad = FusedAdaGrad::new(lr_decay);
        Self {
            model: CancerNet::with_batch_norm(&device, batch_norm),
            optimizer: if gpu_adagrad == Some(GpuAdaGrad::Burn) {
                AdaGradConfig::new().with_lr_decay(lr_decay).init()
            } else {
                ModuleOptimizer::from(adagrad.clone())
            },
            grouped_steps: (gpu_adagrad == Some(GpuAdaGrad::Grouped)).then_some(adagrad),
            class_weights: Tensor::from_floats(class_weights, &device.clone().inner()),
            burns_loss: (!uses_cpu_kernels(&device) && gpu_layers().burns_loss).then(|| {
                CrossEntropyLossConfig::new()
                    .with_weights(Some(class_weights.to_vec()))
                    .init(&device)
            }),
            learning_rate,
            device,
        }
    }

    /// Forward, backward and an AdaGrad update on `batch`, then its loss and hits read back.
    /// Takes the learner by value so the optimiser can update the parameters in place.
    pub fn step(self, batch: HostBatch) -> Result<(Self, StepOutcome), String> {
        let (learner, pending) = self.step_pending(batch);
        Ok((learner, pending.read()?))
    }

    /// Forward, backward and an AdaGrad update on `batch`, leaving its loss and hits on the
    /// device. Reading them waits for the device to finish everything queued, so a GPU is kept
    /// busy by reading only every few steps (see [`ReadBackWindow`]).
    pub fn step_pending(mut self, batch: HostBatch) -> (Self, PendingOutcome) {
        let labels = batch.label_values_tensor(&self.device.clone().inner());
        let burns_labels = self
            .burns_loss
            .is_some()
            .then(|| batch.labels_tensor(&self.device));
        let (items, batch_size) = (batch.len(), batch.batch_size);
        let images = batch.into_images_tensor(&self.device);
        let logits = self.model.forward(images);
        let (loss, correct) = match &self.burns_loss {
            None => (
                weighted_cross_entropy(logits.clone(), labels.clone(), self.class_weights.clone()),
                correct_predictions(logits.inner(), labels, items),
            ),
            Some(burns) => {
                let labels = burns_labels.expect("taken with burn's loss");
                let correct = logits
                    .clone()
                    .argmax(1)
                    .reshape([batch_size])
                    .equal(labels.clone())
                    .float()
                    .slice(0..items)
                    .sum()
                    .inner();
                (burns.forward(logits, labels), correct)
            }
        };
        let pending = PendingOutcome {
            steps: vec![(loss.clone().inner(), correct, items)],
        };
        let gradients = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = match &self.grouped_steps {
            Some(adagrad) => {
                adagrad.step_in_groups(&mut self.optimizer, self.learning_rate, self.model, gradients)
            }
            None => self.optimizer.step(self.learning_rate, self.model, gradients),
        };
        (self, pending)
    }
}

/// Steps between loss read-backs on `device`. The CPU backend computes as it goes, so reading
/// every step costs nothing there; a GPU runs behind the host, and each read would drain its
/// queue, leaving it idle while the host records the next step (an H100 through wgpu, batch 32:
/// 1,985 images/s reading every step, 2,889 reading every 16).
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
    pub fn read(self) -> Result<StepOutcome, String> {
        let items = self.items();
        let transaction = self
            .steps
            .iter()
            .fold(Transaction::default(), |transaction, (loss, correct, _)| {
                transaction.register(loss.clone()).register(correct.clone())
            });
        let data = transaction
            .try_execute()
            .map_err(|err| format!("cannot read the loss back: {err:?}"))?;
        let (mut weighted_loss, mut correct) = (0.0f64, 0usize);
        for (figures, (.., step_items)) in data.chunks(2).zip(&self.steps) {
            let [loss, hits] = [&figures[0], &figures[1]].map(|figure| {
                figure
                    .as_slice::<f32>()
                    .ok()
                    .and_then(|values| values.first().copied())
                    .ok_or_else(|| format!("cannot read the loss back: {figure:?}"))
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
