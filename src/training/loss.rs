//! The training step's loss and hits as a burn backend extension: class-weighted cross-entropy
//! of the logits (one operation forward, one backward) and the count of correct predictions (one
//! operation), on the CPU (here) and on a GPU (loss_gpu.rs).
//!
//! burn's `CrossEntropyLoss` with class weights is some fifteen tensor operations forward (log
//! softmax, two gathers, reshapes, sums, a division) and as many backward, and counting the hits
//! (argmax, compare, convert, slice, sum) six more: a tenth of the operations of a CancerNet
//! training step, each recorded, fused and launched by the host, on tensors of a few hundred
//! values. The arithmetic is burn's: per item, `log-sum-exp(logits) - logits[label]` with the
//! row's maximum taken out first, weighted by its class's weight, summed, divided by the sum of
//! the weights.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::prelude::*;
use burn::tensor::DType;

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

/// A flex tensor's f32 values, contiguous.
fn values(tensor: &FlexTensor) -> Vec<f32> {
    assert_eq!(tensor.dtype(), DType::F32, "the loss takes f32 tensors");
    tensor
        .clone()
        .to_contiguous()
        .as_slice::<f32>()
        .expect("a contiguous f32 tensor has a slice view")
        .to_vec()
}

/// `[items, classes]` of a logits tensor.
pub(crate) fn items_and_classes(shape: &Shape) -> [usize; 2] {
    let dims = shape.as_slice();
    assert_eq!(dims.len(), 2, "logits are [items, classes], got {dims:?}");
    [dims[0], dims[1]]
}

/// `log(sum exp(row))`, the maximum taken out first.
fn log_sum_exp(row: &[f32]) -> f32 {
    let largest = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    largest + row.iter().map(|&value| (value - largest).exp()).sum::<f32>().ln()
}

/// A label stored as a float, as a class index.
fn class_of(label: f32) -> usize {
    label as usize
}

impl ClassifierLossBackend for Flex {
    fn weighted_cross_entropy(logits: FlexTensor, labels: FlexTensor, weights: FlexTensor) -> FlexTensor {
        let [_, classes] = items_and_classes(&logits.shape());
        let (logits, labels, weights) = (values(&logits), values(&labels), values(&weights));
        let (mut loss, mut total_weight) = (0f32, 0f32);
        for (row, &label) in logits.chunks(classes).zip(&labels) {
            let weight = weights[class_of(label)];
            loss += weight * (log_sum_exp(row) - row[class_of(label)]);
            total_weight += weight;
        }
        FlexTensor::from_data(TensorData::new(vec![loss / total_weight], [1]))
    }

    fn weighted_cross_entropy_gradient(
        logits: FlexTensor,
        labels: FlexTensor,
        weights: FlexTensor,
        loss_gradient: FlexTensor,
    ) -> FlexTensor {
        let shape = logits.shape();
        let [_, classes] = items_and_classes(&shape);
        let (logits, labels, weights) = (values(&logits), values(&labels), values(&weights));
        let total_weight: f32 = labels.iter().map(|&label| weights[class_of(label)]).sum();
        let scale = values(&loss_gradient)[0] / total_weight;
        let mut gradient = vec![0f32; logits.len()];
        for ((row, out), &label) in logits
            .chunks(classes)
            .zip(gradient.chunks_mut(classes))
            .zip(&labels)
        {
            let lse = log_sum_exp(row);
            let weight = weights[class_of(label)] * scale;
            for (class, (&logit, out)) in row.iter().zip(out.iter_mut()).enumerate() {
                let target = if class == class_of(label) { 1.0 } else { 0.0 };
                *out = weight * ((logit - lse).exp() - target);
            }
        }
        FlexTensor::from_data(TensorData::new(gradient, shape))
    }

    fn correct_predictions(logits: FlexTensor, labels: FlexTensor, items: usize) -> FlexTensor {
        let [_, classes] = items_and_classes(&logits.shape());
        let (logits, labels) = (values(&logits), values(&labels));
        let correct = logits
            .chunks(classes)
            .zip(&labels)
            .take(items)
            .filter(|(row, label)| first_largest(row) == class_of(**label))
            .count();
        FlexTensor::from_data(TensorData::new(vec![correct as f32], [1]))
    }
}

/// The index of the row's largest value, the first on a tie.
fn first_largest(row: &[f32]) -> usize {
    let mut best = 0;
    for (index, &value) in row.iter().enumerate().skip(1) {
        if value > row[best] {
            best = index;
        }
    }
    best
}

impl<B, C> ClassifierLossBackend for Autodiff<B, C>
where
    B: ClassifierLossBackend,
    C: CheckpointStrategy,
{
    fn weighted_cross_entropy(
        logits: FloatTensor<Self>,
        labels: FloatTensor<Self>,
        weights: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct CrossEntropyStep;

        impl<B: ClassifierLossBackend> Backward<B, 1> for CrossEntropyStep {
            type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_logits] = ops.parents;
                let loss_gradient = grads.consume::<B>(&ops.node);
                let (logits, labels, weights) = ops.state;
                if let Some(node) = node_logits {
                    grads.register::<B>(
                        node.id,
                        B::weighted_cross_entropy_gradient(logits, labels, weights, loss_gradient),
                    );
                }
            }
        }

        // The labels and the weights are constants of the loss.
        let (labels, weights) = (Self::inner(labels), Self::inner(weights));
        match CrossEntropyStep
            .prepare::<C>([logits.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let logits = logits.into_primitive();
                let loss = B::weighted_cross_entropy(logits.clone(), labels.clone(), weights.clone());
                prep.finish((logits, labels, weights), loss)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::weighted_cross_entropy(
                logits.into_primitive(),
                labels,
                weights,
            )),
        }
    }

    fn weighted_cross_entropy_gradient(
        logits: FloatTensor<Self>,
        labels: FloatTensor<Self>,
        weights: FloatTensor<Self>,
        loss_gradient: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::weighted_cross_entropy_gradient(
            Self::inner(logits),
            Self::inner(labels),
            Self::inner(weights),
            Self::inner(loss_gradient),
        ))
    }

    fn correct_predictions(
        logits: FloatTensor<Self>,
        labels: FloatTensor<Self>,
        items: usize,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::correct_predictions(
            Self::inner(logits),
            Self::inner(labels),
            items,
        ))
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

#[cfg(test)]
mod tests {
    use burn::nn::loss::CrossEntropyLossConfig;

    use super::*;

    #[test]
    fn is_burns_weighted_cross_entropy_and_its_gradient() {
        let device = Device::flex().autodiff();
        let plain = device.clone().inner();
        let values: Vec<f32> = (0..2 * 7).map(|i| ((i * 13) % 9) as f32 / 2.0 - 2.0).collect();
        let labels = [1i64, 0, 0, 1, 1, 0, 1];
        let logits = Tensor::<2>::from_data(TensorData::new(values, [7, 2]), &device).require_grad();
        let burns = CrossEntropyLossConfig::new()
            .with_weights(Some(vec![1.0, 2.5]))
            .init(&device)
            .forward(
                logits.clone(),
                Tensor::from_data(TensorData::new(labels.to_vec(), [7]), &device),
            );
        let float_labels = labels.map(|label| label as f32);
        let ours = weighted_cross_entropy(
            logits.clone(),
            Tensor::from_data(TensorData::new(float_labels.to_vec(), [7]), &plain),
            Tensor::from_floats([1.0, 2.5], &plain),
        );
        let difference = (ours.clone() - burns.clone()).abs().into_scalar::<f32>();
        assert!(difference < 1e-6, "losses differ by {difference}");
        // A loss scaled by 3 downstream, so the incoming gradient is not 1.
        let ours_gradient = logits.grad(&(ours * 3.0).backward()).unwrap();
        let burns_gradient = logits.grad(&(burns * 3.0).backward()).unwrap();
        let difference = (ours_gradient - burns_gradient).abs().max().into_scalar::<f32>();
        assert!(difference < 1e-6, "gradients differ by {difference}");
    }

    #[test]
    fn counts_hits_among_the_real_items_only() {
        let device = Device::flex();
        // Rows 0 and 2 right, 1 wrong, 3 a tie (the first class wins: right for label 0), row 4
        // right but padding.
        let logits = Tensor::<2>::from_floats(
            [[0.1, 0.9], [2.0, -1.0], [3.0, 1.0], [0.5, 0.5], [0.0, 1.0]],
            &device,
        );
        let labels = Tensor::<1>::from_floats([1.0, 1.0, 0.0, 0.0, 1.0], &device);
        let correct = correct_predictions(logits, labels, 4).into_scalar::<f32>();
        assert_eq!(correct, 3.0);
    }
}
