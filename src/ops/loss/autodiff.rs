//! The loss's backward step: the gradient for the logits, the labels and weights constants.

use burn::backend::AutodiffBackend;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;

use super::ClassifierLossBackend;
use crate::ops::backward::one_input_op;

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
        // The labels and the weights are constants of the loss.
        let (labels, weights) = (Self::inner(labels), Self::inner(weights));
        let constants = (labels.clone(), weights.clone());
        one_input_op::<B, C, _>(
            logits,
            |logits| B::weighted_cross_entropy(logits, labels, weights),
            |logits| (logits.clone(), constants.0, constants.1),
            |(logits, labels, weights), loss_gradient| {
                B::weighted_cross_entropy_gradient(logits, labels, weights, loss_gradient)
            },
        )
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
