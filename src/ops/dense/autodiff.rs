//! The dense layer's backward step (`ops::backward`'s weighted operation).

use burn::backend::AutodiffBackend;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;

use super::DenseBackend;
use crate::ops::backward::{WeightedGradients, weighted_op};

impl<B: DenseBackend, C: CheckpointStrategy> DenseBackend for Autodiff<B, C> {
    fn dense_input_gradient(
        weight: FloatTensor<Self>,
        output_gradient: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::dense_input_gradient(
            Self::inner(weight),
            Self::inner(output_gradient),
        ))
    }

    fn dense_weight_gradient(x: FloatTensor<Self>, output_gradient: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::from_inner(B::dense_weight_gradient(
            Self::inner(x),
            Self::inner(output_gradient),
        ))
    }

    fn dense(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        let gradients = WeightedGradients {
            input: B::dense_input_gradient,
            weight: B::dense_weight_gradient,
        };
        weighted_op::<B, C>(x, weight, B::dense, gradients)
    }
}
