//! 2x2 max pooling with stride 2, as CancerNet pools after each stage, as a burn backend
//! extension: here for the CPU backend, in max_pool_gpu.rs for a GPU. burn's flex version is a general N-d pooling that works out
//! the window bounds of every output element and keeps an `i64` index per output for the
//! backward pass; here the four candidates are compared directly and the backward pass finds
//! the winner again from the input, which the graph keeps anyway.
//!
//! Ties and NaN are resolved as burn does: the first of the window (row by row) wins a tie, and
//! a NaN wins over any number.

use std::mem::MaybeUninit;

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::pool::MaxPool2d;
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;

use super::device::uses_cpu_kernels;
use super::gpu_layers::gpu_layers;
#[cfg(target_arch = "x86_64")]
use super::simd::Lanes;
use super::simd::with_avx2;
use super::unzeroed::written;

/// Windows per vector in the AVX2 versions.
#[cfg(target_arch = "x86_64")]
const LANES: usize = 8;

// As depthwise.rs: `Cube` (wgpu) is always compiled in; `Fusion` records each call as one opaque
// operation. The GPU's kernels are in max_pool_gpu.rs.
#[backend_extension(Flex, Cube: cfg(all()), Fusion, Autodiff)]
pub trait MaxPool2x2Backend: Backend {
    /// `x [batch, channels, height, width]` to `[batch, channels, height / 2, width / 2]`.
    #[fusion(dtype = x, shape = Shape::new([x[0], x[1], x[2] / 2, x[3] / 2]))]
    fn max_pool_2x2(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// The input's gradient: each output's gradient goes to its window's maximum (the backward
    /// pass; not differentiated itself).
    #[fusion(dtype = x, shape = x)]
    fn max_pool_2x2_input_gradient(
        x: FloatTensor<Self>,
        output_gradient: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

fn pool_options() -> ([usize; 2], [usize; 2], [usize; 2], [usize; 2], bool) {
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
        #[derive(Debug)]
        struct MaxPoolStep;

        impl<B: MaxPool2x2Backend> Backward<B, 1> for MaxPoolStep {
            type State = FloatTensor<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x] = ops.parents;
                let output_gradient = grads.consume::<B>(&ops.node);
                if let Some(node) = node_x {
                    grads.register::<B>(
                        node.id,
                        B::max_pool_2x2_input_gradient(ops.state, output_gradient),
                    );
                }
            }
        }

        match MaxPoolStep.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let x = x.into_primitive();
                let output = B::max_pool_2x2(x.clone());
                prep.finish(x, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::max_pool_2x2(x.into_primitive())),
        }
    }
}

/// `pool.forward(x)` for CancerNet's 2x2, stride 2 pooling: our kernels on the CPU and on a GPU
/// (max_pool_gpu.rs), burn's on a GPU for tensors other than f32 or when
/// `IDC_STUDIO_GPU_MAX_POOL` says `burn` (gpu_layers.rs).
pub fn max_pool_2x2(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    if !uses_cpu_kernels(&x.device()) && (gpu_layers().burns_max_pool || x.dtype() != DType::F32) {
        return pool.forward(x);
    }
    Tensor::from_dispatch(Dispatch::max_pool_2x2(x.into_dispatch()))
}

/// Which of `[a, b, c, d]` burn's pooling picks: the first maximum, NaN above all (the GPU
/// kernels' `winner` is the same rule).
#[inline]
fn winner(window: [f32; 4]) -> (usize, f32) {
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
fn first_max(earlier: f32, later: f32) -> f32 {
    if later > earlier || later.is_nan() {
        later
    } else {
        earlier
    }
}

fn forward_f32(x: &[f32], [batch, channels, height, width]: [usize; 4]) -> Vec<f32> {
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
fn pool_row_portable(output: &mut [MaybeUninit<f32>], top: &[f32], bottom: &[f32]) {
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
fn pool_row_avx2(output: &mut [MaybeUninit<f32>], top: &[f32], bottom: &[f32]) {
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

fn backward_f32(x: &[f32], output_gradient: &[f32], dims: [usize; 4]) -> Vec<f32> {
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
fn pool_row_gradient_portable(
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
fn pool_row_gradient_avx2(
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

#[cfg(test)]
mod tests {
    use burn::nn::pool::MaxPool2dConfig;

    use super::*;

    #[test]
    fn is_burns_max_pooling_forward_and_backward() {
        // Odd sides: the last row and column are left out, as burn does. 19 windows a row: two
        // vectors of eight on AVX2, the second overlapping the first; 4: none.
        for shape in [[2, 3, 7, 9], [2, 3, 7, 39]] {
            is_burns_max_pooling(shape);
        }
    }

    fn is_burns_max_pooling(shape: [usize; 4]) {
        let device = Device::flex().autodiff();
        let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
        // Ties: with a width of 4 (mod 5) a window's values are v, v + 2, v + 3 and v again
        // (mod 5), so where v = 4 the first and last tie.
        assert_eq!(shape[3] % 5, 4);
        let count: usize = shape.iter().product();
        let values: Vec<f32> = (0..count).map(|i| ((i * 37) % 5) as f32).collect();
        let x = Tensor::<4>::from_data(TensorData::new(values, shape), &device).require_grad();
        let pooled = [shape[0], shape[1], shape[2] / 2, shape[3] / 2];
        let weights = Tensor::<4>::from_data(
            TensorData::new(
                (0..pooled.iter().product::<usize>())
                    .map(|i| i as f32 + 1.0)
                    .collect::<Vec<f32>>(),
                pooled,
            ),
            &device,
        );
        let ours = max_pool_2x2(&pool, x.clone());
        let burns = pool.forward(x.clone());
        assert_eq!(ours.dims(), pooled);
        let difference = (ours.clone() - burns.clone()).abs().max().into_scalar::<f32>();
        assert_eq!(difference, 0.0);
        let ours = x.grad(&(ours * weights.clone()).sum().backward()).unwrap();
        let burns = x.grad(&(burns * weights).sum().backward()).unwrap();
        assert_eq!(
            ours.into_data().try_to_vec::<f32>().unwrap(),
            burns.into_data().try_to_vec::<f32>().unwrap()
        );
    }

    #[test]
    fn pairs_first_pick_the_same_value_as_the_window_in_order() {
        // Every window of these values, ties of both zeros and NaN among them.
        let candidates = [-1.0, -0.0, 0.0, 1.0, f32::NAN];
        for index in 0..candidates.len().pow(4) {
            let window: [f32; 4] = std::array::from_fn(|k| candidates[index / 5usize.pow(k as u32) % 5]);
            let pairs_first = first_max(first_max(window[0], window[1]), first_max(window[2], window[3]));
            assert_eq!(pairs_first.to_bits(), winner(window).1.to_bits(), "{window:?}");
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_avx2_rows_give_the_portable_numbers_bit_for_bit() {
        use crate::model::simd::{has_avx2, test_values};
        use crate::model::unzeroed::as_output;
        if !has_avx2() {
            eprintln!("no AVX2 on this CPU: only the portable kernels run");
            return;
        }
        let candidates = [-1.0, -0.0, 0.0, 1.0, f32::NAN];
        for (seed, width) in [4, 16, 17, 24, 33, 48, 50].into_iter().enumerate() {
            // Few distinct values, so that windows tie; a NaN now and then.
            let rows: Vec<f32> = test_values(2 * width, seed as u64)
                .iter()
                .map(|value| candidates[(value.to_bits() % 5) as usize])
                .collect();
            let (top, bottom) = rows.split_at(width);
            let windows = width / 2;
            let (mut portable, mut avx2) = (vec![7.0; windows], vec![7.0; windows]);
            pool_row_portable(as_output(&mut portable), top, bottom);
            // SAFETY: the CPU has AVX2 (checked above).
            unsafe { pool_row_avx2(as_output(&mut avx2), top, bottom) };
            // 7 is none of the candidates: every value was written.
            assert!(!avx2.contains(&7.0) && !portable.contains(&7.0), "width {width}");
            let bits = |values: &[f32]| values.iter().map(|value| value.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&portable), bits(&avx2), "forward, width {width}");

            let output_gradient: Vec<f32> = (1..=windows).map(|k| k as f32).collect();
            // NaN, which no gradient here is: every value of the two rows' windows is written.
            let (mut portable, mut avx2) = (vec![f32::NAN; 4 * windows], vec![f32::NAN; 4 * windows]);
            let (portable_top, portable_bottom) = as_output(&mut portable).split_at_mut(2 * windows);
            pool_row_gradient_portable([portable_top, portable_bottom], [top, bottom], &output_gradient);
            let (avx2_top, avx2_bottom) = as_output(&mut avx2).split_at_mut(2 * windows);
            // SAFETY: as above.
            unsafe { pool_row_gradient_avx2([avx2_top, avx2_bottom], [top, bottom], &output_gradient) };
            assert!(
                !portable.iter().chain(&avx2).any(|value| value.is_nan()),
                "width {width}"
            );
            assert_eq!(bits(&portable), bits(&avx2), "backward, width {width}");
            // Each window's gradient lands once.
            assert_eq!(portable.iter().sum::<f32>(), output_gradient.iter().sum::<f32>());
        }
    }

    #[test]
    fn nan_wins_its_window() {
        assert_eq!(winner([1.0, 3.0, 3.0, 2.0]), (1, 3.0));
        let (index, value) = winner([1.0, f32::NAN, 5.0, 2.0]);
        assert_eq!(index, 1);
        assert!(value.is_nan());
    }
}
