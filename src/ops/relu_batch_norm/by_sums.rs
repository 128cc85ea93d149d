//! Batch norm composed of burn's tensor operations with the statistics taken by sums: the
//! formulation a GPU takes when `IDC_STUDIO_GPU_BATCH_NORM=sums` (variants.rs).

use burn::nn::BatchNorm;
use burn::prelude::*;

use super::set_running;

/// Batch norm of `[batch, channels, height, width]` activations, as `norm.forward` computes it,
/// with the training statistics taken by summing along the contiguous axes: burn's generic
/// version swaps the batch and channel axes first, copying the whole activation twice forward
/// and twice backward; `bench --layers` times the two (figures in docs/kernels.md).
/// Running statistics are updated exactly as `BatchNorm` does (biased variance, its momentum);
/// outside training it is `norm.forward` itself.
pub fn batch_norm_from_sums(norm: &BatchNorm, input: Tensor<4>) -> Tensor<4> {
    if !(input.device().is_autodiff() && norm.training.is_enabled()) {
        return norm.forward(input);
    }
    let [batch, channels, height, width] = input.dims();
    let count = (batch * height * width) as f64;
    let flat: Tensor<3> = input.reshape([batch, channels, height * width]);
    let mean = flat.clone().sum_dim(2).sum_dim(0).div_scalar(count);
    let centred = flat - mean.clone();
    let variance = centred
        .clone()
        .powi_scalar(2)
        .sum_dim(2)
        .sum_dim(0)
        .div_scalar(count);
    let scale =
        variance.clone().add_scalar(norm.epsilon).sqrt().recip() * norm.gamma.val().reshape([1, channels, 1]);
    let output = centred * scale + norm.beta.val().reshape([1, channels, 1]);

    let device = output.device();
    let keep = 1.0 - norm.momentum;
    let running_mean = norm.running_mean.value_sync().to_device(&device).mul_scalar(keep)
        + mean.detach().reshape([channels]).mul_scalar(norm.momentum);
    let running_var = norm.running_var.value_sync().to_device(&device).mul_scalar(keep)
        + variance.detach().reshape([channels]).mul_scalar(norm.momentum);
    set_running(&norm.running_mean, running_mean.detach());
    set_running(&norm.running_var, running_var.detach());
    output.reshape([batch, channels, height, width])
}

#[cfg(test)]
mod tests {
    use burn::nn::BatchNormConfig;

    use super::*;

    #[test]
    fn batch_norm_from_sums_is_burns_batch_norm() {
        let device = Device::flex().autodiff();
        let ours = BatchNormConfig::new(5).init(&device);
        let burns = BatchNormConfig::new(5).init(&device);
        let values: Vec<f32> = (0..3 * 5 * 4 * 2)
            .map(|i| ((i * 53) % 29) as f32 / 7.0 - 2.0)
            .collect();
        let input = Tensor::<4>::from_data(TensorData::new(values, [3, 5, 4, 2]), &device).require_grad();
        let weights = Tensor::<4>::from_data(
            TensorData::new(
                (0..120).map(|i| (i % 7) as f32 - 3.0).collect::<Vec<f32>>(),
                [3, 5, 4, 2],
            ),
            &device,
        );
        let by_sums = batch_norm_from_sums(&ours, input.clone());
        let by_burn = burns.forward(input.clone());
        let max_difference = |a: Tensor<4>, b: Tensor<4>| (a - b).abs().max().into_scalar::<f32>();
        assert!(max_difference(by_sums.clone(), by_burn.clone()) < 1e-5);

        let ours_gradients = (by_sums * weights.clone()).sum().backward();
        let burns_gradients = (by_burn * weights).sum().backward();
        let input_difference = max_difference(
            input.grad(&ours_gradients).unwrap(),
            input.grad(&burns_gradients).unwrap(),
        );
        assert!(
            input_difference < 1e-4,
            "input gradients differ by {input_difference}"
        );
        for (a, b) in [(&ours.gamma, &burns.gamma), (&ours.beta, &burns.beta)] {
            let difference = (a.val().grad(&ours_gradients).unwrap()
                - b.val().grad(&burns_gradients).unwrap())
            .abs()
            .max()
            .into_scalar::<f32>();
            assert!(difference < 1e-4, "parameter gradients differ by {difference}");
        }
        for (a, b) in [
            (&ours.running_mean, &burns.running_mean),
            (&ours.running_var, &burns.running_var),
        ] {
            let difference = (a.value_sync() - b.value_sync()).abs().max().into_scalar::<f32>();
            assert!(difference < 1e-6, "running statistics differ by {difference}");
        }
    }
}
