//! ReLU + batch norm's CPU kernels: the channel moments, the normalisation and the two
//! backward passes, each with an AVX2 twin of its portable loop (bit for bit the same numbers).

use rayon::prelude::*;
use std::mem::MaybeUninit;

#[cfg(target_arch = "x86_64")]
use crate::ops::cpu_simd::Lanes;
use crate::ops::cpu_simd::with_avx2;
use crate::ops::cpu_unzeroed::written;

/// Per channel: `scale = 1 / sqrt(variance + epsilon)` and the mean.
pub(super) struct Coefficients {
    mean: Vec<f32>,
    inverse_std: Vec<f32>,
}

impl Coefficients {
    pub(super) fn new(moments: &[f32], epsilon: f64) -> Self {
        let channels = moments.len() / 2;
        let (mean, variance) = moments.split_at(channels);
        Self {
            mean: mean.to_vec(),
            inverse_std: variance
                .iter()
                .map(|&variance| (1.0 / (f64::from(variance) + epsilon).sqrt()) as f32)
                .collect(),
        }
    }
}

/// Mean and biased variance of `relu(x + bias)` per channel: `[means..., variances...]`.
pub(super) fn channel_moments(x: &[f32], bias: &[f32], [batch, channels, positions]: [usize; 3]) -> Vec<f32> {
    let count = (batch * positions) as f64;
    let sums: Vec<(f64, f64)> = (0..channels)
        .into_par_iter()
        .map(|channel| {
            let (mut sum, mut squares) = (0f64, 0f64);
            for item in 0..batch {
                let row = &x[(item * channels + channel) * positions..][..positions];
                let (row_sum, row_squares) = relu_sums(row, bias[channel]);
                sum += f64::from(row_sum);
                squares += f64::from(row_squares);
            }
            (sum, squares)
        })
        .collect();
    let means = sums.iter().map(|&(sum, _)| sum / count);
    let variances = sums
        .iter()
        .map(|&(sum, squares)| (squares / count - (sum / count).powi(2)).max(0.0));
    means.chain(variances).map(|value| value as f32).collect()
}

pub(super) const LANES: usize = 8;

with_avx2! {
    /// `(sum relu(v + bias), sum relu(v + bias)^2)` in lanes the compiler can keep in vector
    /// registers.
    fn relu_sums(row: &[f32], bias: f32) -> (f32, f32) => relu_sums_portable, avx2: relu_sums_avx2
}

/// [`relu_sums_portable`] with its lanes in registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn relu_sums_avx2(row: &[f32], bias: f32) -> (f32, f32) {
    let shift = Lanes::splat(bias);
    let (mut sums, mut squares) = (Lanes::zero(), Lanes::zero());
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        let value = Lanes::load(chunk).add(shift).relu();
        sums = sums.add(value);
        squares = squares.add(value.mul(value));
    }
    relu_sums_tail(chunks.remainder(), bias, (sums.sum(), squares.sum()))
}

/// Adds the values of `rest` one at a time.
#[inline(always)]
pub(super) fn relu_sums_tail(rest: &[f32], bias: f32, (mut sum, mut square): (f32, f32)) -> (f32, f32) {
    for &value in rest {
        let value = (value + bias).max(0.0);
        sum += value;
        square += value * value;
    }
    (sum, square)
}

#[inline(always)]
pub(super) fn relu_sums_portable(row: &[f32], bias: f32) -> (f32, f32) {
    let mut sums = [0f32; LANES];
    let mut squares = [0f32; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for lane in 0..LANES {
            let value = (chunk[lane] + bias).max(0.0);
            sums[lane] += value;
            squares[lane] += value * value;
        }
    }
    let sums = (sums.iter().sum::<f32>(), squares.iter().sum::<f32>());
    relu_sums_tail(chunks.remainder(), bias, sums)
}

/// Per channel, `scale` and `shift` such that the normalised `relu(x + bias)` is
/// `relu(x + bias) * scale + shift`.
pub(super) fn scale_and_shift(
    gamma: &[f32],
    beta: &[f32],
    coefficients: &Coefficients,
) -> (Vec<f32>, Vec<f32>) {
    let scale: Vec<f32> = gamma
        .iter()
        .zip(&coefficients.inverse_std)
        .map(|(gamma, inverse_std)| gamma * inverse_std)
        .collect();
    let shift: Vec<f32> = beta
        .iter()
        .zip(&coefficients.mean)
        .zip(&scale)
        .map(|((beta, mean), scale)| beta - mean * scale)
        .collect();
    (scale, shift)
}

/// The forward pass per channel: `y = relu(x + bias) * scale + shift`.
pub(super) struct Affine<'a> {
    pub(super) bias: &'a [f32],
    pub(super) scale: &'a [f32],
    pub(super) shift: &'a [f32],
}

impl Affine<'_> {
    fn of(&self, channel: usize) -> [f32; 3] {
        [self.bias[channel], self.scale[channel], self.shift[channel]]
    }
}

pub(super) fn normalise(x: &[f32], affine: &Affine, [_, channels, positions]: [usize; 3]) -> Vec<f32> {
    if channels * positions == 0 {
        return Vec::new();
    }
    let fill = |output: &mut [MaybeUninit<f32>]| {
        output
            .par_chunks_mut(channels * positions)
            .zip(x.par_chunks(channels * positions))
            .for_each(|(output, x)| {
                for channel in 0..channels {
                    let range = channel * positions..(channel + 1) * positions;
                    normalise_row(&mut output[range.clone()], &x[range], affine.of(channel));
                }
            });
    };
    // SAFETY: the items' channel rows cover the output, and `normalise_row` writes all of its
    // row.
    unsafe { written(x.len(), fill) }
}

/// [`normalise`] writing over its input.
pub(super) fn normalise_in_place(x: &mut [f32], affine: &Affine, [_, channels, positions]: [usize; 3]) {
    x.par_chunks_mut(channels * positions).for_each(|item| {
        for (channel, row) in item.chunks_exact_mut(positions).enumerate() {
            normalise_row_in_place(row, affine.of(channel));
        }
    });
}

with_avx2! {
    /// `x = relu(x + bias) * scale + shift` along one row.
    fn normalise_row_in_place(x: &mut [f32], affine: [f32; 3]) => normalise_row_in_place_portable
}

#[inline(always)]
pub(super) fn normalise_row_in_place_portable(x: &mut [f32], [bias, scale, shift]: [f32; 3]) {
    for value in x.iter_mut() {
        *value = (*value + bias).max(0.0) * scale + shift;
    }
}

with_avx2! {
    /// `y = relu(x + bias) * scale + shift` along one row: every value of `y` written.
    fn normalise_row(y: &mut [MaybeUninit<f32>], x: &[f32], affine: [f32; 3]) => normalise_row_portable
}

#[inline(always)]
pub(super) fn normalise_row_portable(y: &mut [MaybeUninit<f32>], x: &[f32], [bias, scale, shift]: [f32; 3]) {
    let x = &x[..y.len()];
    for index in 0..y.len() {
        y[index].write((x[index] + bias).max(0.0) * scale + shift);
    }
}

/// The input gradient per channel where `x + bias > 0` (0 elsewhere):
/// `dx = g * a + relu(x + bias) * b + c`. From `d relu = gamma * inverse_std * (g - [sum g +
/// x_hat * sum g x_hat] / count)`, the bracket only with batch statistics, and `x_hat =
/// (relu(x + bias) - mean) * inverse_std`.
pub(super) struct ChainCoefficients {
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl ChainCoefficients {
    /// `parameter_gradients` starts with gamma's and beta's rows (the bias's may follow);
    /// `count` values per channel.
    pub(super) fn new(
        gamma: &[f32],
        coefficients: &Coefficients,
        parameter_gradients: &[f32],
        count: f32,
        batch_statistics: bool,
    ) -> Self {
        let channels = gamma.len();
        let Coefficients { mean, inverse_std } = coefficients;
        let (gamma_gradient, beta_gradient) = (
            &parameter_gradients[..channels],
            &parameter_gradients[channels..2 * channels],
        );
        let mut chain = Self {
            a: vec![0f32; channels],
            b: vec![0f32; channels],
            c: vec![0f32; channels],
        };
        for channel in 0..channels {
            let a = gamma[channel] * inverse_std[channel];
            chain.a[channel] = a;
            if batch_statistics {
                let per_x_hat = gamma_gradient[channel] / count;
                chain.b[channel] = -a * per_x_hat * inverse_std[channel];
                chain.c[channel] =
                    -a * (beta_gradient[channel] / count - per_x_hat * mean[channel] * inverse_std[channel]);
            }
        }
        chain
    }
}

/// Per channel: `[gamma's gradient..., beta's..., the bias's...]`.
pub(super) fn parameter_gradients(
    x: &[f32],
    bias: &[f32],
    gamma: &[f32],
    coefficients: &Coefficients,
    output_gradient: &[f32],
    [batch, channels, positions]: [usize; 3],
    batch_statistics: bool,
) -> Vec<f32> {
    let sums: Vec<GradientSums> = (0..channels)
        .into_par_iter()
        .map(|channel| {
            let mut total = [0f64; 4];
            for item in 0..batch {
                let start = (item * channels + channel) * positions;
                let row = gradient_sums(
                    &output_gradient[start..start + positions],
                    &x[start..start + positions],
                    bias[channel],
                );
                for (total, value) in total.iter_mut().zip(row) {
                    *total += f64::from(value);
                }
            }
            GradientSums(total.map(|value| value as f32))
        })
        .collect();
    let Coefficients { mean, inverse_std } = coefficients;
    let beta_gradient: Vec<f32> = sums.iter().map(|sums| sums.g()).collect();
    // sum g * x_hat = inverse_std * (sum g * relu - mean * sum g)
    let gamma_gradient: Vec<f32> = (0..channels)
        .map(|c| inverse_std[c] * (sums[c].g_relu() - mean[c] * sums[c].g()))
        .collect();
    let count = (batch * positions) as f32;
    // The bias's gradient is the input gradient's sum over the values where `x + bias > 0`,
    // `gamma * inverse_std * (sum g - [n * sum g + sum x_hat * sum g x_hat] / count)` over those
    // `n` values (the bracket only with batch statistics), where the `x_hat` of the others is
    // `-mean * inverse_std` and all of them sum to 0. Written so, it has no difference of large
    // terms when the mean is far from 0.
    let bias_gradient: Vec<f32> = (0..channels)
        .map(|c| {
            let a = gamma[c] * inverse_std[c];
            let active = sums[c].active();
            if batch_statistics {
                let active_x_hat = (count - active) * mean[c] * inverse_std[c];
                a * (sums[c].active_g()
                    - (active * beta_gradient[c] + active_x_hat * gamma_gradient[c]) / count)
            } else {
                a * sums[c].active_g()
            }
        })
        .collect();
    [gamma_gradient, beta_gradient, bias_gradient].concat()
}

/// A channel's sums for the backward pass.
pub(super) struct GradientSums([f32; 4]);

impl GradientSums {
    /// `sum g`.
    fn g(&self) -> f32 {
        self.0[0]
    }
    /// `sum g * relu(x + bias)`.
    fn g_relu(&self) -> f32 {
        self.0[1]
    }
    /// `sum g` where `x + bias > 0`.
    fn active_g(&self) -> f32 {
        self.0[2]
    }
    /// How many values have `x + bias > 0`.
    fn active(&self) -> f32 {
        self.0[3]
    }
}

/// The gradient for `x`, where `x + bias > 0`, else 0.
pub(super) fn input_gradient(
    x: &[f32],
    bias: &[f32],
    chain: &ChainCoefficients,
    output_gradient: &[f32],
    [_, channels, positions]: [usize; 3],
) -> Vec<f32> {
    if channels * positions == 0 {
        return Vec::new();
    }
    let fill = |x_gradient: &mut [MaybeUninit<f32>]| {
        x_gradient
            .par_chunks_mut(channels * positions)
            .zip(x.par_chunks(channels * positions))
            .zip(output_gradient.par_chunks(channels * positions))
            .for_each(|((x_gradient, x), output_gradient)| {
                let rows = x_gradient
                    .chunks_exact_mut(positions)
                    .zip(x.chunks_exact(positions))
                    .zip(output_gradient.chunks_exact(positions));
                for (channel, ((dx, x), g)) in rows.enumerate() {
                    let coefficients = [
                        chain.a[channel],
                        chain.b[channel],
                        chain.c[channel],
                        bias[channel],
                    ];
                    input_gradient_row(dx, x, g, coefficients);
                }
            });
    };
    // SAFETY: the items' channel rows cover the gradient, and `input_gradient_row` writes all of
    // its row.
    unsafe { written(x.len(), fill) }
}

with_avx2! {
    /// `dx = g * a + (x + bias) * b + c` where `x + bias > 0`, else `0`, along one row: every
    /// value of `dx` written.
    fn input_gradient_row(dx: &mut [MaybeUninit<f32>], x: &[f32], g: &[f32], coefficients: [f32; 4])
        => input_gradient_row_portable
}

#[inline(always)]
pub(super) fn input_gradient_row_portable(
    dx: &mut [MaybeUninit<f32>],
    x: &[f32],
    g: &[f32],
    [a, b, c, bias]: [f32; 4],
) {
    let (x, g) = (&x[..dx.len()], &g[..dx.len()]);
    for index in 0..dx.len() {
        let shifted = x[index] + bias;
        let value = g[index] * a + shifted * b + c;
        // A select rather than a branch, so that the loop vectorises.
        dx[index].write(if shifted > 0.0 { value } else { 0.0 });
    }
}

with_avx2! {
    /// `[sum g, sum g * relu(x + bias), sum g where x + bias > 0, count where x + bias > 0]` in
    /// vector lanes.
    fn gradient_sums(g: &[f32], x: &[f32], bias: f32) -> [f32; 4] => gradient_sums_portable,
        avx2: gradient_sums_avx2
}

/// [`gradient_sums_portable`] with its lanes in registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn gradient_sums_avx2(g: &[f32], x: &[f32], bias: f32) -> [f32; 4] {
    let shift = Lanes::splat(bias);
    let mut lanes = [Lanes::zero(); 4];
    let mut g_chunks = g.chunks_exact(LANES);
    let mut x_chunks = x.chunks_exact(LANES);
    for (g, x) in (&mut g_chunks).zip(&mut x_chunks) {
        let g = Lanes::load(g);
        let shifted = Lanes::load(x).add(shift);
        let active = shifted.positive_indicator();
        lanes[0] = lanes[0].add(g);
        lanes[1] = lanes[1].add(g.mul(shifted.relu()));
        lanes[2] = lanes[2].add(g.mul(active));
        lanes[3] = lanes[3].add(active);
    }
    let sums = [lanes[0].sum(), lanes[1].sum(), lanes[2].sum(), lanes[3].sum()];
    gradient_sums_tail(g_chunks.remainder(), x_chunks.remainder(), bias, sums)
}

/// Adds the pairs of `g` and `x` one at a time.
#[inline(always)]
pub(super) fn gradient_sums_tail(g: &[f32], x: &[f32], bias: f32, mut sums: [f32; 4]) -> [f32; 4] {
    for (&g, &x) in g.iter().zip(x) {
        let shifted = x + bias;
        let active = if shifted > 0.0 { 1.0 } else { 0.0 };
        sums[0] += g;
        sums[1] += g * shifted.max(0.0);
        sums[2] += g * active;
        sums[3] += active;
    }
    sums
}

#[inline(always)]
pub(super) fn gradient_sums_portable(g: &[f32], x: &[f32], bias: f32) -> [f32; 4] {
    let mut lanes = [[0f32; LANES]; 4];
    let mut g_chunks = g.chunks_exact(LANES);
    let mut x_chunks = x.chunks_exact(LANES);
    for (g, x) in (&mut g_chunks).zip(&mut x_chunks) {
        for lane in 0..LANES {
            let shifted = x[lane] + bias;
            let active = if shifted > 0.0 { 1.0 } else { 0.0 };
            lanes[0][lane] += g[lane];
            lanes[1][lane] += g[lane] * shifted.max(0.0);
            lanes[2][lane] += g[lane] * active;
            lanes[3][lane] += active;
        }
    }
    let sums = lanes.map(|lane| lane.iter().sum::<f32>());
    gradient_sums_tail(g_chunks.remainder(), x_chunks.remainder(), bias, sums)
}
