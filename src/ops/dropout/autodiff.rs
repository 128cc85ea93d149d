//! Dropout's backward step: the same mask applied to the output's gradient.

use burn::backend::AutodiffBackend;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;

use super::DropoutBackend;
use crate::ops::backward::one_input_op;

impl<B, C> DropoutBackend for Autodiff<B, C>
where
    B: DropoutBackend,
    C: CheckpointStrategy,
{
    fn dropout_by_hash(x: FloatTensor<Self>, seeds: FloatTensor<Self>, keep: f64) -> FloatTensor<Self> {
        let seeds = Self::inner(seeds);
        let kept_seeds = seeds.clone();
        // The gradient passes where the element was kept, scaled the same: the same operation.
        one_input_op::<B, C, _>(
            x,
            |x| B::dropout_by_hash(x, seeds, keep),
            |_| (kept_seeds, keep),
            |(seeds, keep), output_gradient| B::dropout_by_hash(output_gradient, seeds, keep),
        )
    }
}
