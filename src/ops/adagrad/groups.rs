//! AdaGrad's step of a whole model in groups of [`GROUP`] parameters, one operation a group: on
//! a GPU 6 launches a step for CancerNet's 36 parameter tensors where there were 36, each of
//! which costs the host (recording, fusing, encoding, submitting) as much as a large kernel.
//!
//! burn's `ModuleOptimizer` steps one parameter at a time and keeps each parameter's state
//! (its step count and sum of squared gradients) to itself; it also writes and reads the
//! checkpoints, whose format stays burn's. So the step is two of its passes over the model. In
//! the first, [`FusedAdaGrad`]'s per-parameter step only collects each parameter, gradient,
//! sum and learning rate, in the order the optimiser visits them, and leaves the state as it
//! was. The groups are then stepped together, and in the second pass, which visits the same
//! parameters in the same order, each parameter's step hands back its new value and sum.
//! The numbers are those of stepping each parameter on its own (tested, on the CPU and on
//! lavapipe).

use burn::backend::Dispatch;
use burn::backend::tensor::FloatTensor;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, LearningRate, ModuleOptimizer};
use burn::prelude::*;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{AdaGradBackend, GROUP};

/// What [`FusedAdaGrad`]'s per-parameter step does in the current pass.
///
/// [`FusedAdaGrad`]: super::FusedAdaGrad
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pass {
    /// Steps the parameter itself (`ModuleOptimizer::step` called directly).
    #[default]
    Direct,
    /// Hands the parameter's inputs over, changing nothing.
    Collect,
    /// Takes the parameter's stepped value and sum from the groups.
    Apply,
}

/// One parameter's step, as collected.
pub(super) struct Collected {
    pub parameter: FloatTensor<Dispatch>,
    pub gradient: FloatTensor<Dispatch>,
    pub sum: FloatTensor<Dispatch>,
    pub learning_rate: f64,
}

/// Shared by a [`FusedAdaGrad`] and every clone of it (the optimiser keeps its own).
///
/// [`FusedAdaGrad`]: super::FusedAdaGrad
#[derive(Default)]
pub(super) struct Exchange {
    pub pass: Pass,
    pub collected: Vec<Collected>,
    /// Each parameter's `(parameter', sum')`, in the order collected.
    pub stepped: VecDeque<(FloatTensor<Dispatch>, FloatTensor<Dispatch>)>,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("pass", &self.pass)
            .field("collected", &self.collected.len())
            .field("stepped", &self.stepped.len())
            .finish()
    }
}

pub(super) type SharedExchange = Arc<Mutex<Exchange>>;

pub(super) fn lock(exchange: &SharedExchange) -> MutexGuard<'_, Exchange> {
    // A panic in a pass leaves nothing half-written that a later step would trust: the guard
    // in `step_in_groups` resets the exchange.
    exchange.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Puts the exchange back to direct steps however the grouped step ends.
struct Reset<'a>(&'a SharedExchange);

impl Drop for Reset<'_> {
    fn drop(&mut self) {
        let mut exchange = lock(self.0);
        exchange.pass = Pass::Direct;
        exchange.collected.clear();
        exchange.stepped.clear();
    }
}

/// Every parameter of `model` stepped by `optimizer`, whose per-parameter optimiser shares
/// `exchange`, in groups of [`GROUP`]; the same result as `optimizer.step(learning_rate, model,
/// gradients)`.
pub(super) fn step_in_groups<M: Module>(
    exchange: &SharedExchange,
    epsilon: f32,
    optimizer: &mut ModuleOptimizer,
    learning_rate: LearningRate,
    model: M,
    gradients: GradientsParams,
) -> M {
    let _reset = Reset(exchange);
    let copy = copy_of(&gradients, &model);
    lock(exchange).pass = Pass::Collect;
    // The optimiser hands back its states as they were; the model it returns is not used.
    drop(optimizer.step(learning_rate, model.clone(), copy));
    let collected = std::mem::take(&mut lock(exchange).collected);
    let stepped = step_groups(collected, epsilon);
    {
        let mut exchange = lock(exchange);
        exchange.stepped = stepped;
        exchange.pass = Pass::Apply;
    }
    let model = optimizer.step(learning_rate, model, gradients);
    assert!(
        lock(exchange).stepped.is_empty(),
        "the optimiser's second pass stepped fewer parameters than its first"
    );
    model
}

/// The collected steps, a group of [`GROUP`] at a time and the rest one by one.
fn step_groups(
    collected: Vec<Collected>,
    epsilon: f32,
) -> VecDeque<(FloatTensor<Dispatch>, FloatTensor<Dispatch>)> {
    let mut stepped = VecDeque::with_capacity(collected.len());
    let mut rest = collected.into_iter();
    while rest.len() >= GROUP {
        let [a, b, c, d, e, f]: [Collected; GROUP] = std::array::from_fn(|_| rest.next().expect("counted"));
        let rates = [
            a.learning_rate,
            b.learning_rate,
            c.learning_rate,
            d.learning_rate,
            e.learning_rate,
            f.learning_rate,
        ];
        let (a, b, c, d, e, f) = Dispatch::adagrad_step_group(
            a.parameter,
            a.gradient,
            a.sum,
            b.parameter,
            b.gradient,
            b.sum,
            c.parameter,
            c.gradient,
            c.sum,
            d.parameter,
            d.gradient,
            d.sum,
            e.parameter,
            e.gradient,
            e.sum,
            f.parameter,
            f.gradient,
            f.sum,
            rates,
            epsilon,
        );
        stepped.extend([a, b, c, d, e, f]);
    }
    for one in rest {
        stepped.push_back(Dispatch::adagrad_step(
            one.parameter,
            one.gradient,
            one.sum,
            one.learning_rate,
            epsilon,
        ));
    }
    stepped
}

/// A second `GradientsParams` holding the same gradients as `gradients` for `model`'s
/// parameters (burn's is not `Clone`; its tensors are handles, so nothing is copied).
fn copy_of<M: Module>(gradients: &GradientsParams, model: &M) -> GradientsParams {
    struct Copier<'a> {
        from: &'a GradientsParams,
        to: GradientsParams,
    }
    impl ModuleVisitor for Copier<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(gradient) = self.from.get::<D>(param.id) {
                self.to.register(param.id, gradient);
            }
        }
    }
    let mut copier = Copier {
        from: gradients,
        to: GradientsParams::new(),
    };
    model.visit(&mut copier);
    copier.to
}
