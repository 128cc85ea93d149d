//! CancerNet's depthwise 3x3 convolution ('same' padding, stride 1, no bias) as a burn backend
//! extension, so that training on the CPU does not pay for burn's generic grouped-convolution
//! backward pass: its weight gradient runs one small convolution per channel and its input
//! gradient goes through a general transposed convolution.
//!
//! Forward: [`forward_f32`], one pass per output row over a zero-bordered copy of the plane.
//! Backward:
//! - input gradient: the same depthwise convolution of the output gradient with each filter
//!   rotated by 180 degrees, so it reuses the forward kernel;
//! - weight gradient: nine dot products per channel between the output gradient and the shifted
//!   input, summed over the batch ([`weight_gradient_f32`]), one channel per rayon task.
//!
//! These are flex's kernels; burn's cubecl backend (a GPU) has its own in depthwise_gpu.rs.
//! Other backends, and tensors other than f32, take burn's convolution
//! ([`burns_convolution`], [`burns_weight_gradient`]).

use std::mem::MaybeUninit;

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::ops::ConvOptions;
use rayon::prelude::*;

use super::device::uses_cpu_kernels;
use super::gpu_layers::gpu_layers;
#[cfg(target_arch = "x86_64")]
use super::simd::Lanes;
use super::simd::with_avx2;
use super::unzeroed::written;
use super::weighted_op::{WeightedGradients, weighted_op};

/// 'same' padding, stride 1, one filter per channel.
fn depthwise_options(channels: usize) -> ConvOptions<2> {
    ConvOptions::new([1, 1], [1, 1], [1, 1], channels)
}

// `Cube` (every cubecl runtime; wgpu here) is compiled in with burn's `wgpu` feature, which this
// crate always enables, so its selector needs no condition of its own. `Fusion` records each call
// as one opaque operation of the lazy graph and runs the cubecl kernel when the graph executes.
#[backend_extension(Flex, Cube: cfg(all()), Fusion, Autodiff)]
pub trait DepthwiseConvBackend: Backend {
    /// `x [batch, channels, height, width]` convolved with `weight [channels, 1, 3, 3]`.
    #[fusion(dtype = x, shape = x)]
    fn depthwise_conv3x3(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        burns_convolution::<Self>(x, weight)
    }

    /// The gradient of the loss for the input: `output_gradient` convolved with each filter of
    /// `weight` turned by 180 degrees. One operation, where flipping the filters first would be
    /// a second for a GPU's host to record and launch.
    #[fusion(dtype = output_gradient, shape = output_gradient)]
    fn depthwise_conv3x3_input_gradient(
        output_gradient: FloatTensor<Self>,
        weight: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        burns_input_gradient::<Self>(output_gradient, weight)
    }

    /// The gradient of the loss for the weight `[channels, 1, 3, 3]`, given the convolution's
    /// input and the gradient of its output.
    #[fusion(dtype = x, shape = Shape::new([x[1], 1, 3, 3]))]
    fn depthwise_conv3x3_weight_gradient(
        x: FloatTensor<Self>,
        output_gradient: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        burns_weight_gradient::<Self>(x, output_gradient)
    }
}

/// burn's own grouped convolution for [`DepthwiseConvBackend::depthwise_conv3x3`].
pub(super) fn burns_convolution<B: Backend>(x: FloatTensor<B>, weight: FloatTensor<B>) -> FloatTensor<B> {
    let channels = x.shape().dims::<4>()[1];
    B::conv2d(x, weight, None, depthwise_options(channels))
}

/// burn's operations for [`DepthwiseConvBackend::depthwise_conv3x3_input_gradient`].
pub(super) fn burns_input_gradient<B: Backend>(
    output_gradient: FloatTensor<B>,
    weight: FloatTensor<B>,
) -> FloatTensor<B> {
    burns_convolution::<B>(output_gradient, B::float_flip(weight, &[2, 3]))
}

/// burn's own weight gradient for [`DepthwiseConvBackend::depthwise_conv3x3_weight_gradient`].
pub(super) fn burns_weight_gradient<B: Backend>(
    x: FloatTensor<B>,
    output_gradient: FloatTensor<B>,
) -> FloatTensor<B> {
    let channels = x.shape().dims::<4>()[1];
    let weight = B::float_zeros([channels, 1, 3, 3].into(), &x.device(), x.dtype().into());
    B::conv2d_weight_backward(x, weight, output_gradient, depthwise_options(channels))
}

impl DepthwiseConvBackend for Flex {
    fn depthwise_conv3x3(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
        if x.dtype() != DType::F32 || weight.dtype() != DType::F32 {
            return burns_convolution::<Self>(x, weight);
        }
        let dims: [usize; 4] = x.shape().dims();
        let x = x.to_contiguous();
        let weight = weight.to_contiguous();
        let (Some(x_values), Some(weight_values)) = (x.as_slice::<f32>(), weight.as_slice::<f32>()) else {
            unreachable!("contiguous f32 tensors have a slice view");
        };
        FlexTensor::from_data(TensorData::new(forward_f32(x_values, weight_values, dims), dims))
    }

    fn depthwise_conv3x3_input_gradient(output_gradient: FlexTensor, weight: FlexTensor) -> FlexTensor {
        if output_gradient.dtype() != DType::F32 || weight.dtype() != DType::F32 {
            return burns_input_gradient::<Self>(output_gradient, weight);
        }
        let weight = weight.to_contiguous();
        let Some(taps) = weight.as_slice::<f32>() else {
            unreachable!("contiguous f32 tensors have a slice view");
        };
        // Nine taps per channel, each filter read backwards: the filter turned by 180 degrees.
        let rotated: Vec<f32> = taps
            .chunks_exact(9)
            .flat_map(|filter| filter.iter().rev())
            .copied()
            .collect();
        let rotated = FlexTensor::from_data(TensorData::new(rotated, weight.shape()));
        Self::depthwise_conv3x3(output_gradient, rotated)
    }

    fn depthwise_conv3x3_weight_gradient(x: FlexTensor, output_gradient: FlexTensor) -> FlexTensor {
        if x.dtype() != DType::F32 || output_gradient.dtype() != DType::F32 {
            return burns_weight_gradient::<Self>(x, output_gradient);
        }
        let dims: [usize; 4] = x.shape().dims();
        let x = x.to_contiguous();
        let output_gradient = output_gradient.to_contiguous();
        let (Some(x_values), Some(gradient_values)) =
            (x.as_slice::<f32>(), output_gradient.as_slice::<f32>())
        else {
            unreachable!("contiguous f32 tensors have a slice view");
        };
        let weight_gradient = weight_gradient_f32(x_values, gradient_values, dims);
        FlexTensor::from_data(TensorData::new(weight_gradient, [dims[1], 1, 3, 3]))
    }
}

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

/// `conv.forward(x)` for CancerNet's depthwise 3x3 'same' convolution without bias
/// (`x [batch, channels, height, width]`, `conv.weight [channels, 1, 3, 3]`): our kernels on the
/// CPU and on a GPU (see depthwise_gpu.rs), burn's convolution on a GPU when
/// [`DEPTHWISE_VARIABLE`](super::gpu_layers::DEPTHWISE_VARIABLE) says `burn`.
pub fn depthwise_conv3x3(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if !uses_cpu_kernels(&x.device()) && gpu_layers().burns_depthwise {
        return conv.forward(x);
    }
    Tensor::from_dispatch(Dispatch::depthwise_conv3x3(
        x.into_dispatch(),
        conv.weight.val().into_dispatch(),
    ))
}

fn assert_matches_shape(x: &[f32], dims: [usize; 4]) {
    let expected: usize = dims.iter().product();
    assert_eq!(
        x.len(),
        expected,
        "input of {} values does not match its shape {dims:?}",
        x.len()
    );
}

/// The depthwise 3x3 'same' convolution of `x` (`dims`) with `weight [channels, 1, 3, 3]`.
///
/// Each plane is copied into a zero-bordered buffer (rows of `width + 2`), so every output row
/// is nine multiply-adds per element over three bordered rows with no bounds to check: one
/// store per output element (burn's flex kernel goes over each output row nine times).
pub fn forward_f32(x: &[f32], weight: &[f32], dims: [usize; 4]) -> Vec<f32> {
    let [_, channels, height, width] = dims;
    let plane = height * width;
    assert_matches_shape(x, dims);
    assert_eq!(weight.len(), channels * 9, "weight is not [channels, 1, 3, 3]");
    if plane == 0 {
        return Vec::new();
    }
    let stride = width + 2;
    let fill = |output: &mut [MaybeUninit<f32>]| {
        output
            .par_chunks_mut(plane)
            .zip(x.par_chunks(plane))
            .enumerate()
            .for_each_init(
                // The border is never written, so it stays zero from one plane to the next.
                || vec![0f32; (height + 2) * stride],
                |bordered, (index, (output, x))| {
                    for row in 0..height {
                        bordered[(row + 1) * stride + 1..][..width]
                            .copy_from_slice(&x[row * width..][..width]);
                    }
                    let channel = index % channels;
                    let taps: &[f32; 9] = weight[channel * 9..][..9].try_into().expect("nine taps");
                    convolve_plane(output, bordered, taps, width);
                },
            );
    };
    // SAFETY: the planes cover the output, and `convolve_plane` writes every value of its plane.
    unsafe { written(x.len(), fill) }
}

with_avx2! {
    /// One output plane from its bordered input, with the widest vectors the CPU has: every
    /// value of `output` written.
    fn convolve_plane(output: &mut [MaybeUninit<f32>], bordered: &[f32], taps: &[f32; 9], width: usize)
        => convolve_plane_portable, avx2: convolve_plane_avx2
}

/// [`convolve_plane_portable`] eight columns at a time. A row whose width is not a multiple of
/// eight ends with the last eight columns, computing a few again (to the same values), where the
/// compiler's version goes one column at a time (CancerNet's 12x12 planes: a third of each row).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn convolve_plane_avx2(output: &mut [MaybeUninit<f32>], bordered: &[f32], taps: &[f32; 9], width: usize) {
    if width < LANES {
        return convolve_plane_portable(output, bordered, taps, width);
    }
    let stride = width + 2;
    let mut tap = [Lanes::zero(); 9];
    for (lanes, &value) in tap.iter_mut().zip(taps) {
        *lanes = Lanes::splat(value);
    }
    for (row, output) in output.chunks_exact_mut(width).enumerate() {
        let rows = [
            &bordered[row * stride..][..stride],
            &bordered[(row + 1) * stride..][..stride],
            &bordered[(row + 2) * stride..][..stride],
        ];
        let mut column = 0;
        loop {
            let start = column.min(width - LANES);
            // The portable sum's order: row by row, left to right.
            let mut sum = tap[0].mul(Lanes::load(&rows[0][start..]));
            for (index, row) in rows.iter().enumerate() {
                for shift in 0..3 {
                    if index + shift > 0 {
                        sum = sum.add(tap[index * 3 + shift].mul(Lanes::load(&row[start + shift..])));
                    }
                }
            }
            sum.store_into(&mut output[start..]);
            if start == width - LANES {
                break;
            }
            column += LANES;
        }
    }
}

#[inline(always)]
fn convolve_plane_portable(output: &mut [MaybeUninit<f32>], bordered: &[f32], taps: &[f32; 9], width: usize) {
    let stride = width + 2;
    for (row, output) in output.chunks_exact_mut(width).enumerate() {
        let top = &bordered[row * stride..][..stride];
        let middle = &bordered[(row + 1) * stride..][..stride];
        let bottom = &bordered[(row + 2) * stride..][..stride];
        for (column, out) in output.iter_mut().enumerate() {
            out.write(
                taps[0] * top[column]
                    + taps[1] * top[column + 1]
                    + taps[2] * top[column + 2]
                    + taps[3] * middle[column]
                    + taps[4] * middle[column + 1]
                    + taps[5] * middle[column + 2]
                    + taps[6] * bottom[column]
                    + taps[7] * bottom[column + 1]
                    + taps[8] * bottom[column + 2],
            );
        }
    }
}

/// Lanes summed side by side: enough independent sums for the compiler to keep them in vector
/// registers (floating-point addition is not reassociated on its own).
const LANES: usize = 8;

/// `dW[c, kh, kw] = sum over b, h, w of dY[b, c, h, w] * X[b, c, h + kh - 1, w + kw - 1]` (zero
/// outside the image), for `x` and `output_gradient` of shape `dims`, both contiguous.
///
/// Each plane is copied once into a zero-bordered buffer with rows of `width + 2`, and the output
/// gradient into rows of the same stride whose two extra columns are zero. Then every (kh, kw) is
/// one long dot product between the gradient and the bordered input shifted by
/// `kh * (width + 2) + kw`: the zero columns cancel the terms that would wrap into the next row,
/// so there are no bounds inside the loop.
pub fn weight_gradient_f32(x: &[f32], output_gradient: &[f32], dims: [usize; 4]) -> Vec<f32> {
    let [batch, channels, height, width] = dims;
    let plane = height * width;
    assert_matches_shape(x, dims);
    assert_eq!(
        output_gradient.len(),
        x.len(),
        "output gradient does not match the input"
    );
    let stride = width + 2;
    let span = height * stride;
    (0..channels)
        .into_par_iter()
        .flat_map_iter(|channel| {
            // Two spare zeros at the end: the (2, 2) shift reads two past the last bordered row.
            let mut bordered = vec![0f32; (height + 2) * stride + 2];
            let mut gradient = vec![0f32; span];
            let mut sums = [0f32; 9];
            for item in 0..batch {
                let start = (item * channels + channel) * plane;
                let x_plane = &x[start..start + plane];
                let gradient_plane = &output_gradient[start..start + plane];
                for row in 0..height {
                    let source = row * width..(row + 1) * width;
                    bordered[(row + 1) * stride + 1..][..width].copy_from_slice(&x_plane[source.clone()]);
                    gradient[row * stride..][..width].copy_from_slice(&gradient_plane[source]);
                }
                for kh in 0..3 {
                    let shifted = &bordered[kh * stride..];
                    let [a, b, c] = three_shifted_dots(&gradient, shifted);
                    sums[kh * 3] += a;
                    sums[kh * 3 + 1] += b;
                    sums[kh * 3 + 2] += c;
                }
            }
            sums
        })
        .collect()
}

with_avx2! {
    /// `[sum g[i] * s[i], sum g[i] * s[i + 1], sum g[i] * s[i + 2]]` over `i < g.len()`.
    fn three_shifted_dots(g: &[f32], s: &[f32]) -> [f32; 3] => three_shifted_dots_portable,
        avx2: three_shifted_dots_avx2
}

/// [`three_shifted_dots_portable`] with its eight lanes in one register.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn three_shifted_dots_avx2(g: &[f32], s: &[f32]) -> [f32; 3] {
    let n = g.len();
    let s = &s[..n + 2];
    let mut lanes = [Lanes::zero(); 3];
    let whole = n - n % LANES;
    for start in (0..whole).step_by(LANES) {
        let g = Lanes::load(&g[start..]);
        for (shift, sum) in lanes.iter_mut().enumerate() {
            *sum = sum.add(g.mul(Lanes::load(&s[start + shift..])));
        }
    }
    let mut sums = [lanes[0].sum(), lanes[1].sum(), lanes[2].sum()];
    three_shifted_dots_tail(&mut sums, g, s, whole);
    sums
}

/// Adds the terms from `g[start..]` on, one at a time.
#[inline(always)]
fn three_shifted_dots_tail(sums: &mut [f32; 3], g: &[f32], s: &[f32], start: usize) {
    for i in start..g.len() {
        sums[0] += g[i] * s[i];
        sums[1] += g[i] * s[i + 1];
        sums[2] += g[i] * s[i + 2];
    }
}

#[inline(always)]
fn three_shifted_dots_portable(g: &[f32], s: &[f32]) -> [f32; 3] {
    let n = g.len();
    let s = &s[..n + 2];
    let mut lanes = [[0f32; LANES]; 3];
    let whole = n - n % LANES;
    for start in (0..whole).step_by(LANES) {
        let g = &g[start..start + LANES];
        let s = &s[start..start + LANES + 2];
        for lane in 0..LANES {
            lanes[0][lane] += g[lane] * s[lane];
            lanes[1][lane] += g[lane] * s[lane + 1];
            lanes[2][lane] += g[lane] * s[lane + 2];
        }
    }
    let mut sums = lanes.map(|lane| lane.iter().sum::<f32>());
    three_shifted_dots_tail(&mut sums, g, s, whole);
    sums
}

#[cfg(test)]
mod tests {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;

    use super::*;

    fn max_difference(a: Tensor<4>, b: Tensor<4>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_avx2_kernels_give_the_portable_numbers_bit_for_bit() {
        use crate::model::simd::{has_avx2, test_values};
        use crate::model::unzeroed::as_output;
        if !has_avx2() {
            eprintln!("no AVX2 on this CPU: only the portable kernels run");
            return;
        }
        // CancerNet's sides (48, 24, 12: 12 ends with an overlapping vector), others around the
        // vector width, and one too narrow for a vector.
        for (seed, (width, height)) in [(48, 3), (24, 2), (12, 4), (8, 2), (9, 3), (17, 2), (5, 3)]
            .into_iter()
            .enumerate()
        {
            let bordered = test_values((height + 2) * (width + 2), seed as u64);
            let taps: [f32; 9] = test_values(9, 100 + seed as u64).try_into().unwrap();
            let (mut portable, mut avx2) = (vec![f32::NAN; width * height], vec![f32::NAN; width * height]);
            convolve_plane_portable(as_output(&mut portable), &bordered, &taps, width);
            // SAFETY: the CPU has AVX2 (checked above).
            unsafe { convolve_plane_avx2(as_output(&mut avx2), &bordered, &taps, width) };
            assert!(
                avx2.iter().all(|value| !value.is_nan()),
                "every value written, width {width}"
            );
            let bits = |values: &[f32]| values.iter().map(|value| value.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&portable), bits(&avx2), "convolution, width {width}");
        }
        for length in 0..40 {
            let g = test_values(length, length as u64);
            let s = test_values(length + 2, 1000 + length as u64);
            // SAFETY: as above.
            let avx2 = unsafe { three_shifted_dots_avx2(&g, &s) };
            let portable = three_shifted_dots_portable(&g, &s);
            assert_eq!(
                portable.map(f32::to_bits),
                avx2.map(f32::to_bits),
                "dots, length {length}"
            );
        }
    }

    #[test]
    fn is_burns_depthwise_convolution_forward_and_backward() {
        let device = Device::flex().autodiff();
        let [batch, channels, height, width] = [3, 5, 7, 6];
        let conv = Conv2dConfig::new([channels, channels], [3, 3])
            .with_groups(channels)
            .with_padding(PaddingConfig2d::Same)
            .with_bias(false)
            .init(&device);
        let values: Vec<f32> = (0..batch * channels * height * width)
            .map(|i| ((i * 37) % 23) as f32 / 11.0 - 1.0)
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(values, [batch, channels, height, width]), &device)
            .require_grad();
        let output_weights = Tensor::<4>::from_data(
            TensorData::new(
                (0..batch * channels * height * width)
                    .map(|i| ((i * 53) % 17) as f32 / 8.0 - 1.0)
                    .collect::<Vec<f32>>(),
                [batch, channels, height, width],
            ),
            &device,
        );
        assert!(uses_cpu_kernels(&device));
        let ours = depthwise_conv3x3(&conv, x.clone());
        let burns = conv.forward(x.clone());
        assert!(max_difference(ours.clone(), burns.clone()) < 1e-5);

        let our_gradients = (ours * output_weights.clone()).sum().backward();
        let burn_gradients = (burns * output_weights).sum().backward();
        let input_difference =
            max_difference(x.grad(&our_gradients).unwrap(), x.grad(&burn_gradients).unwrap());
        let weight = conv.weight.val();
        let weight_difference = max_difference(
            weight.grad(&our_gradients).unwrap(),
            weight.grad(&burn_gradients).unwrap(),
        );
        assert!(
            input_difference < 1e-4 && weight_difference < 1e-4,
            "input gradients differ by {input_difference}, weight gradients by {weight_difference}"
        );
    }

    #[test]
    fn weight_gradient_counts_only_pixels_inside_the_image() {
        // All-ones input and output gradient on a 4x5 image: each filter tap sees as many
        // products as there are output pixels whose shifted input pixel is inside the image.
        let [batch, channels, height, width] = [2, 1, 4, 5];
        let ones = vec![1f32; batch * channels * height * width];
        let gradient = weight_gradient_f32(&ones, &ones, [batch, channels, height, width]);
        let rows = |kh: usize| if kh == 1 { height } else { height - 1 };
        let columns = |kw: usize| if kw == 1 { width } else { width - 1 };
        let expected: Vec<f32> = (0..9)
            .map(|k| (batch * rows(k / 3) * columns(k % 3)) as f32)
            .collect();
        assert_eq!(gradient, expected);
    }
}
