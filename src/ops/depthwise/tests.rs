//! The depthwise convolution against burn's grouped convolution, forward and backward, and the
//! AVX2 kernels against the portable ones.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;

use super::cpu::convolve_plane_avx2;
use super::cpu::convolve_plane_portable;
use super::cpu::three_shifted_dots_avx2;
use super::cpu::three_shifted_dots_portable;
use super::cpu::weight_gradient_f32;
use super::*;

fn max_difference(a: Tensor<4>, b: Tensor<4>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

#[test]
#[cfg(target_arch = "x86_64")]
fn the_avx2_kernels_give_the_portable_numbers_bit_for_bit() {
    use crate::ops::cpu_simd::{has_avx2, test_values};
    use crate::ops::cpu_unzeroed::as_output;
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
    let input_difference = max_difference(x.grad(&our_gradients).unwrap(), x.grad(&burn_gradients).unwrap());
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
