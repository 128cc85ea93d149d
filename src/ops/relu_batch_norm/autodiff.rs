//! ReLU + batch norm's backward step: two outputs of the forward pass feed one backward
//! operation, which gives the input's gradient and the parameters'.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, TensorMetadata};
use burn::tensor::Slice;

use super::ReluBatchNormBackend;

/// The layer's backward step: the input's gradient and the parameters', from the saved input,
/// bias, gamma and moments.
#[derive(Debug)]
pub(super) struct ReluBatchNormStep;

/// `([x, bias, gamma, moments], epsilon, batch_statistics)`.
pub(super) type StepState<B> = ([FloatTensor<B>; 4], f64, bool);

impl<B: ReluBatchNormBackend> Backward<B, 4> for ReluBatchNormStep {
    type State = StepState<B>;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_bias, node_gamma, node_beta] = ops.parents;
        let output_gradient = grads.consume::<B>(&ops.node);
        let ([x, bias, gamma, moments], epsilon, batch_statistics) = ops.state;
        let channel_shape = gamma.shape();
        // One operation for both: where `x` needs no gradient its part is computed and dropped,
        // which no training step here does (the first layer's input comes from a convolution).
        let (x_gradient, parameter_gradients) = B::relu_batch_norm_backward(
            x,
            bias,
            gamma,
            moments,
            output_gradient,
            epsilon,
            batch_statistics,
        );
        if let Some(node) = node_x {
            grads.register::<B>(node.id, x_gradient);
        }
        let channels = channel_shape.num_elements();
        for (row, node) in [(0, node_gamma), (1, node_beta), (2, node_bias)] {
            if let Some(node) = node {
                let gradient = B::float_slice(
                    parameter_gradients.clone(),
                    &[Slice::from(row..row + 1), Slice::from(0..channels)],
                );
                grads.register::<B>(node.id, B::float_reshape(gradient, channel_shape.clone()));
            }
        }
    }
}

/// The forward pass on autodiff's inner backend, `forward(x, bias, gamma, beta) -> (output,
/// moments, more)`, recorded with [`ReluBatchNormStep`] where any of the four needs a gradient.
pub(super) fn tracked<B, C, More>(
    [x, bias, gamma, beta]: [FloatTensor<Autodiff<B, C>>; 4],
    epsilon: f64,
    batch_statistics: bool,
    forward: impl FnOnce([FloatTensor<B>; 4]) -> (FloatTensor<B>, FloatTensor<B>, More),
) -> (FloatTensor<Autodiff<B, C>>, More)
where
    B: ReluBatchNormBackend,
    C: CheckpointStrategy,
{
    match ReluBatchNormStep
        .prepare::<C>([x.node(), bias.node(), gamma.node(), beta.node()])
        // Keeps its inputs rather than recomputing them when checkpointing.
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let [x, bias, gamma] = [x, bias, gamma].map(|tensor| tensor.into_primitive());
            let (output, moments, more) =
                forward([x.clone(), bias.clone(), gamma.clone(), beta.into_primitive()]);
            let state = ([x, bias, gamma, moments], epsilon, batch_statistics);
            (prep.finish(state, output), more)
        }
        OpsKind::UnTracked(prep) => {
            let inputs = [x, bias, gamma, beta].map(|tensor| tensor.into_primitive());
            let (output, _, more) = forward(inputs);
            (prep.finish(output), more)
        }
    }
}

impl<B, C> ReluBatchNormBackend for Autodiff<B, C>
where
    B: ReluBatchNormBackend,
    C: CheckpointStrategy,
{
    fn relu_batch_norm_training(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        running_mean: FloatTensor<Self>,
        running_var: FloatTensor<Self>,
        momentum: f64,
        epsilon: f64,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        let (running_mean, running_var) = (Self::inner(running_mean), Self::inner(running_var));
        let (output, (moments, mean, var)) =
            tracked::<B, C, _>([x, bias, gamma, beta], epsilon, true, |[x, bias, gamma, beta]| {
                let (output, moments, mean, var) = B::relu_batch_norm_training(
                    x,
                    bias,
                    gamma,
                    beta,
                    running_mean,
                    running_var,
                    momentum,
                    epsilon,
                );
                (output, moments.clone(), (moments, mean, var))
            });
        (
            output,
            Self::from_inner(moments),
            Self::from_inner(mean),
            Self::from_inner(var),
        )
    }

    fn relu_batch_norm(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        moments: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let moments = Self::inner(moments);
        tracked::<B, C, _>(
            [x, bias, gamma, beta],
            epsilon,
            false,
            |[x, bias, gamma, beta]| {
                (
                    B::relu_batch_norm(x, bias, gamma, beta, moments.clone(), epsilon),
                    moments,
                    (),
                )
            },
        )
        .0
    }

    // The backward pass is not differentiated itself.
    fn relu_batch_norm_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        moments: FloatTensor<Self>,
        output_gradient: FloatTensor<Self>,
        epsilon: f64,
        batch_statistics: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (x_gradient, parameter_gradients) = B::relu_batch_norm_backward(
            Self::inner(x),
            Self::inner(bias),
            Self::inner(gamma),
            Self::inner(moments),
            Self::inner(output_gradient),
            epsilon,
            batch_statistics,
        );
        (
            Self::from_inner(x_gradient),
            Self::from_inner(parameter_gradients),
        )
    }
}
