//! One optimisation step of CancerNet on one batch: the unit both the trainer and the
//! benchmark time.

use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{AdaGradConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use super::batches::HostBatch;
use crate::model::CancerNet;

/// The model, its optimiser and its loss, on a training (autodiff) device.
pub struct Learner {
    pub model: CancerNet,
    pub optimizer: ModuleOptimizer,
    loss_function: CrossEntropyLoss,
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
    pub fn new(device: &Device, learning_rate: f64, lr_decay: f64, class_weights: [f32; 2]) -> Self {
        let device = device.clone().autodiff();
        Self {
            model: CancerNet::new(&device),
            optimizer: AdaGradConfig::new().with_lr_decay(lr_decay).init(),
            loss_function: CrossEntropyLossConfig::new()
                .with_weights(Some(class_weights.to_vec()))
                .init(&device),
            learning_rate,
            device,
        }
    }

    /// Forward, backward and an AdaGrad update on `batch`. Takes the learner by value so the
    /// optimiser can update the parameters in place.
    pub fn step(mut self, batch: &HostBatch) -> Result<(Self, StepOutcome), String> {
        let images = batch.images_tensor(&self.device);
        let labels = batch.labels_tensor(&self.device);
        let logits = self.model.forward(images);
        let loss = self.loss_function.forward(logits.clone(), labels.clone());
        let hits: Vec<i64> = logits
            .argmax(1)
            .reshape([batch.batch_size])
            .equal(labels)
            .int()
            .into_data()
            .try_to_vec_as::<i64>()
            .map_err(|err| format!("cannot read the predictions back: {err:?}"))?;
        let correct = hits.iter().take(batch.len()).filter(|&&hit| hit == 1).count();
        let loss_value = f64::from(loss.clone().into_scalar::<f32>());
        let gradients = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optimizer.step(self.learning_rate, self.model, gradients);
        let outcome = StepOutcome {
            loss: loss_value,
            correct,
        };
        Ok((self, outcome))
    }
}
