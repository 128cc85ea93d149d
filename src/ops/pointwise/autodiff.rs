//! The 1x1 convolution's backward step (`ops::backward`'s weighted operation).

use burn::backend::AutodiffBackend;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;

use super::PointwiseConvBackend;
use crate::ops::backward::{WeightedGradients, weighted_op};

impl<B: PointwiseConvBackend, C: CheckpointStrategy> PointwiseConvBackend for Autodiff<B, C> {
    fn pointwise_conv_input_gradient(
        weight: FloatTensor<Self>,
        output_gradient: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::pointwise_conv_input_gradient(
            Self::inner(weight),
            Self::inner(output_gradient),
        ))
    }

    fn pointwise_conv_weight_gradient(
        x: FloatTensor<Self>,
        output_gradient: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::pointwise_conv_weight_gradient(
            Self::inner(x),
            Self::inner(output_gradient),
        ))
    }

    fn pointwise_conv(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        let gradients = WeightedGradients {
            input: B::pointwise_conv_input_gradient,
            weight: B::pointwise_conv_weight_gradient,
        };
        weighted_op::<B, C>(x, weight, B::pointwise_conv, gradients)
    }
}
