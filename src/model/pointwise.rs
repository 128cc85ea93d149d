//! The 1x1 ("pointwise") convolution of each separable convolution, without its bias (the ReLU +
//! batch norm after it adds that in its own pass): a matrix product per image, `weight [out, in]`
//! times `x [in, height * width]`.
//!
//! On the CPU it is a backend extension that calls the `gemm` crate itself. burn's flex matrix
//! product is the same `gemm`, but it allocates its output zeroed as bytes and then copies it into
//! a 16-byte-aligned buffer: two extra passes over every activation, forward and backward. Here
//! the product writes straight into its output, and the weight gradient is summed over the batch
//! inside `gemm`, where burn's formulation keeps one `[out, in]` product per image and adds them
//! up afterwards. On the 2-core development machine this alone took `bench --device cpu` from
//! 2,270-2,480 to 3,440-3,540 inference images/s (batch 256) and training from about 560 to
//! 580-680.
//!
//! On a GPU the product stays burn's ([`pointwise_product`] or, when `IDC_STUDIO_GPU_POINTWISE`
//! says so, [`pointwise_product_channels_last`]): the extension has no GPU kernels.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use rayon::prelude::*;

use super::device::uses_cpu_kernels;
use super::gpu_layers::gpu_layers;
use super::matrix::{Strided, all_f32, multiply, values};
use super::unzeroed::written_by;
use super::weighted_op::{WeightedGradients, weighted_op};

// CPU only: the model calls it where `uses_cpu_kernels` holds (see `pointwise_conv`).
#[backend_extension(Flex, Autodiff)]
pub trait PointwiseConvBackend: Backend {
    /// `x [batch, in, positions]` to `[batch, out, positions]` with `weight [out, in]`.
    fn pointwise_conv(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self>;

    /// The input's gradient `[batch, in, positions]`: `weight^T` times the output's gradient, per
    /// image.
    fn pointwise_conv_input_gradient(
        weight: FloatTensor<Self>,
        output_gradient: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// The weight's gradient `[out, in]`: the output's gradient times `x^T`, summed over the batch.
    fn pointwise_conv_weight_gradient(
        x: FloatTensor<Self>,
        output_gradient: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// A raw pointer that rayon's tasks may share: each task writes its own disjoint part.
#[derive(Clone, Copy)]
struct SharedOutput(*mut f32);
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
fn per_image_product(lhs: Strided, input: &[f32], [batch, m, k, positions]: [usize; 4]) -> Vec<f32> {
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
const IMAGES_PER_PARTIAL_SUM: usize = 8;

/// `sum over b of output_gradient[b] times x[b]^T`: `[out, in]`.
fn weight_gradient_f32(
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
fn burns_product(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
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

/// `conv.forward(x)` less the bias, for a 1x1 convolution `conv` (weight `[out, in, 1, 1]`) of
/// `x [batch, in, height, width]`: our product on the CPU, burn's on a GPU (see the module).
pub fn pointwise_conv(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if !uses_cpu_kernels(&x.device()) {
        return if gpu_layers().channels_last_pointwise {
            pointwise_product_channels_last(conv, x)
        } else {
            pointwise_product(conv, x)
        };
    }
    let [batch, channels_in, height, width] = x.dims();
    let [channels_out, ..] = conv.weight.val().dims();
    let weight: Tensor<2> = conv.weight.val().reshape([channels_out, channels_in]);
    let output: Tensor<3> = Tensor::from_dispatch(Dispatch::pointwise_conv(
        x.reshape([batch, channels_in, height * width]).into_dispatch(),
        weight.into_dispatch(),
    ));
    output.reshape([batch, channels_out, height, width])
}

/// A 1x1 convolution without its bias as burn's batched matrix product, `weight [out, in]` times
/// `input [batch, in, height * width]`: the same numbers as `conv.forward(input)` less the bias.
/// On burn's CPU backend forward and backward took a third to a sixth of the time of its generic
/// convolution (`idc-studio bench --layers`), with no layout copies.
pub fn pointwise_product(conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
    let [batch, channels_in, height, width] = input.dims();
    let [channels_out, ..] = conv.weight.val().dims();
    let weight: Tensor<3> = conv.weight.val().reshape([1, channels_out, channels_in]);
    let output = weight.matmul(input.reshape([batch, channels_in, height * width]));
    output.reshape([batch, channels_out, height, width])
}

/// A 1x1 convolution without its bias as one 2-D matrix product over every pixel of the batch:
/// the input turned channels-last, `[batch * height * width, in]` times `weight^T [in, out]`, and
/// back. Its weight gradient is then one matrix product too, where [`pointwise_product`]'s is one
/// per image summed over the batch; the price is two layout copies. Shown beside the model's
/// formulation by `idc-studio bench --layers`; on a GPU the model takes it when
/// `IDC_STUDIO_GPU_POINTWISE` says `channels-last` (gpu_layers.rs).
pub fn pointwise_product_channels_last(conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
    let [batch, channels_in, height, width] = input.dims();
    let [channels_out, ..] = conv.weight.val().dims();
    let weight: Tensor<2> = conv.weight.val().reshape([channels_out, channels_in]).transpose();
    let pixels: Tensor<2> = input
        .permute([0, 2, 3, 1])
        .reshape([batch * height * width, channels_in]);
    pixels
        .matmul(weight)
        .reshape([batch, height, width, channels_out])
        .permute([0, 3, 1, 2])
}

#[cfg(test)]
mod tests {
    use burn::nn::conv::Conv2dConfig;

    use super::*;
    use crate::model::relu_batch_norm::per_channel;

    type Formulation = fn(&Conv2d, Tensor<4>) -> Tensor<4>;

    #[test]
    fn every_formulation_with_the_bias_is_the_convolution() {
        // Batches below and above the threads and the partial sums' size, and sides where the
        // product's shape is not a multiple of gemm's blocks.
        for (formulation, batch) in [
            (pointwise_conv as Formulation, 1),
            (pointwise_conv, 3),
            (pointwise_conv, 19),
            (pointwise_product, 3),
            (pointwise_product_channels_last, 3),
        ] {
            is_the_convolution(formulation, batch);
        }
    }

    fn is_the_convolution(pointwise: Formulation, batch: usize) {
        let device = Device::flex().autodiff();
        let conv = Conv2dConfig::new([5, 7], [1, 1]).init(&device);
        let shape = [batch, 5, 4, 3];
        let values: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|i| ((i * 37) % 23) as f32 / 11.0 - 1.0)
            .collect();
        let input = Tensor::<4>::from_data(TensorData::new(values, shape), &device).require_grad();
        let by_conv = conv.forward(input.clone());
        // The model adds the bias with the ReLU + batch norm after it.
        let ours = pointwise(&conv, input.clone()) + per_channel::<4>(conv.bias.as_ref().unwrap().val());
        let difference = (by_conv.clone() - ours.clone()).abs().max().into_scalar::<f32>();
        assert!(difference < 1e-5, "batch {batch}: outputs differ by {difference}");

        // And the same gradients, for the input and the weights. The output's gradient varies
        // by element, so a transposed or misplaced operand shows.
        let output_gradient = Tensor::<4>::from_data(
            TensorData::new(
                (0..batch * 7 * 12)
                    .map(|i| ((i * 13) % 17) as f32 / 8.0 - 1.0)
                    .collect::<Vec<f32>>(),
                [batch, 7, 4, 3],
            ),
            &device,
        );
        let conv_gradients = (by_conv * output_gradient.clone()).sum().backward();
        let our_gradients = (ours * output_gradient).sum().backward();
        let input_difference = (input.grad(&conv_gradients).unwrap() - input.grad(&our_gradients).unwrap())
            .abs()
            .max()
            .into_scalar::<f32>();
        let weight = conv.weight.val();
        let weight_difference = (weight.grad(&conv_gradients).unwrap()
            - weight.grad(&our_gradients).unwrap())
        .abs()
        .max()
        .into_scalar::<f32>();
        assert!(
            input_difference < 1e-5 && weight_difference < 1e-5,
            "batch {batch}: gradients differ by {input_difference} (input), {weight_difference} (weight)"
        );
    }

    #[test]
    fn the_weight_gradient_does_not_depend_on_the_thread_count() {
        let [batch, out, inputs, positions] = [21, 6, 5, 7];
        let x: Vec<f32> = (0..batch * inputs * positions)
            .map(|i| ((i * 29) % 31) as f32 * 0.37 - 5.0)
            .collect();
        let g: Vec<f32> = (0..batch * out * positions)
            .map(|i| ((i * 7) % 19) as f32 * 0.11 - 1.0)
            .collect();
        let shape = [batch, out, inputs, positions];
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| weight_gradient_f32(&x, &g, shape))
        };
        let one = on(1);
        assert_eq!(one, on(2));
        assert_eq!(one, on(5));
        assert!(one.iter().any(|&value| value != 0.0));
    }
}
