//! ReLU + batch norm against ReLU then burn's `BatchNorm`, forward and backward, in training
//! and inference, and the AVX2 kernels against the portable ones.

use burn::module::Param;
use burn::nn::BatchNormConfig;

use super::cpu_kernels::gradient_sums_avx2;
use super::cpu_kernels::gradient_sums_portable;
use super::cpu_kernels::relu_sums_avx2;
use super::cpu_kernels::relu_sums_portable;
use super::*;
use crate::ops::relu_batch_norm::batch_norm_from_sums;

fn max_difference<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

fn values(count: usize, multiplier: usize, modulus: usize) -> Vec<f32> {
    (0..count)
        .map(|i| ((i * multiplier) % modulus) as f32 / (modulus as f32 / 4.0) - 1.5)
        .collect()
}

#[test]
#[cfg(target_arch = "x86_64")]
fn the_avx2_sums_give_the_portable_numbers_bit_for_bit() {
    use crate::ops::cpu_simd::{has_avx2, test_values};
    if !has_avx2() {
        eprintln!("no AVX2 on this CPU: only the portable kernels run");
        return;
    }
    for length in 0..40 {
        let x = test_values(length, length as u64);
        let g = test_values(length, 500 + length as u64);
        for bias in [0.0, 0.3, -0.7] {
            let portable = relu_sums_portable(&x, bias);
            // SAFETY: the CPU has AVX2 (checked above).
            let avx2 = unsafe { relu_sums_avx2(&x, bias) };
            assert_eq!(
                (portable.0.to_bits(), portable.1.to_bits()),
                (avx2.0.to_bits(), avx2.1.to_bits()),
                "moments, length {length}, bias {bias}"
            );
            let portable = gradient_sums_portable(&g, &x, bias);
            // SAFETY: as above.
            let avx2 = unsafe { gradient_sums_avx2(&g, &x, bias) };
            assert_eq!(
                portable.map(f32::to_bits),
                avx2.map(f32::to_bits),
                "gradient sums, length {length}, bias {bias}"
            );
        }
    }
    // NaN counts as inactive and its ReLU as 0 in both.
    let x = [f32::NAN; 9];
    let g = [1.0; 9];
    // SAFETY: as above.
    let avx2 = unsafe { gradient_sums_avx2(&g, &x, 0.0) };
    assert_eq!(avx2, gradient_sums_portable(&g, &x, 0.0));
    assert_eq!(avx2, [9.0, 0.0, 0.0, 0.0]);
}

#[test]
fn training_matches_bias_relu_then_burns_batch_norm() {
    let device = Device::flex().autodiff();
    let shape = [3, 5, 4, 6];
    let count = shape.iter().product();
    // Gammas and betas other than 1 and 0, so that a missing factor would show.
    let with_parameters = || {
        let mut norm = BatchNormConfig::new(5).init(&device);
        norm.gamma = Param::from_tensor(Tensor::<1>::from_floats([0.5, 1.0, 1.5, -0.7, 2.0], &device));
        norm.beta = Param::from_tensor(Tensor::<1>::from_floats([0.1, -0.2, 0.0, 0.3, 1.0], &device));
        norm
    };
    let (ours, burns) = (with_parameters(), with_parameters());
    let x = Tensor::<4>::from_data(TensorData::new(values(count, 37, 23), shape), &device).require_grad();
    // Biases that move some channels mostly above zero and others mostly below.
    let bias = Tensor::<1>::from_floats([0.4, -0.6, 0.0, 1.2, -0.3], &device).require_grad();
    let output_weights = Tensor::<4>::from_data(TensorData::new(values(count, 53, 17), shape), &device);

    let fused = relu_batch_norm_after_bias(&ours, x.clone(), bias.clone());
    let reference = burns.forward(burn::tensor::activation::relu(
        x.clone() + per_channel::<4>(bias.clone()),
    ));
    assert!(max_difference(fused.clone(), reference.clone()) < 1e-5);

    let fused_gradients = (fused * output_weights.clone()).sum().backward();
    let reference_gradients = (reference * output_weights).sum().backward();
    let x_difference = max_difference(
        x.grad(&fused_gradients).unwrap(),
        x.grad(&reference_gradients).unwrap(),
    );
    assert!(x_difference < 1e-4, "input gradients differ by {x_difference}");
    let bias_difference = max_difference(
        bias.grad(&fused_gradients).unwrap(),
        bias.grad(&reference_gradients).unwrap(),
    );
    assert!(
        bias_difference < 1e-4,
        "bias gradients differ by {bias_difference}"
    );
    for (a, b) in [(&ours.gamma, &burns.gamma), (&ours.beta, &burns.beta)] {
        let difference = max_difference(
            a.val().grad(&fused_gradients).unwrap(),
            b.val().grad(&reference_gradients).unwrap(),
        );
        assert!(difference < 1e-4, "parameter gradients differ by {difference}");
    }
    // `value_sync`: `value` is one update behind, and would compare the initial values.
    for (a, b, initial) in [
        (&ours.running_mean, &burns.running_mean, 0.0),
        (&ours.running_var, &burns.running_var, 1.0),
    ] {
        let (a, b) = (a.value_sync(), b.value_sync());
        assert!(max_difference(a.clone(), b) < 1e-6, "running statistics differ");
        assert!(
            max_difference(a, Tensor::full([5], initial, &device)) > 1e-3,
            "not updated"
        );
    }
}

#[test]
fn inference_uses_the_running_statistics_in_two_and_four_dimensions() {
    let device = Device::flex().autodiff();
    let norm = BatchNormConfig::new(4).init(&device);
    // A few training batches give the running statistics values of their own.
    for round in 0..3 {
        let x = Tensor::<4>::from_data(
            TensorData::new(values(2 * 4 * 3 * 3, 31 + round, 19), [2, 4, 3, 3]),
            &device,
        );
        let _ = batch_norm_from_sums(&norm, burn::tensor::activation::relu(x.clone()));
    }
    let inference = norm.valid();
    let plain = Device::flex();
    let data = TensorData::new(values(72, 41, 13), [2, 4, 3, 3]);
    let x4 = Tensor::<4>::from_data(data.clone(), &plain);
    let expected = inference.forward(burn::tensor::activation::relu(x4.clone()));
    // An input held elsewhere too is left as it was; one held only here is overwritten.
    let from_shared = relu_batch_norm(&inference, x4.clone());
    assert_eq!(x4.to_data(), data);
    let from_sole = relu_batch_norm(&inference, Tensor::<4>::from_data(data, &plain));
    assert!(max_difference(from_shared, expected.clone()) < 1e-5);
    assert!(max_difference(from_sole, expected) < 1e-5);
    let x2 = Tensor::<2>::from_data(TensorData::new(values(24, 7, 11), [6, 4]), &plain);
    assert!(
        max_difference(
            relu_batch_norm(&inference, x2.clone()),
            inference.forward(burn::tensor::activation::relu(x2))
        ) < 1e-5
    );
}

#[test]
fn a_dense_layers_batch_norm_trains_the_same() {
    // [batch, channels] as after CancerNet's dense layer: one position per channel.
    let device = Device::flex().autodiff();
    let ours = BatchNormConfig::new(6).init(&device);
    let burns = BatchNormConfig::new(6).init(&device);
    let x = Tensor::<2>::from_data(TensorData::new(values(48, 29, 13), [8, 6]), &device).require_grad();
    let weights = Tensor::<2>::from_data(TensorData::new(values(48, 17, 7), [8, 6]), &device);
    let bias = Tensor::<1>::from_floats([0.3, -0.5, 0.0, 0.8, -0.1, 0.2], &device).require_grad();
    let fused = relu_batch_norm_after_bias(&ours, x.clone(), bias.clone());
    let reference = burns.forward(burn::tensor::activation::relu(
        x.clone() + per_channel::<2>(bias.clone()),
    ));
    assert!(max_difference(fused.clone(), reference.clone()) < 1e-5);
    let ours = (fused * weights.clone()).sum().backward();
    let burns = (reference * weights).sum().backward();
    assert!(max_difference(x.grad(&ours).unwrap(), x.grad(&burns).unwrap()) < 1e-4);
    assert!(max_difference(bias.grad(&ours).unwrap(), bias.grad(&burns).unwrap()) < 1e-4);
}
