//! The depthwise convolution's backward step: the input's gradient needs the weight and the
//! weight's the input (`ops::backward`'s weighted operation).

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;

use super::DepthwiseConvBackend;
use crate::ops::backward::{WeightedGradients, weighted_op};

impl<B: DepthwiseConvBackend, C: CheckpointStrategy> DepthwiseConvBackend for Autodiff<B, C> {
    fn depthwise_conv3x3(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        let gradients = WeightedGradients {
            // The same convolution of the output's gradient with each filter rotated by 180°.
            input: |weight, output_gradient| B::depthwise_conv3x3_input_gradient(output_gradient, weight),
            weight: B::depthwise_conv3x3_weight_gradient,
        };
        weighted_op::<B, C>(x, weight, B::depthwise_conv3x3, gradients)
    }
}
