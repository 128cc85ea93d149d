//! Max pooling's backward step: the gradient goes to each window's winner, found again from the
//! saved input.

use burn::backend::AutodiffBackend;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;

use super::MaxPool2x2Backend;
use crate::ops::backward::one_input_op;

impl<B, C> MaxPool2x2Backend for Autodiff<B, C>
where
    B: MaxPool2x2Backend,
    C: CheckpointStrategy,
{
    fn max_pool_2x2_input_gradient(
        x: FloatTensor<Self>,
        output_gradient: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::max_pool_2x2_input_gradient(
            Self::inner(x),
            Self::inner(output_gradient),
        ))
    }

    fn max_pool_2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        one_input_op::<B, C, _>(x, B::max_pool_2x2, Clone::clone, B::max_pool_2x2_input_gradient)
    }
}
