//! The loss and the hit count on burn's flex backend (the CPU): a row at a time.

use burn::backend::flex::FlexTensor;
use burn::backend::{Flex, TensorMetadata};
use burn::prelude::*;
use burn::tensor::DType;

use super::{ClassifierLossBackend, items_and_classes};

/// A flex tensor's f32 values, contiguous.
pub(super) fn values(tensor: &FlexTensor) -> Vec<f32> {
    assert_eq!(tensor.dtype(), DType::F32, "the loss takes f32 tensors");
    tensor
        .clone()
        .to_contiguous()
        .as_slice::<f32>()
        .expect("a contiguous f32 tensor has a slice view")
        .to_vec()
}

/// `log(sum exp(row))`, the maximum taken out first.
pub(super) fn log_sum_exp(row: &[f32]) -> f32 {
    let largest = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    largest + row.iter().map(|&value| (value - largest).exp()).sum::<f32>().ln()
}

/// A label stored as a float, as a class index.
pub(super) fn class_of(label: f32) -> usize {
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
pub(super) fn first_largest(row: &[f32]) -> usize {
    let mut best = 0;
    for (index, &value) in row.iter().enumerate().skip(1) {
        if value > row[best] {
            best = index;
        }
    }
    best
}
