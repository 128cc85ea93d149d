//! The 1x1 convolution on burn's flex backend (the CPU): one matrix product per image forward,
//! and for the weight's gradient partial sums over fixed groups of images, so the numbers do not
//! depend on the number of threads.

use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::{Flex, TensorMetadata};
use burn::prelude::*;
use rayon::prelude::*;

use super::PointwiseConvBackend;
use crate::ops::cpu_matrix::{Strided, all_f32, multiply, values};
use crate::ops::cpu_unzeroed::written_by;

/// A raw pointer that rayon's tasks may share: each task writes its own disjoint part.
#[derive(Clone, Copy)]
pub(super) struct SharedOutput(*mut f32);
// SAFETY: used only to hand disjoint ranges of one buffer to parallel tasks.
unsafe impl Send for SharedOutput {}
unsafe impl Sync for SharedOutput {}

impl SharedOutput {
    /// The buffer from `offset` on (a method, so that closures capture the `Sync` wrapper
    /// rather than its pointer).
    fn from(&self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// `out[b] = lhs times input[b]` for each image `b` of `input [batch, k, positions]`, with `lhs`
/// `[m, k]`: `[batch, m, positions]`. Images in parallel, each product on one thread (with
/// fewer images than threads, each product on all of them).
pub(super) fn per_image_product(
    lhs: Strided,
    input: &[f32],
    [batch, m, k, positions]: [usize; 4],
) -> Vec<f32> {
    assert_eq!(
        input.len(),
        batch * k * positions,
        "input does not match its shape"
    );
    let out_size = m * positions;
    let fill = |out| {
        let out = SharedOutput(out);
        let one = |image: usize, parallelism| {
            let rhs = Strided::row_major(&input[image * k * positions..][..k * positions], positions);
            let part = out.from(image * out_size);
            // SAFETY: image `image`'s part of the output, `out_size` values from `image *
            // out_size`, lies in the buffer and is written by this call alone.
            unsafe { multiply(part, out_size, [m, positions, k], lhs, rhs, false, parallelism) };
        };
        if batch >= rayon::current_num_threads() {
            (0..batch)
                .into_par_iter()
                .for_each(|image| one(image, gemm::Parallelism::None));
        } else {
            (0..batch).for_each(|image| one(image, gemm::Parallelism::Rayon(0)));
        }
    };
    // SAFETY: `fill` writes each image's `out_size` values, all `batch * out_size` of them.
    unsafe { written_by(batch * out_size, fill) }
}

/// Images per partial sum of the weight gradient: the partial sums are added in a fixed order,
/// so the result is the same whatever the number of threads.
pub(super) const IMAGES_PER_PARTIAL_SUM: usize = 8;

/// `sum over b of output_gradient[b] times x[b]^T`: `[out, in]`.
pub(super) fn weight_gradient_f32(
    x: &[f32],
    output_gradient: &[f32],
    [batch, out, inputs, positions]: [usize; 4],
) -> Vec<f32> {
    assert_eq!(
        x.len(),
        batch * inputs * positions,
        "input does not match its shape"
    );
    assert_eq!(
        output_gradient.len(),
        batch * out * positions,
        "gradient does not match its shape"
    );
    let size = out * inputs;
    let partial = |images: std::ops::Range<usize>, parallelism| {
        let mut sum = vec![0f32; size];
        for image in images {
            let g = Strided::row_major(
                &output_gradient[image * out * positions..][..out * positions],
                positions,
            );
            let x_t = Strided::row_major(&x[image * inputs * positions..][..inputs * positions], positions)
                .transposed();
            // SAFETY: `sum` holds `size` initialised values, and only this call uses it.
            unsafe {
                multiply(
                    sum.as_mut_ptr(),
                    size,
                    [out, inputs, positions],
                    g,
                    x_t,
                    true,
                    parallelism,
                )
            };
        }
        sum
    };
    let chunks = batch.div_ceil(IMAGES_PER_PARTIAL_SUM);
    if chunks <= 1 {
        return partial(0..batch, gemm::Parallelism::Rayon(0));
    }
    let partials: Vec<Vec<f32>> = (0..chunks)
        .into_par_iter()
        .map(|chunk| {
            let start = chunk * IMAGES_PER_PARTIAL_SUM;
            partial(
                start..(start + IMAGES_PER_PARTIAL_SUM).min(batch),
                gemm::Parallelism::None,
            )
        })
        .collect();
    let mut partials = partials.into_iter();
    let mut total = partials.next().unwrap_or_else(|| vec![0f32; size]);
    for partial in partials {
        total
            .iter_mut()
            .zip(&partial)
            .for_each(|(sum, value)| *sum += value);
    }
    total
}

/// burn's matrix product for another float type: `weight [out, in]` times `x [batch, in, p]`.
pub(super) fn burns_product(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
    let [out, inputs] = weight.shape().dims();
    Flex::float_matmul(Flex::float_reshape(weight, [1, out, inputs].into()), x)
}

impl PointwiseConvBackend for Flex {
    fn pointwise_conv(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
        if !all_f32([&x, &weight]) {
            return burns_product(x, weight);
        }
        let [batch, inputs, positions] = x.shape().dims();
        let [out, _] = weight.shape().dims();
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let output = per_image_product(
            Strided::row_major(values(&weight), inputs),
            values(&x),
            [batch, out, inputs, positions],
        );
        FlexTensor::from_data(TensorData::new(output, [batch, out, positions]))
    }

    fn pointwise_conv_input_gradient(weight: FlexTensor, output_gradient: FlexTensor) -> FlexTensor {
        if !all_f32([&weight, &output_gradient]) {
            let [out, inputs] = weight.shape().dims();
            let transposed = Flex::float_reshape(Flex::float_transpose(weight), [1, inputs, out].into());
            return Flex::float_matmul(transposed, output_gradient);
        }
        let [batch, out, positions] = output_gradient.shape().dims();
        let [_, inputs] = weight.shape().dims();
        let (weight, output_gradient) = (weight.to_contiguous(), output_gradient.to_contiguous());
        let gradient = per_image_product(
            Strided::row_major(values(&weight), inputs).transposed(),
            values(&output_gradient),
            [batch, inputs, out, positions],
        );
        FlexTensor::from_data(TensorData::new(gradient, [batch, inputs, positions]))
    }

    fn pointwise_conv_weight_gradient(x: FlexTensor, output_gradient: FlexTensor) -> FlexTensor {
        if !all_f32([&x, &output_gradient]) {
            let per_image = Flex::float_matmul(output_gradient, Flex::float_swap_dims(x, 1, 2));
            let [_, out, inputs] = per_image.shape().dims();
            return Flex::float_reshape(Flex::float_sum_dim(per_image, 0), [out, inputs].into());
        }
        let [batch, inputs, positions] = x.shape().dims();
        let [_, out, _] = output_gradient.shape().dims();
        let (x, output_gradient) = (x.to_contiguous(), output_gradient.to_contiguous());
        let gradient = weight_gradient_f32(
            values(&x),
            values(&output_gradient),
            [batch, out, inputs, positions],
        );
        FlexTensor::from_data(TensorData::new(gradient, [out, inputs]))
    }
}
