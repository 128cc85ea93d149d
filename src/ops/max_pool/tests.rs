//! Max pooling against burn's, forward and backward, NaN and ties included, and the AVX2 kernels
//! against the portable ones.

use burn::nn::pool::MaxPool2dConfig;

use super::cpu::first_max;
use super::cpu::pool_row_avx2;
use super::cpu::pool_row_gradient_avx2;
use super::cpu::pool_row_gradient_portable;
use super::cpu::pool_row_portable;
use super::cpu::winner;
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
    use crate::ops::cpu_simd::{has_avx2, test_values};
    use crate::ops::cpu_unzeroed::as_output;
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
