//! Our AdaGrad on the GPU path against burn's, and grouped steps against single ones.

use burn::module::Param;
use burn::prelude::*;
use idc_studio::ops::adagrad::FusedAdaGrad;

use super::software_gpu;

/// A small layer with the same weights and bias on every call.
fn fixed_layer(device: &Device) -> burn::nn::Linear {
    let mut layer = burn::nn::LinearConfig::new(6, 4).init(device);
    let weights: Vec<f32> = (0..24).map(|i| ((i * 7) % 11) as f32 / 10.0 - 0.5).collect();
    layer.weight = Param::from_tensor(Tensor::<2>::from_data(TensorData::new(weights, [6, 4]), device));
    layer.bias = Some(Param::from_tensor(Tensor::<1>::from_floats(
        [0.1, -0.2, 0.3, 0.0],
        device,
    )));
    layer
}

fn trained_with(mut optimizer: burn::optim::ModuleOptimizer, device: &Device) -> Vec<f32> {
    let mut layer = fixed_layer(device);
    for step in 0..3 {
        let input: Vec<f32> = (0..30)
            .map(|i| ((i * 13 + step * 5) % 17) as f32 / 8.0 - 1.0)
            .collect();
        let input = Tensor::<2>::from_data(TensorData::new(input, [5, 6]), device);
        let loss = layer.forward(input).powi_scalar(2).sum();
        let gradients = burn::optim::GradientsParams::from_grads(loss.backward(), &layer);
        layer = optimizer.step(0.05, layer, gradients);
    }
    layer.weight.val().into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn our_fused_adagrad_updates_as_burns_on_the_gpu_path() {
    let gpu = software_gpu();
    let device = gpu.device.autodiff();
    let ours = trained_with(
        burn::optim::ModuleOptimizer::from(FusedAdaGrad::new(0.1)),
        &device,
    );
    let burns = trained_with(
        burn::optim::AdaGradConfig::new().with_lr_decay(0.1).init(),
        &device,
    );
    assert_ne!(
        ours,
        fixed_layer(&device)
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    );
    for (a, b) in ours.iter().zip(&burns) {
        assert!((a - b).abs() <= 1e-6, "{ours:?}\n{burns:?}");
    }
}

#[test]
fn adagrad_in_groups_steps_each_parameter_as_on_its_own_on_the_gpu_path() {
    let gpu = software_gpu();
    // One kernel for six parameters against one kernel each: the same arithmetic, value for
    // value.
    let [direct, grouped, start] = crate::common::stack::direct_and_grouped(&gpu.device.autodiff());
    assert_ne!(direct, start, "the parameters moved");
    assert_eq!(direct, grouped);
}
