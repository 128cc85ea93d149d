//! AdaGrad as burn's `Optimizer`: the learning-rate decay, the state saved under burn's names, and
//! the choice of how a device steps the parameters ([`DeviceAdaGrad`]).

use burn::backend::Dispatch;
use burn::optim::{
    AdaGradConfig, GradientsParams, LearningRate, ModuleOptimizer, Optimizer, OptimizerRecord, RecordState,
    StateSink, StateSource, join_path,
};
use burn::prelude::*;
use burn_pack::Scalar;

use super::groups::{Collected, Pass, SharedExchange, lock, step_in_groups};
use super::{AdaGradBackend, EPSILON};
use crate::ops::uses_cpu_kernels;
use crate::ops::variants::{GpuAdaGrad, gpu_variants};

/// AdaGrad with burn's learning-rate decay: the rate at step `t` (from 1) is
/// `rate / (1 + (t - 1) * lr_decay)`.
///
/// A clone shares its original's [`step_in_groups`](Self::step_in_groups) state, so the one a
/// `ModuleOptimizer` holds and the one its owner keeps act together.
#[derive(Debug, Clone)]
pub struct FusedAdaGrad {
    lr_decay: f64,
    epsilon: f32,
    exchange: SharedExchange,
}

impl FusedAdaGrad {
    pub fn new(lr_decay: f64) -> Self {
        Self {
            lr_decay,
            epsilon: EPSILON,
            exchange: SharedExchange::default(),
        }
    }

    /// `optimizer.step(learning_rate, model, gradients)`, where `optimizer` was made from this
    /// optimiser (or a clone), with the parameters stepped six to an operation (adagrad_groups.rs):
    /// the same numbers, a sixth of the launches on a GPU.
    pub fn step_in_groups<M: Module>(
        &self,
        optimizer: &mut ModuleOptimizer,
        learning_rate: LearningRate,
        model: M,
        gradients: GradientsParams,
    ) -> M {
        step_in_groups(
            &self.exchange,
            self.epsilon,
            optimizer,
            learning_rate,
            model,
            gradients,
        )
    }
}

/// CancerNet's optimiser as `device` runs it fastest: our fused AdaGrad, stepped six parameters
/// to an operation on a GPU and one at a time, in place, on the CPU; or on a GPU the formulation
/// `IDC_STUDIO_GPU_ADAGRAD` names (variants.rs). Every formulation gives burn's numbers and saves
/// burn's state.
pub struct DeviceAdaGrad {
    optimizer: ModuleOptimizer,
    /// The optimiser's own AdaGrad, where its steps go six parameters to an operation (a GPU).
    grouped: Option<FusedAdaGrad>,
}

impl DeviceAdaGrad {
    pub fn new(device: &Device, lr_decay: f64) -> Self {
        // Grouping the parameters saves launches, which the CPU has none of.
        let gpu = (!uses_cpu_kernels(device)).then(|| gpu_variants().adagrad);
        let adagrad = FusedAdaGrad::new(lr_decay);
        Self {
            optimizer: if gpu == Some(GpuAdaGrad::Burn) {
                AdaGradConfig::new().with_lr_decay(lr_decay).init()
            } else {
                ModuleOptimizer::from(adagrad.clone())
            },
            grouped: (gpu == Some(GpuAdaGrad::Grouped)).then_some(adagrad),
        }
    }

    /// One update of `model`'s parameters by `gradients`.
    pub fn step<M: Module>(
        &mut self,
        learning_rate: LearningRate,
        model: M,
        gradients: GradientsParams,
    ) -> M {
        match &self.grouped {
            Some(adagrad) => adagrad.step_in_groups(&mut self.optimizer, learning_rate, model, gradients),
            None => self.optimizer.step(learning_rate, model, gradients),
        }
    }

    /// The state to save in a checkpoint.
    pub fn to_record(&self) -> OptimizerRecord {
        self.optimizer.to_record()
    }

    /// Resumes from a checkpoint's state.
    pub fn load_record(mut self, record: OptimizerRecord) -> Self {
        self.optimizer = self.optimizer.load_record(record);
        self
    }
}

/// One parameter's state: the steps taken and the sum of its squared gradients. Saved under the
/// names burn's `AdaGradState` uses (`lr_decay.time`, `lr_decay.sum`), so checkpoints are
/// interchangeable.
#[derive(Debug, Clone)]
pub struct AdaGradState<const D: usize> {
    time: usize,
    sum: Tensor<D>,
}

pub(super) const STATE_PREFIX: &str = "lr_decay";

impl<const D: usize> RecordState for AdaGradState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        let prefix = join_path(prefix, STATE_PREFIX);
        out.push_scalar(&prefix, "time", Scalar::from(self.time));
        out.push_tensor(&prefix, "sum", self.sum.clone().into_data());
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let prefix = join_path(prefix, STATE_PREFIX);
        let time = usize::try_from(src.take_scalar(&prefix, "time")?).ok()?;
        let sum = Tensor::from_data(src.take_tensor(&prefix, "sum")?, device);
        Some(Self { time, sum })
    }
}

impl Optimizer for FusedAdaGrad {
    type State<const D: usize> = AdaGradState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let time = state.as_ref().map_or(0, |state| state.time) + 1;
        let rate = lr / (1. + (time as f64 - 1.) * self.lr_decay);
        let mut exchange = lock(&self.exchange);
        if exchange.pass == Pass::Apply {
            let (tensor_stepped, sum) = exchange
                .stepped
                .pop_front()
                .expect("the optimiser's second pass stepped more parameters than its first");
            let (tensor_stepped, sum) = (
                Tensor::<D>::from_dispatch(tensor_stepped),
                Tensor::from_dispatch(sum),
            );
            assert_eq!(
                tensor_stepped.dims(),
                tensor.dims(),
                "the optimiser's passes visited the parameters in different orders"
            );
            return (tensor_stepped, Some(AdaGradState { time, sum }));
        }
        // The first step's sum starts from zero, as burn's does (0 + g² is g² exactly).
        let sum = match &state {
            Some(state) => state.sum.clone(),
            None => grad.zeros_like(),
        };
        if exchange.pass == Pass::Collect {
            exchange.collected.push(Collected {
                parameter: tensor.clone().into_dispatch(),
                gradient: grad.into_dispatch(),
                sum: sum.into_dispatch(),
                learning_rate: rate,
            });
            return (tensor, state);
        }
        drop(exchange);
        let (tensor, sum) = Dispatch::adagrad_step(
            tensor.into_dispatch(),
            grad.into_dispatch(),
            sum.into_dispatch(),
            rate,
            self.epsilon,
        );
        let (tensor, sum) = (Tensor::from_dispatch(tensor), Tensor::from_dispatch(sum));
        (tensor, Some(AdaGradState { time, sum }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdaGradState {
            time: state.time,
            sum: state.sum.to_device(device),
        }
    }
}
