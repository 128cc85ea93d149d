//! The hyper-parameters of a training run, saved with it so it can be resumed and reproduced.

use serde::{Deserialize, Serialize};

use crate::dataset::stain::{StainAugment, StainNormalisation};
use crate::dataset::{LabelSource, SplitKind};
use crate::model::DeviceChoice;

/// The reference recipe's settings unless the user changes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// AdaGrad's decay: lr_t = lr / (1 + decay * t), t counting batches (Keras's lr / epochs).
    pub lr_decay: f64,
    pub split: SplitKind,
    pub seed: u64,
    pub device: DeviceChoice,
    /// Random rotation, zoom, shift, shear and flips on training batches.
    pub augment: bool,
    /// Random re-staining of training patches (HED jitter); runs saved before it had none.
    #[serde(default = "StainAugment::of_older_runs")]
    pub stain_augment: StainAugment,
    /// Every patient's stain mapped onto one reference before the model sees a patch, in
    /// training and in every prediction with the run's model.
    pub normalize_stain: StainNormalisation,
    /// The dataset's labels, or its readers' corrections of them.
    pub labels: LabelSource,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 40,
            batch_size: 32,
            learning_rate: 1e-2,
            lr_decay: 2.5e-4,
            split: SplitKind::Patient,
            seed: 42,
            device: DeviceChoice::Auto,
            augment: true,
            stain_augment: StainAugment::default(),
            normalize_stain: StainNormalisation::default(),
            labels: LabelSource::Dataset,
        }
    }
}

impl TrainConfig {
    /// Says what is wrong with settings a user typed, before any work starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.epochs == 0 {
            return Err(ConfigError::NoEpochs);
        }
        if self.batch_size == 0 {
            return Err(ConfigError::EmptyBatch);
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(ConfigError::LearningRate(self.learning_rate));
        }
        if !(self.lr_decay.is_finite() && self.lr_decay >= 0.0) {
            return Err(ConfigError::LearningRateDecay(self.lr_decay));
        }
        Ok(())
    }
}

/// What is wrong with training settings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("epochs must be at least 1")]
    NoEpochs,
    #[error("batch size must be at least 1")]
    EmptyBatch,
    #[error("learning rate {0} must be a positive number")]
    LearningRate(f64),
    #[error("learning-rate decay {0} must be zero or positive")]
    LearningRateDecay(f64),
}
