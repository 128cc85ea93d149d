//! The autodiff side of a backend-extension operation of an input `x` and a `weight` (the
//! depthwise and the 1x1 convolutions): the input's gradient needs the weight and the weight's
//! gradient needs the input, so both are checkpointed, and each gradient is computed only where
//! its parent needs one.

use burn::backend::Backend;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;

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
