//! A stack of four small dense layers with fixed weights (eight parameters: one group of six
//! for AdaGrad's grouped steps and two on their own), for comparing optimisers.

use burn::module::{ModuleVisitor, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use idc_studio::ops::adagrad::FusedAdaGrad;

#[derive(Module, Debug)]
pub struct Stack {
    layers: Vec<Linear>,
}

pub fn stack(device: &Device) -> Stack {
    let layers = (0..4)
        .map(|layer| {
            let mut linear = LinearConfig::new(5, 5).init(device);
            let weights: Vec<f32> = (0..25)
                .map(|i| ((i * 7 + layer * 3) % 11) as f32 / 10.0 - 0.5)
                .collect();
            linear.weight =
                Param::from_tensor(Tensor::<2>::from_data(TensorData::new(weights, [5, 5]), device));
            let bias: Vec<f32> = (0..5).map(|i| ((i + layer) % 4) as f32 / 10.0 - 0.15).collect();
            linear.bias = Some(Param::from_tensor(Tensor::<1>::from_data(
                TensorData::new(bias, [5]),
                device,
            )));
            linear
        })
        .collect();
    Stack { layers }
}

/// Gradients of a loss that differs at every `step`.
fn gradients(stack: &Stack, step: usize, device: &Device) -> GradientsParams {
    let input: Vec<f32> = (0..15)
        .map(|i| ((i * 13 + step * 5) % 17) as f32 / 8.0 - 1.0)
        .collect();
    let mut x = Tensor::<2>::from_data(TensorData::new(input, [3, 5]), device);
    for layer in &stack.layers {
        x = layer.forward(x);
    }
    GradientsParams::from_grads(x.powi_scalar(2).sum().backward(), stack)
}

/// `stack` after `steps`, each taken by `optimizer` directly or, given the AdaGrad it was
/// made from, in groups.
pub fn train(
    mut stack: Stack,
    optimizer: &mut ModuleOptimizer,
    in_groups: Option<&FusedAdaGrad>,
    steps: std::ops::Range<usize>,
    device: &Device,
) -> Stack {
    for step in steps {
        let grads = gradients(&stack, step, device);
        stack = match in_groups {
            Some(adagrad) => adagrad.step_in_groups(optimizer, 0.05, stack, grads),
            None => optimizer.step(0.05, stack, grads),
        };
    }
    stack
}

/// Every parameter's values, in the model's order.
pub fn values(stack: &Stack) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0
                .extend(param.val().into_data().try_to_vec::<f32>().unwrap());
        }
    }
    let mut collect = Collect(Vec::new());
    stack.visit(&mut collect);
    collect.0
}

/// Three steps of AdaGrad directly and in groups, then two more after a checkpoint of each
/// is saved and loaded into a new optimiser: `(direct, grouped, start)` values.
pub fn direct_and_grouped(device: &Device) -> [Vec<f32>; 3] {
    let mut direct = ModuleOptimizer::from(FusedAdaGrad::new(0.1));
    let adagrad = FusedAdaGrad::new(0.1);
    let mut grouped = ModuleOptimizer::from(adagrad.clone());
    let by_direct = train(stack(device), &mut direct, None, 0..3, device);
    let by_groups = train(stack(device), &mut grouped, Some(&adagrad), 0..3, device);
    // The grouped steps' states (step counts, sums) are the optimiser's own: a checkpoint
    // of them resumes, in groups, where the direct steps go on.
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("optimizer.bpk");
    grouped.save(&path).unwrap();
    let resumed_adagrad = FusedAdaGrad::new(0.1);
    let mut resumed = ModuleOptimizer::from(resumed_adagrad.clone())
        .load_record(burn::optim::OptimizerRecord::load(&path).unwrap());
    let by_direct = train(by_direct, &mut direct, None, 3..5, device);
    let by_groups = train(by_groups, &mut resumed, Some(&resumed_adagrad), 3..5, device);
    [values(&by_direct), values(&by_groups), values(&stack(device))]
}
