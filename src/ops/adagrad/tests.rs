//! AdaGrad against burn's, step for step, and its saved state read by burn's.

use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdaGradConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use super::*;

/// A small layer with fixed weights and bias (not burn's random ones: both optimisers must
/// start from the same), and below the gradients of a loss at step `step` (each step's
/// input differs).
fn layer(device: &Device) -> Linear {
    let mut linear = LinearConfig::new(5, 3).init(device);
    let weights: Vec<f32> = (0..15).map(|i| ((i * 7) % 11) as f32 / 10.0 - 0.5).collect();
    linear.weight =
        burn::module::Param::from_tensor(Tensor::<2>::from_data(TensorData::new(weights, [5, 3]), device));
    linear.bias = Some(burn::module::Param::from_tensor(Tensor::<1>::from_floats(
        [0.1, -0.2, 0.3],
        device,
    )));
    linear
}

fn gradients(linear: &Linear, step: usize, device: &Device) -> GradientsParams {
    let input: Vec<f32> = (0..20)
        .map(|i| ((i * 13 + step * 5) % 17) as f32 / 8.0 - 1.0)
        .collect();
    let input = Tensor::<2>::from_data(TensorData::new(input, [4, 5]), device);
    let loss = linear.forward(input).powi_scalar(2).sum();
    GradientsParams::from_grads(loss.backward(), linear)
}

fn train(
    mut linear: Linear,
    optimizer: &mut ModuleOptimizer,
    steps: std::ops::Range<usize>,
    device: &Device,
) -> Linear {
    for step in steps {
        let grads = gradients(&linear, step, device);
        linear = optimizer.step(0.05, linear, grads);
    }
    linear
}

fn values(linear: &Linear) -> Vec<f32> {
    let mut values = linear.weight.val().into_data().try_to_vec::<f32>().unwrap();
    values.extend(
        linear
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(),
    );
    values
}

#[test]
fn updates_the_parameters_as_burns_adagrad_does() {
    let device = Device::flex().autodiff();
    let mut ours = ModuleOptimizer::from(FusedAdaGrad::new(0.1));
    let mut burns = AdaGradConfig::new().with_lr_decay(0.1).init();
    let by_ours = train(layer(&device), &mut ours, 0..4, &device);
    let by_burns = train(layer(&device), &mut burns, 0..4, &device);
    let (ours, burns) = (values(&by_ours), values(&by_burns));
    assert_ne!(
        ours,
        values(&layer(&device))[..ours.len()],
        "the parameters moved"
    );
    for (a, b) in ours.iter().zip(&burns) {
        assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{ours:?}\n{burns:?}");
    }
}

#[test]
fn resumes_from_burns_saved_state_and_burn_from_ours() {
    let device = Device::flex().autodiff();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("optimizer.bpk");
    // Two steps with burn's AdaGrad, saved; two more with ours after loading it.
    let mut burns = AdaGradConfig::new().with_lr_decay(0.1).init();
    let halfway = train(layer(&device), &mut burns, 0..2, &device);
    burns.save(&path).unwrap();
    let record = burn::optim::OptimizerRecord::load(&path).unwrap();
    let mut ours = ModuleOptimizer::from(FusedAdaGrad::new(0.1)).load_record(record);
    let resumed = train(halfway.clone(), &mut ours, 2..4, &device);
    let straight = train(halfway.clone(), &mut burns, 2..4, &device);
    // Had the state not loaded, ours would restart its sums and decay from step 1.
    for (a, b) in values(&resumed).iter().zip(&values(&straight)) {
        assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0));
    }

    // And the other way round.
    ours.save(&path).unwrap();
    let record = burn::optim::OptimizerRecord::load(&path).unwrap();
    let mut burns_again = AdaGradConfig::new().with_lr_decay(0.1).init().load_record(record);
    let by_burns = train(resumed.clone(), &mut burns_again, 4..5, &device);
    let by_ours = train(resumed, &mut ours, 4..5, &device);
    for (a, b) in values(&by_ours).iter().zip(&values(&by_burns)) {
        assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0));
    }
}
