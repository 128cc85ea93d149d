//! The autodiff side of the backend-extension operations, in two shapes:
//! - one tracked input (dropout, max pooling, the loss): the backward step gets what the forward
//!   pass kept and the output's gradient, and gives the input's gradient;
//! - an input `x` and a `weight` (the depthwise, 1x1 and dense products): the input's gradient
//!   needs the weight and the weight's gradient needs the input, so both are checkpointed, and
//!   each gradient is computed only where its parent needs one.
//!
//! ReLU + batch norm, four inputs and two passes, has its own (relu_batch_norm/autodiff.rs).

use burn::backend::Backend;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;

/// How to differentiate an operation of one tracked input: the input's gradient from `S`, what
/// the forward pass kept, and the output's gradient, on the inner backend.
pub(crate) struct OneInputGradient<B: Backend, S> {
    gradient: fn(S, FloatTensor<B>) -> FloatTensor<B>,
}

impl<B: Backend, S> Clone for OneInputGradient<B, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B: Backend, S> Copy for OneInputGradient<B, S> {}

impl<B: Backend, S> std::fmt::Debug for OneInputGradient<B, S> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("OneInputGradient")
    }
}

impl<B: Backend, S> Backward<B, 1> for OneInputGradient<B, S>
where
    S: Clone + Send + std::fmt::Debug + 'static,
{
    type State = S;

    fn backward(self, ops: Ops<S, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let output_gradient = grads.consume::<B>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, (self.gradient)(ops.state, output_gradient));
        }
    }
}

/// `forward(x)` on the inner backend, recorded for autodiff. Only where `x` is tracked is
/// `keep(&x)` taken, for `gradient` to get with the output's gradient.
pub(crate) fn one_input_op<B, C, S>(
    x: FloatTensor<Autodiff<B, C>>,
    forward: impl FnOnce(FloatTensor<B>) -> FloatTensor<B>,
    keep: impl FnOnce(&FloatTensor<B>) -> S,
    gradient: fn(S, FloatTensor<B>) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>>
where
    B: Backend,
    C: CheckpointStrategy,
    S: Clone + Send + std::fmt::Debug + 'static,
{
    match (OneInputGradient { gradient })
        .prepare::<C>([x.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let x = x.into_primitive();
            let kept = keep(&x);
            prep.finish(kept, forward(x))
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x.into_primitive())),
    }
}

/// `(first operand, output's gradient) -> gradient`, on the inner backend.
pub(crate) type GradientFn<B> = fn(FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>;

/// How to differentiate a weighted operation.
pub(crate) struct WeightedGradients<B: Backend> {
    /// The input's gradient from the weight and the output's gradient.
    pub input: GradientFn<B>,
    /// The weight's gradient from the input and the output's gradient.
    pub weight: GradientFn<B>,
}

impl<B: Backend> Clone for WeightedGradients<B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B: Backend> Copy for WeightedGradients<B> {}

impl<B: Backend> std::fmt::Debug for WeightedGradients<B> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("WeightedGradients")
    }
}

impl<B: Backend> Backward<B, 2> for WeightedGradients<B> {
    type State = (NodeId, NodeId);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_weight] = ops.parents;
        let output_gradient = grads.consume::<B>(&ops.node);
        let (x_state, weight_state) = ops.state;
        if let Some(node) = node_weight {
            let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
            grads.register::<B>(node.id, (self.weight)(x, output_gradient.clone()));
        }
        if let Some(node) = node_x {
            let weight = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight_state);
            grads.register::<B>(node.id, (self.input)(weight, output_gradient));
        }
    }
}

/// `forward(x, weight)` on the inner backend, recorded for autodiff with `gradients`.
pub(crate) fn weighted_op<B: Backend, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    weight: FloatTensor<Autodiff<B, C>>,
    forward: GradientFn<B>,
    gradients: WeightedGradients<B>,
) -> FloatTensor<Autodiff<B, C>> {
    match gradients
        .prepare::<C>([x.node(), weight.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let x_state = prep.checkpoint(&x);
            let weight_state = prep.checkpoint(&weight);
            let output = forward(x.into_primitive(), weight.into_primitive());
            prep.finish((x_state, weight_state), output)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x.into_primitive(), weight.into_primitive())),
    }
}
