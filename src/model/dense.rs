//! The dense layer's product without its bias, `x [batch, in]` times `weight [in, out]` (burn's
//! `Linear` layout; the ReLU + batch norm after it adds the bias in its own pass). CancerNet's
//! 4608 -> 256 layer holds 96% of the model's weights.
//!
//! On the CPU it is a backend extension that calls `gemm` itself (matrix.rs): each of the three
//! products (forward, the input's gradient, the weight's gradient) is one call that reads its
//! operands where they lie, transposed or not, and writes its output unzeroed. burn's product
//! (the same `gemm`) allocates every output zeroed and copies it into an aligned buffer, the
//! 4.7 MB weight gradient included. Alternated with the commit before, `bench --device cpu`
//! trained at 993-1,066 images/s against 894-1,026 (four rounds). On a GPU the product stays
//! burn's.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::prelude::*;
use burn::tensor::module::linear;

use super::device::uses_cpu_kernels;
use super::matrix::{Strided, all_f32, multiply, values};
use super::unzeroed::written_by;
use super::weighted_op::{WeightedGradients, weighted_op};

// CPU only: the model calls it where `uses_cpu_kernels` holds (see `dense_product`).
#[backend_extension(Flex, Autodiff)]
pub trait DenseBackend: Backend {
    /// `x [batch, in]` times `weight [in, out]`: `[batch, out]`.
    fn dense(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self>;

    /// The input's gradient `[batch, in]`: the output's gradient times `weight^T`.
    fn dense_input_gradient(
        weight: FloatTensor<Self>,
        output_gradient: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// The weight's gradient `[in, out]`: `x^T` times the output's gradient.
    fn dense_weight_gradient(x: FloatTensor<Self>, output_gradient: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// `lhs [m, k]` times `rhs [k, n]`, one `gemm` call on every thread of the current pool. `gemm`
/// splits the output between threads, never a sum, so the result does not depend on how many
/// there are (tested).
fn product(lhs: Strided, rhs: Strided, [m, n, k]: [usize; 3]) -> Vec<f32> {
    let fill = |out| {
        // SAFETY: `out` holds the `m * n` values `written_by` allocated, and only this call
        // uses them; without `accumulate` none is read.
        unsafe {
            multiply(
                out,
                m * n,
                [m, n, k],
                lhs,
                rhs,
                false,
                gemm::Parallelism::Rayon(0),
            )
        };
    };
    // SAFETY: `multiply` writes every one of the `m * n` values.
    unsafe { written_by(m * n, fill) }
}

impl DenseBackend for Flex {
    fn dense(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
        if !all_f32([&x, &weight]) {
            return Flex::float_matmul(x, weight);
        }
        let [batch, inputs] = x.shape().dims();
        let [_, out] = weight.shape().dims();
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let output = product(
            Strided::row_major(values(&x), inputs),
            Strided::row_major(values(&weight), out),
            [batch, out, inputs],
        );
        FlexTensor::from_data(TensorData::new(output, [batch, out]))
    }

    fn dense_input_gradient(weight: FlexTensor, output_gradient: FlexTensor) -> FlexTensor {
        if !all_f32([&weight, &output_gradient]) {
            return Flex::float_matmul(output_gradient, Flex::float_transpose(weight));
        }
        let [inputs, out] = weight.shape().dims();
        let [batch, _] = output_gradient.shape().dims();
        let (weight, output_gradient) = (weight.to_contiguous(), output_gradient.to_contiguous());
        let gradient = product(
            Strided::row_major(values(&output_gradient), out),
            Strided::row_major(values(&weight), out).transposed(),
            [batch, inputs, out],
        );
        FlexTensor::from_data(TensorData::new(gradient, [batch, inputs]))
    }

    fn dense_weight_gradient(x: FlexTensor, output_gradient: FlexTensor) -> FlexTensor {
        if !all_f32([&x, &output_gradient]) {
            return Flex::float_matmul(Flex::float_transpose(x), output_gradient);
        }
        let [batch, inputs] = x.shape().dims();
        let [_, out] = output_gradient.shape().dims();
        let (x, output_gradient) = (x.to_contiguous(), output_gradient.to_contiguous());
        let gradient = product(
            Strided::row_major(values(&x), inputs).transposed(),
            Strided::row_major(values(&output_gradient), out),
            [inputs, out, batch],
        );
        FlexTensor::from_data(TensorData::new(gradient, [inputs, out]))
    }
}

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

/// `linear(x, weight, None)`: our product on the CPU, burn's on a GPU (see the module).
pub fn dense_product(x: Tensor<2>, weight: Tensor<2>) -> Tensor<2> {
    if !uses_cpu_kernels(&x.device()) {
        return linear(x, weight, None);
    }
    Tensor::from_dispatch(Dispatch::dense(x.into_dispatch(), weight.into_dispatch()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(shape: [usize; 2], seed: usize, device: &Device) -> Tensor<2> {
        let values: Vec<f32> = (0..shape[0] * shape[1])
            .map(|i| ((i * 37 + seed * 11) % 23) as f32 / 11.0 - 1.0)
            .collect();
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    #[test]
    fn is_burns_linear_forward_and_backward() {
        let device = Device::flex().autodiff();
        // A batch of one, an odd batch, and sides that are not multiples of gemm's blocks.
        for [batch, inputs, out] in [[1, 5, 3], [7, 37, 9], [32, 300, 20]] {
            let x = tensor([batch, inputs], 1, &device).require_grad();
            let weight = tensor([inputs, out], 2, &device).require_grad();
            let upstream = tensor([batch, out], 3, &device);
            let burns = linear(x.clone(), weight.clone(), None);
            let ours = dense_product(x.clone(), weight.clone());
            let forward = (burns.clone() - ours.clone()).abs().max().into_scalar::<f32>();
            let burns_gradients = (burns * upstream.clone()).sum().backward();
            let our_gradients = (ours * upstream).sum().backward();
            let difference = |tensor: &Tensor<2>| {
                (tensor.grad(&burns_gradients).unwrap() - tensor.grad(&our_gradients).unwrap())
                    .abs()
                    .max()
                    .into_scalar::<f32>()
            };
            let (input, weight) = (difference(&x), difference(&weight));
            assert!(
                forward < 1e-5 && input < 1e-5 && weight < 1e-5,
                "[{batch}, {inputs}] x [{inputs}, {out}]: differs by {forward} (output), {input} (input \
                 gradient), {weight} (weight gradient)"
            );
        }
    }

    #[test]
    fn the_products_do_not_depend_on_the_thread_count() {
        // CancerNet's dense layer at a batch of 32.
        let [batch, inputs, out] = [32, 4608, 256];
        let values = |len: usize, step: usize| -> Vec<f32> {
            (0..len).map(|i| ((i * step) % 31) as f32 * 0.37 - 5.0).collect()
        };
        let (x, weight, g) = (
            values(batch * inputs, 29),
            values(inputs * out, 7),
            values(batch * out, 13),
        );
        let all = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    let x = Strided::row_major(&x, inputs);
                    [
                        product(x, Strided::row_major(&weight, out), [batch, out, inputs]),
                        product(
                            Strided::row_major(&g, out),
                            Strided::row_major(&weight, out).transposed(),
                            [batch, inputs, out],
                        ),
                        product(x.transposed(), Strided::row_major(&g, out), [inputs, out, batch]),
                    ]
                })
        };
        let one = all(1);
        assert_eq!(one, all(2));
        assert_eq!(one, all(5));
        assert!(one.iter().all(|values| values.iter().any(|&value| value != 0.0)));
    }
}
