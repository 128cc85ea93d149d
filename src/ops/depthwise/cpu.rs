//! The depthwise 3x3 convolution on burn's flex backend (the CPU): the forward pass and the
//! input gradient share one kernel over zero-bordered planes; the weight gradient is nine
//! dot products per channel. Each loop has an AVX2 twin giving the same numbers bit for bit.

use burn::backend::flex::FlexTensor;
use burn::backend::{Flex, TensorMetadata};
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;
use std::mem::MaybeUninit;

use super::{DepthwiseConvBackend, burns_convolution, burns_input_gradient, burns_weight_gradient};
#[cfg(target_arch = "x86_64")]
use crate::ops::cpu_simd::Lanes;
use crate::ops::cpu_simd::with_avx2;
use crate::ops::cpu_unzeroed::written;

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

pub(super) fn assert_matches_shape(x: &[f32], dims: [usize; 4]) {
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
pub(super) fn convolve_plane_avx2(
    output: &mut [MaybeUninit<f32>],
    bordered: &[f32],
    taps: &[f32; 9],
    width: usize,
) {
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
pub(super) fn convolve_plane_portable(
    output: &mut [MaybeUninit<f32>],
    bordered: &[f32],
    taps: &[f32; 9],
    width: usize,
) {
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
pub(super) const LANES: usize = 8;

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
pub(super) fn three_shifted_dots_avx2(g: &[f32], s: &[f32]) -> [f32; 3] {
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
pub(super) fn three_shifted_dots_tail(sums: &mut [f32; 3], g: &[f32], s: &[f32], start: usize) {
    for i in start..g.len() {
        sums[0] += g[i] * s[i];
        sums[1] += g[i] * s[i + 1];
        sums[2] += g[i] * s[i + 2];
    }
}

#[inline(always)]
pub(super) fn three_shifted_dots_portable(g: &[f32], s: &[f32]) -> [f32; 3] {
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
