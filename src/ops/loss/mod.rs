//! The training step's loss and hits as a burn backend extension: class-weighted cross-entropy
//! of the logits (one operation forward, one backward) and the count of correct predictions (one
//! operation), on the CPU (here) and on a GPU (loss/gpu.rs).
//!
//! burn's `CrossEntropyLoss` with class weights is some fifteen tensor operations forward (log
//! softmax, two gathers, reshapes, sums, a division) and as many backward, and counting the hits
//! (argmax, compare, convert, slice, sum) six more: a tenth of the operations of a CancerNet
//! training step, each recorded, fused and launched by the host, on tensors of a few hundred
//! values. The arithmetic is burn's: per item, `log-sum-exp(logits) - logits[label]` with the
//! row's maximum taken out first, weighted by its class's weight, summed, divided by the sum of
//! the weights.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::prelude::*;

use crate::ops::uses_cpu_kernels;
use crate::ops::variants::gpu_variants;

mod autodiff;
mod cpu;
mod gpu;
#[cfg(test)]
mod tests;

// As model/depthwise.rs: `Cube` (wgpu) is always compiled in; `Fusion` records each call as one
// opaque operation.
#[backend_extension(Flex, Cube: cfg(all()), Fusion, Autodiff)]
pub trait ClassifierLossBackend: Backend {
    /// `[1]`: `sum_i w[y_i] * (lse(logits_i) - logits[i, y_i]) / sum_i w[y_i]` for `logits
    /// [items, classes]`, `labels [items]` (class indices as floats) and `weights [classes]`.
    #[fusion(dtype = logits, shape = Shape::new([1]))]
    fn weighted_cross_entropy(
        logits: FloatTensor<Self>,
        labels: FloatTensor<Self>,
        weights: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// The logits' gradient given the loss's (`[1]`): `g * w[y_i] / sum w * (softmax(logits_i) -
    /// onehot(y_i))`.
    #[fusion(dtype = logits, shape = logits)]
    fn weighted_cross_entropy_gradient(
        logits: FloatTensor<Self>,
        labels: FloatTensor<Self>,
        weights: FloatTensor<Self>,
        loss_gradient: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// `[1]`: how many of the first `items` rows have their largest logit (the first, on a tie)
    /// at their label. Not differentiable.
    #[fusion(dtype = logits, shape = Shape::new([1]))]
    fn correct_predictions(
        logits: FloatTensor<Self>,
        labels: FloatTensor<Self>,
        items: usize,
    ) -> FloatTensor<Self>;
}

/// `[items, classes]` of a logits tensor.
pub(crate) fn items_and_classes(shape: &Shape) -> [usize; 2] {
    let dims = shape.as_slice();
    assert_eq!(dims.len(), 2, "logits are [items, classes], got {dims:?}");
    [dims[0], dims[1]]
}

/// CancerNet's training loss, class-weighted cross-entropy, with the count of hits: ours, or
/// burn's `CrossEntropyLoss` and an argmax count where a GPU is told to take them
/// (`IDC_STUDIO_GPU_LOSS`, variants.rs).
pub struct ClassifierLoss {
    /// On the device without autodiff: constants of the loss.
    class_weights: Tensor<1>,
    burns: Option<CrossEntropyLoss>,
    device: Device,
}

impl ClassifierLoss {
    /// The loss on the training (autodiff) `device`.
    pub fn new(class_weights: [f32; 2], device: &Device) -> Self {
        Self {
            class_weights: Tensor::from_floats(class_weights, &device.clone().inner()),
            burns: (!uses_cpu_kernels(device) && gpu_variants().burns_loss).then(|| {
                CrossEntropyLossConfig::new()
                    .with_weights(Some(class_weights.to_vec()))
                    .init(device)
            }),
            device: device.clone(),
        }
    }

    /// The loss of `logits [labels, 2]` against `labels` (class indices), and how many of the
    /// first `items` rows predict their label (a float `[1]`, without autodiff).
    pub fn loss_and_hits(&self, logits: Tensor<2>, labels: &[i64], items: usize) -> (Tensor<1>, Tensor<1>) {
        let count = labels.len();
        match &self.burns {
            None => {
                let values: Vec<f32> = labels.iter().map(|&label| label as f32).collect();
                let labels =
                    Tensor::<1>::from_data(TensorData::new(values, [count]), &self.device.clone().inner());
                (
                    weighted_cross_entropy(logits.clone(), labels.clone(), self.class_weights.clone()),
                    correct_predictions(logits.inner(), labels, items),
                )
            }
            Some(burns) => {
                let labels =
                    Tensor::<1, Int>::from_data(TensorData::new(labels.to_vec(), [count]), &self.device);
                let hits = logits
                    .clone()
                    .argmax(1)
                    .reshape([count])
                    .equal(labels.clone())
                    .float()
                    .slice(0..items)
                    .sum()
                    .inner();
                (burns.forward(logits, labels), hits)
            }
        }
    }
}

/// Class-weighted cross-entropy of `logits [items, classes]` against `labels` (class indices as
/// floats, on the logits' device without autodiff), as burn's `CrossEntropyLoss` with `weights`.
pub fn weighted_cross_entropy(logits: Tensor<2>, labels: Tensor<1>, weights: Tensor<1>) -> Tensor<1> {
    Tensor::from_dispatch(Dispatch::weighted_cross_entropy(
        logits.into_dispatch(),
        labels.into_dispatch(),
        weights.into_dispatch(),
    ))
}

/// How many of the first `items` rows of `logits` predict their label (as a float `[1]`).
pub fn correct_predictions(logits: Tensor<2>, labels: Tensor<1>, items: usize) -> Tensor<1> {
    Tensor::from_dispatch(Dispatch::correct_predictions(
        logits.into_dispatch(),
        labels.into_dispatch(),
        items,
    ))
}
