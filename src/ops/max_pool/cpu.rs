//! 2x2 max pooling on burn's flex backend (the CPU): one pass forward over pairs of rows, one
//! backward routing each gradient to its window's first maximum, each with an AVX2 twin.

use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::{Flex, TensorMetadata};
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;
use std::mem::MaybeUninit;

use super::MaxPool2x2Backend;
#[cfg(target_arch = "x86_64")]
use crate::ops::cpu_simd::Lanes;
use crate::ops::cpu_simd::with_avx2;
use crate::ops::cpu_unzeroed::written;

/// Windows per vector in the AVX2 versions.
#[cfg(target_arch = "x86_64")]
pub(super) const LANES: usize = 8;

pub(super) fn pool_options() -> ([usize; 2], [usize; 2], [usize; 2], [usize; 2], bool) {
    // kernel, stride, padding, dilation, ceil mode
    ([2, 2], [2, 2], [0, 0], [1, 1], false)
}

impl MaxPool2x2Backend for Flex {
    fn max_pool_2x2(x: FlexTensor) -> FlexTensor {
        if x.dtype() != DType::F32 {
            let (kernel, stride, padding, dilation, ceil) = pool_options();
            return Self::max_pool2d(x, kernel, stride, padding, dilation, ceil);
        }
        let dims: [usize; 4] = x.shape().dims();
        let x = x.to_contiguous();
        let values = x.as_slice::<f32>().expect("contiguous f32");
        let [batch, channels, height, width] = dims;
        FlexTensor::from_data(TensorData::new(
            forward_f32(values, dims),
            [batch, channels, height / 2, width / 2],
        ))
    }

    fn max_pool_2x2_input_gradient(x: FlexTensor, output_gradient: FlexTensor) -> FlexTensor {
        if x.dtype() != DType::F32 || output_gradient.dtype() != DType::F32 {
            let (kernel, stride, padding, dilation, ceil) = pool_options();
            let pooled = Self::max_pool2d_with_indices(
                x.clone(),
                kernel,
                stride,
                padding,
                dilation,
                ceil,
                burn::tensor::IntDType::I64,
            );
            return Self::max_pool2d_with_indices_backward(
                x,
                kernel,
                stride,
                padding,
                dilation,
                ceil,
                output_gradient,
                pooled.indices,
            )
            .x_grad;
        }
        let dims: [usize; 4] = x.shape().dims();
        let x = x.to_contiguous();
        let output_gradient = output_gradient.to_contiguous();
        let gradient = backward_f32(
            x.as_slice::<f32>().expect("contiguous f32"),
            output_gradient.as_slice::<f32>().expect("contiguous f32"),
            dims,
        );
        FlexTensor::from_data(TensorData::new(gradient, dims))
    }
}

/// Which of `[a, b, c, d]` burn's pooling picks: the first maximum, NaN above all (the GPU
/// kernels' `winner` is the same rule).
#[inline]
pub(super) fn winner(window: [f32; 4]) -> (usize, f32) {
    let mut best = (0, window[0]);
    for (index, &value) in window.iter().enumerate().skip(1) {
        if value > best.1 || value.is_nan() {
            best = (index, value);
        }
    }
    best
}

/// `if later > earlier || later.is_nan() { later } else { earlier }`: [`winner`]'s rule for two
/// values. The forward pass takes each row's pair first, then the better of the two rows: the
/// same value as [`winner`] over the four in order (a later value replaces the best so far only
/// when greater or NaN, so the first maximum of the top pair stays unless the bottom pair holds a
/// greater value or a NaN), and each step can be eight windows at a time.
#[inline(always)]
pub(super) fn first_max(earlier: f32, later: f32) -> f32 {
    if later > earlier || later.is_nan() {
        later
    } else {
        earlier
    }
}

pub(super) fn forward_f32(x: &[f32], [batch, channels, height, width]: [usize; 4]) -> Vec<f32> {
    let (out_height, out_width) = (height / 2, width / 2);
    let len = batch * channels * out_height * out_width;
    if len == 0 {
        return Vec::new();
    }
    let fill = |output: &mut [MaybeUninit<f32>]| {
        output
            .par_chunks_mut(out_height * out_width)
            .zip(x.par_chunks(height * width))
            .for_each(|(output, plane)| {
                for (row, output) in output.chunks_exact_mut(out_width).enumerate() {
                    let top = &plane[2 * row * width..][..width];
                    let bottom = &plane[(2 * row + 1) * width..][..width];
                    pool_row(output, top, bottom);
                }
            });
    };
    // SAFETY: the planes' rows cover the output, and `pool_row` writes every value of its row.
    unsafe { written(len, fill) }
}

with_avx2! {
    /// One output row from its two input rows: every value of `output` written.
    fn pool_row(output: &mut [MaybeUninit<f32>], top: &[f32], bottom: &[f32])
        => pool_row_portable, avx2: pool_row_avx2
}

#[inline(always)]
pub(super) fn pool_row_portable(output: &mut [MaybeUninit<f32>], top: &[f32], bottom: &[f32]) {
    for (column, out) in output.iter_mut().enumerate() {
        let left = 2 * column;
        out.write(first_max(
            first_max(top[left], top[left + 1]),
            first_max(bottom[left], bottom[left + 1]),
        ));
    }
}

/// [`pool_row_portable`] eight windows at a time; a row whose length is not a multiple of eight
/// ends with its last eight windows (some again, to the same values).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn pool_row_avx2(output: &mut [MaybeUninit<f32>], top: &[f32], bottom: &[f32]) {
    let windows = output.len();
    if windows < LANES {
        return pool_row_portable(output, top, bottom);
    }
    let mut column = 0;
    loop {
        let start = column.min(windows - LANES);
        let [top_left, top_right] = Lanes::deinterleave(&top[2 * start..]);
        let [bottom_left, bottom_right] = Lanes::deinterleave(&bottom[2 * start..]);
        top_left
            .first_max(top_right)
            .first_max(bottom_left.first_max(bottom_right))
            .store_into(&mut output[start..]);
        if start == windows - LANES {
            break;
        }
        column += LANES;
    }
}

pub(super) fn backward_f32(x: &[f32], output_gradient: &[f32], dims: [usize; 4]) -> Vec<f32> {
    let [_, _, height, width] = dims;
    let (out_height, out_width) = (height / 2, width / 2);
    if out_height * out_width == 0 {
        // No window: nothing reaches the input.
        return vec![0f32; x.len()];
    }
    let pooled_width = 2 * out_width;
    let fill = |gradient: &mut [MaybeUninit<f32>]| {
        gradient
            .par_chunks_mut(height * width)
            .zip(x.par_chunks(height * width))
            .zip(output_gradient.par_chunks(out_height * out_width))
            .for_each(|((gradient, plane), output_gradient)| {
                for (row, output_gradient) in output_gradient.chunks_exact(out_width).enumerate() {
                    let (top, bottom) = gradient[2 * row * width..][..2 * width].split_at_mut(width);
                    let rows = [
                        &plane[2 * row * width..][..width],
                        &plane[(2 * row + 1) * width..][..width],
                    ];
                    let (top, top_edge) = top.split_at_mut(pooled_width);
                    let (bottom, bottom_edge) = bottom.split_at_mut(pooled_width);
                    pool_row_gradient([top, bottom], rows, output_gradient);
                    // An odd width's last column is in no window.
                    top_edge.fill(MaybeUninit::new(0.0));
                    bottom_edge.fill(MaybeUninit::new(0.0));
                }
                // Nor is an odd height's last row.
                gradient[2 * out_height * width..].fill(MaybeUninit::new(0.0));
            });
    };
    // SAFETY: each plane's window rows are written in full by `pool_row_gradient`, and the
    // column and row outside every window with zeros.
    unsafe { written(x.len(), fill) }
}

with_avx2! {
    /// Two rows of the input's gradient, two values per window each (all written), from their
    /// input rows and the output row's gradient: each window's gradient goes to its [`winner`],
    /// 0 to the other three.
    fn pool_row_gradient(gradient: [&mut [MaybeUninit<f32>]; 2], rows: [&[f32]; 2], output_gradient: &[f32])
        => pool_row_gradient_portable, avx2: pool_row_gradient_avx2
}

#[inline(always)]
pub(super) fn pool_row_gradient_portable(
    [top, bottom]: [&mut [MaybeUninit<f32>]; 2],
    rows: [&[f32]; 2],
    output_gradient: &[f32],
) {
    for (column, &value) in output_gradient.iter().enumerate() {
        let left = 2 * column;
        let (index, _) = winner([rows[0][left], rows[0][left + 1], rows[1][left], rows[1][left + 1]]);
        let routed = |position: usize| if position == index { value } else { 0.0 };
        top[left].write(routed(0));
        top[left + 1].write(routed(1));
        bottom[left].write(routed(2));
        bottom[left + 1].write(routed(3));
    }
}

/// [`pool_row_gradient_portable`] eight windows at a time: the four values of each window take
/// the output's gradient where they are its winner and 0 elsewhere.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn pool_row_gradient_avx2(
    [top, bottom]: [&mut [MaybeUninit<f32>]; 2],
    rows: [&[f32]; 2],
    output_gradient: &[f32],
) {
    let windows = output_gradient.len();
    if windows < LANES {
        return pool_row_gradient_portable([top, bottom], rows, output_gradient);
    }
    let mut column = 0;
    loop {
        let start = column.min(windows - LANES);
        let [top_left, top_right] = Lanes::deinterleave(&rows[0][2 * start..]);
        let [bottom_left, bottom_right] = Lanes::deinterleave(&rows[1][2 * start..]);
        let [to_top_left, to_top_right, to_bottom_left, to_bottom_right] =
            Lanes::winner_masks([top_left, top_right, bottom_left, bottom_right]);
        let value = Lanes::load(&output_gradient[start..]);
        Lanes::interleave(
            value.and(to_top_left),
            value.and(to_top_right),
            &mut top[2 * start..],
        );
        Lanes::interleave(
            value.and(to_bottom_left),
            value.and(to_bottom_right),
            &mut bottom[2 * start..],
        );
        if start == windows - LANES {
            break;
        }
        column += LANES;
    }
}
