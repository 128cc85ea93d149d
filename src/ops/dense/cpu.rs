//! The dense layer's product on burn's flex backend (the CPU): one `gemm` call on every thread.

use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::{Flex, TensorMetadata};
use burn::prelude::*;

use super::DenseBackend;
use crate::ops::cpu_matrix::{Strided, all_f32, multiply, values};
use crate::ops::cpu_unzeroed::written_by;

/// `lhs [m, k]` times `rhs [k, n]`, one `gemm` call on every thread of the current pool. `gemm`
/// splits the output between threads, never a sum, so the result does not depend on how many
/// there are (tested).
pub(super) fn product(lhs: Strided, rhs: Strided, [m, n, k]: [usize; 3]) -> Vec<f32> {
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
