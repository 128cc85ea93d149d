//! CancerNet (PyImageSearch): three stages of depthwise-separable 3x3 convolutions, each
//! followed by ReLU then batch norm, max pooling and dropout, then a 256-unit dense layer.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

use crate::ops::dense::dense_product;
use crate::ops::depthwise::depthwise_conv3x3;
use crate::ops::dropout::dropout;
use crate::ops::max_pool::max_pool_2x2;
use crate::ops::pointwise::pointwise_conv;
use crate::ops::relu_batch_norm::relu_batch_norm_after_bias;

/// The model sees patches resized to 48x48 RGB.
pub const INPUT_SIDE: usize = 48;
pub const INPUT_CHANNELS: usize = 3;
pub const NUM_CLASSES: usize = 2;

/// Output channels of the separable convolutions, one entry per convolution, grouped by stage.
const STAGES: [&[usize]; 3] = [&[32], &[64, 64], &[128, 128, 128]];
const CONV_DROPOUT: f64 = 0.25;
/// Units of the dense layer, the size of [`CancerNet::embedding`].
pub const DENSE_UNITS: usize = 256;
const DENSE_DROPOUT: f64 = 0.5;

/// Batch normalisation's two constants. A saved model file holds only tensors, so a run records
/// these beside it (`RunInfo`) and its model is rebuilt with them.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BatchNormSettings {
    /// Added to the variance before its square root.
    pub epsilon: f64,
    /// The share of a batch's statistics in the running ones (burn's convention: Keras's
    /// momentum is one minus this).
    pub momentum: f64,
}

impl BatchNormSettings {
    /// The model's: Keras's epsilon, as the reference recipe has it, and burn's momentum. With
    /// burn's epsilon (1e-5), a unit that is zero in every training batch (its running variance
    /// decays toward 0) is scaled by up to 316 at inference, where some input reaches it: one
    /// demo epoch on the CPU ended with validation accuracy 0.53 and 0.80 at two of five seeds,
    /// against 0.96 and 0.84 with 1e-3, whose test ROC AUC was 0.983-0.993 at all five (burn's
    /// 0.564-0.984). Keras's momentum as well (0.01 here) lagged so far behind one epoch's
    /// training that validation accuracy was 0.68-0.74 at every seed.
    pub const MODEL: Self = Self {
        epsilon: 1e-3,
        momentum: 0.1,
    };

    /// burn's defaults, which the model had before the settings were recorded with a run: a run
    /// whose info does not name its settings was trained with these.
    pub const BURN_DEFAULTS: Self = Self {
        epsilon: 1e-5,
        momentum: 0.1,
    };

    /// For serde: the settings of a run saved before they were recorded.
    pub fn of_older_runs() -> Self {
        Self::BURN_DEFAULTS
    }

    /// What is wrong with constants read from a run's settings: an epsilon that is not a small
    /// positive number divides by zero, a momentum outside 0..=1 makes the running statistics
    /// diverge.
    pub fn validate(&self) -> Result<(), BatchNormError> {
        if !(self.epsilon.is_finite() && self.epsilon > 0.0 && self.epsilon < 1.0) {
            return Err(BatchNormError::Epsilon(self.epsilon));
        }
        if !(0.0..=1.0).contains(&self.momentum) {
            return Err(BatchNormError::Momentum(self.momentum));
        }
        Ok(())
    }

    fn layer(&self, channels: usize, device: &Device) -> BatchNorm {
        BatchNormConfig::new(channels)
            .with_epsilon(self.epsilon)
            .with_momentum(self.momentum)
            .init(device)
    }
}

/// What is wrong with batch-norm constants read from a run's settings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BatchNormError {
    #[error("batch-norm epsilon {0} must be a small positive number")]
    Epsilon(f64),
    #[error("batch-norm momentum {0} must be between 0 and 1")]
    Momentum(f64),
}

impl Default for BatchNormSettings {
    fn default() -> Self {
        Self::MODEL
    }
}

/// Depthwise 3x3 (one filter per channel, no bias) then pointwise 1x1 (with bias), as Keras's
/// SeparableConv2D.
#[derive(Module, Debug)]
pub struct SeparableConv {
    depthwise: Conv2d,
    pointwise: Conv2d,
}

impl SeparableConv {
    fn new(channels_in: usize, channels_out: usize, device: &Device) -> Self {
        Self {
            depthwise: Conv2dConfig::new([channels_in, channels_in], [3, 3])
                .with_groups(channels_in)
                .with_padding(PaddingConfig2d::Same)
                .with_bias(false)
                .init(device),
            pointwise: Conv2dConfig::new([channels_in, channels_out], [1, 1]).init(device),
        }
    }

    /// The depthwise then the 1x1 convolution, but for the 1x1's bias ([`Self::bias`]), which the
    /// ReLU + batch norm after it adds in its own pass.
    fn forward_before_bias(&self, input: Tensor<4>) -> Tensor<4> {
        pointwise_conv(&self.pointwise, depthwise_conv3x3(&self.depthwise, input))
    }

    fn bias(&self) -> Tensor<1> {
        bias_of(&self.pointwise.bias)
    }
}

/// A layer's bias, which CancerNet's convolutions and dense layer all have.
fn bias_of(bias: &Option<burn::module::Param<Tensor<1>>>) -> Tensor<1> {
    bias.as_ref()
        .expect("CancerNet's 1x1 convolutions and dense layer have a bias")
        .val()
}

/// Separable convolution, ReLU, batch norm (in that order, as the reference has it).
#[derive(Module, Debug)]
pub struct ConvUnit {
    conv: SeparableConv,
    norm: BatchNorm,
}

#[derive(Module, Debug)]
pub struct Stage {
    units: Vec<ConvUnit>,
}

#[derive(Module, Debug)]
pub struct CancerNet {
    stages: Vec<Stage>,
    pool: MaxPool2d,
    conv_dropout: Dropout,
    dense: Linear,
    dense_norm: BatchNorm,
    dense_dropout: Dropout,
    classifier: Linear,
}

impl CancerNet {
    /// A freshly initialised CancerNet with the model's batch-norm settings.
    pub fn new(device: &Device) -> Self {
        Self::with_batch_norm(device, BatchNormSettings::MODEL)
    }

    pub fn with_batch_norm(device: &Device, batch_norm: BatchNormSettings) -> Self {
        let mut channels_in = INPUT_CHANNELS;
        let stages = STAGES
            .iter()
            .map(|widths| Stage {
                units: widths
                    .iter()
                    .map(|&channels_out| {
                        let unit = ConvUnit {
                            conv: SeparableConv::new(channels_in, channels_out, device),
                            norm: batch_norm.layer(channels_out, device),
                        };
                        channels_in = channels_out;
                        unit
                    })
                    .collect(),
            })
            .collect();
        let side_after_pooling = INPUT_SIDE >> STAGES.len();
        let flat = channels_in * side_after_pooling * side_after_pooling;
        Self {
            stages,
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            conv_dropout: DropoutConfig::new(CONV_DROPOUT).init(),
            dense: LinearConfig::new(flat, DENSE_UNITS).init(device),
            dense_norm: batch_norm.layer(DENSE_UNITS, device),
            dense_dropout: DropoutConfig::new(DENSE_DROPOUT).init(),
            classifier: LinearConfig::new(DENSE_UNITS, NUM_CLASSES).init(device),
        }
    }

    /// Images `[batch, 3, 48, 48]` in [0, 1] to class logits `[batch, 2]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.classifier
            .forward(dropout(&self.dense_dropout, self.embedding(images)))
    }

    /// The 256-unit dense layer's activations (after its ReLU and batch norm), what the
    /// classifier reads: an embedding of each image in which alike tissue lies close.
    pub fn embedding(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        for stage in &self.stages {
            for unit in &stage.units {
                x = relu_batch_norm_after_bias(
                    &unit.norm,
                    unit.conv.forward_before_bias(x),
                    unit.conv.bias(),
                );
            }
            x = dropout(&self.conv_dropout, max_pool_2x2(&self.pool, x));
        }
        let x: Tensor<2> = x.flatten(1, 3);
        let x = dense_product(x, self.dense.weight.val());
        relu_batch_norm_after_bias(&self.dense_norm, x, bias_of(&self.dense.bias))
    }

    /// Probability of IDC for each image: softmax of the logits, class 1.
    /// P(IDC) from embeddings [`Self::embedding`] computed (for inference: dropout is off, so
    /// this is [`Self::prob_idc`] of the same images without running the convolutions again).
    pub fn prob_idc_of_embedding(&self, embedding: Tensor<2>) -> Tensor<1> {
        let probabilities = burn::tensor::activation::softmax(self.classifier.forward(embedding), 1);
        let [batch, _] = probabilities.dims();
        probabilities.slice([0..batch, 1..2]).reshape([batch])
    }

    pub fn prob_idc(&self, images: Tensor<4>) -> Tensor<1> {
        let probabilities = burn::tensor::activation::softmax(self.forward(images), 1);
        let [batch, _] = probabilities.dims();
        probabilities.slice([0..batch, 1..2]).reshape([batch])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_the_reference_shape_and_parameter_count() {
        let device = Device::flex();
        let model = CancerNet::new(&device);
        let logits = model.forward(Tensor::zeros(
            [2, INPUT_CHANNELS, INPUT_SIDE, INPUT_SIDE],
            &device,
        ));
        assert_eq!(logits.dims(), [2, NUM_CLASSES]);
        // 1,233,533 trainable (95.7% in the 4608->256 dense layer) plus 1,600 batch-norm
        // running statistics, as Keras counts CancerNet.
        assert_eq!(model.num_params(), 1_233_533 + 1_600);
    }
}
