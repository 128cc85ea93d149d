//! AdaGrad, the reference recipe's optimiser, with each parameter's update fused into one
//! operation instead of burn's seven (square, add, sqrt, add, divide, multiply, subtract).
//!
//! The numbers are burn's `AdaGrad` (the same arithmetic in the same order, checked in the
//! tests), and so is the saved state: a checkpoint written by either resumes in the other. What
//! changes is the cost. burn's update makes seven passes over each parameter, each allocating a
//! new tensor; on a GPU each is also one more operation for the host to record, fuse and submit,
//! about 250 a step for CancerNet's 36 parameter tensors, on a host that sets the pace at
//! batch 32. Here one operation per parameter adds the squared gradient to the running sum and
//! updates the parameter, both in place on the CPU (below), one kernel with two outputs on a GPU
//! (adagrad_gpu.rs).

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::optim::{
    GradientsParams, LearningRate, ModuleOptimizer, Optimizer, RecordState, StateSink, StateSource, join_path,
};
use burn::prelude::*;
use burn::tensor::DType;
use burn_pack::Scalar;
use rayon::prelude::*;

use super::adagrad_groups::{Collected, Pass, SharedExchange, lock, step_in_groups};

/// burn's default for AdaGrad's `epsilon`, added to the root of the sum of squared gradients.
pub const EPSILON: f32 = 1e-5;

// As model/depthwise.rs: `Cube` (wgpu) is always compiled in; `Fusion` records each call as one
// opaque operation. The optimiser works on the parameters' inner (not autodiff) tensors.
#[backend_extension(Flex, Cube: cfg(all()), Fusion)]
pub trait AdaGradBackend: Backend {
    /// One AdaGrad step of one parameter: `(parameter', sum')`, where `sum' = sum + gradient *
    /// gradient` and `parameter' = parameter - gradient / (sqrt(sum') + epsilon) *
    /// learning_rate`, in that order of operations (burn's), in the parameter's dtype. One
    /// operation with two outputs: on a GPU one launch where two would do.
    #[fusion(meta = |parameter, _gradient, sum, _learning_rate, _epsilon| (parameter.clone(), sum.clone()))]
    fn adagrad_step(
        parameter: FloatTensor<Self>,
        gradient: FloatTensor<Self>,
        sum: FloatTensor<Self>,
        learning_rate: f64,
        epsilon: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        burns_step::<Self>(parameter, gradient, sum, learning_rate, epsilon)
    }

    /// [`GROUP`] parameters' steps in one operation, `(parameter', sum')` for each, in order: on a
    /// GPU one launch where there would be six. Each parameter has its own learning rate (its
    /// own step count, in burn's decay).
    #[fusion(meta = |p0, _g0, s0, p1, _g1, s1, p2, _g2, s2, p3, _g3, s3, p4, _g4, s4, p5, _g5, s5, _rates, _epsilon| (
        (p0.clone(), s0.clone()),
        (p1.clone(), s1.clone()),
        (p2.clone(), s2.clone()),
        (p3.clone(), s3.clone()),
        (p4.clone(), s4.clone()),
        (p5.clone(), s5.clone()),
    ))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn adagrad_step_group(
        p0: FloatTensor<Self>,
        g0: FloatTensor<Self>,
        s0: FloatTensor<Self>,
        p1: FloatTensor<Self>,
        g1: FloatTensor<Self>,
        s1: FloatTensor<Self>,
        p2: FloatTensor<Self>,
        g2: FloatTensor<Self>,
        s2: FloatTensor<Self>,
        p3: FloatTensor<Self>,
        g3: FloatTensor<Self>,
        s3: FloatTensor<Self>,
        p4: FloatTensor<Self>,
        g4: FloatTensor<Self>,
        s4: FloatTensor<Self>,
        p5: FloatTensor<Self>,
        g5: FloatTensor<Self>,
        s5: FloatTensor<Self>,
        rates: [f64; GROUP],
        epsilon: f32,
    ) -> (
        (FloatTensor<Self>, FloatTensor<Self>),
        (FloatTensor<Self>, FloatTensor<Self>),
        (FloatTensor<Self>, FloatTensor<Self>),
        (FloatTensor<Self>, FloatTensor<Self>),
        (FloatTensor<Self>, FloatTensor<Self>),
        (FloatTensor<Self>, FloatTensor<Self>),
    ) {
        let [r0, r1, r2, r3, r4, r5] = rates;
        (
            Self::adagrad_step(p0, g0, s0, r0, epsilon),
            Self::adagrad_step(p1, g1, s1, r1, epsilon),
            Self::adagrad_step(p2, g2, s2, r2, epsilon),
            Self::adagrad_step(p3, g3, s3, r3, epsilon),
            Self::adagrad_step(p4, g4, s4, r4, epsilon),
            Self::adagrad_step(p5, g5, s5, r5, epsilon),
        )
    }
}

/// Parameters stepped by one [`AdaGradBackend::adagrad_step_group`].
pub const GROUP: usize = 6;

/// [`AdaGradBackend::adagrad_step`] in burn's operations (other backends and dtypes): burn's
/// `AdaGrad` exactly.
pub(super) fn burns_step<B: Backend>(
    parameter: FloatTensor<B>,
    gradient: FloatTensor<B>,
    sum: FloatTensor<B>,
    learning_rate: f64,
    epsilon: f32,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let sum = burns_accumulate::<B>(sum, gradient.clone());
    let parameter = burns_update::<B>(parameter, gradient, sum.clone(), learning_rate, epsilon);
    (parameter, sum)
}

/// `sum + gradient * gradient` in burn's operations.
fn burns_accumulate<B: Backend>(sum: FloatTensor<B>, gradient: FloatTensor<B>) -> FloatTensor<B> {
    let square = B::float_mul(gradient.clone(), gradient);
    B::float_add(sum, square)
}

/// `parameter - gradient / (sqrt(sum) + epsilon) * learning_rate` in burn's operations.
fn burns_update<B: Backend>(
    parameter: FloatTensor<B>,
    gradient: FloatTensor<B>,
    sum: FloatTensor<B>,
    learning_rate: f64,
    epsilon: f32,
) -> FloatTensor<B> {
    let root = B::float_add_scalar(B::float_sqrt(sum), epsilon.into());
    let step = B::float_mul_scalar(B::float_div(gradient, root), learning_rate.into());
    B::float_sub(parameter, step)
}

/// Elements below which a flex update runs on one thread: splitting costs more than it saves.
const PARALLEL_FROM: usize = 1 << 15;
const CHUNK: usize = 1 << 14;

/// `Ok`: a contiguous f32 flex tensor whose values this call may overwrite (it is their only
/// holder); `Err`: the tensor back, for burn's operations (another dtype, or shared).
fn writable_f32(tensor: FlexTensor) -> Result<FlexTensor, FlexTensor> {
    if tensor.dtype() != DType::F32 {
        return Err(tensor);
    }
    // A copy if the layout is not contiguous; else the same data, held once `tensor` is gone.
    let contiguous = tensor.to_contiguous();
    drop(tensor);
    let tensor = contiguous;
    if tensor.is_unique() && tensor.storage::<f32>().len() == tensor.shape().num_elements() {
        Ok(tensor)
    } else {
        Err(tensor)
    }
}

/// The values of a contiguous f32 tensor; `None` for other dtypes.
fn f32_slice(tensor: &FlexTensor) -> Option<&[f32]> {
    (tensor.dtype() == DType::F32)
        .then(|| tensor.as_slice::<f32>())
        .flatten()
}

/// `work` over matching chunks of `target` and `sources`, on rayon's threads when large.
fn for_each_chunk(target: &mut [f32], sources: [&[f32]; 2], work: impl Fn(&mut [f32], [&[f32]; 2]) + Sync) {
    if target.len() < PARALLEL_FROM {
        return work(target, sources);
    }
    target
        .par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(index, chunk)| {
            let range = index * CHUNK..index * CHUNK + chunk.len();
            work(chunk, sources.map(|source| &source[range.clone()]));
        });
}

impl AdaGradBackend for Flex {
    fn adagrad_step(
        parameter: FlexTensor,
        gradient: FlexTensor,
        sum: FlexTensor,
        learning_rate: f64,
        epsilon: f32,
    ) -> (FlexTensor, FlexTensor) {
        let gradient = gradient.to_contiguous();
        let sum = accumulate_in_place(sum, &gradient);
        let parameter = update_in_place(parameter, &gradient, &sum, learning_rate, epsilon);
        (parameter, sum)
    }
}

/// `sum + gradient * gradient`, written over `sum` where this call holds it alone.
fn accumulate_in_place(sum: FlexTensor, gradient: &FlexTensor) -> FlexTensor {
    match (writable_f32(sum), f32_slice(gradient)) {
        (Ok(mut sum), Some(gradient)) => {
            for_each_chunk(
                sum.storage_mut::<f32>(),
                [gradient, gradient],
                |sum, [gradient, _]| {
                    for (sum, gradient) in sum.iter_mut().zip(gradient) {
                        *sum += gradient * gradient;
                    }
                },
            );
            sum
        }
        (Ok(sum) | Err(sum), _) => burns_accumulate::<Flex>(sum, gradient.clone()),
    }
}

/// `parameter - gradient / (sqrt(sum) + epsilon) * learning_rate`, written over `parameter`
/// where this call holds it alone.
fn update_in_place(
    parameter: FlexTensor,
    gradient: &FlexTensor,
    sum: &FlexTensor,
    learning_rate: f64,
    epsilon: f32,
) -> FlexTensor {
    let sum = sum.to_contiguous();
    match (writable_f32(parameter), f32_slice(gradient), f32_slice(&sum)) {
        (Ok(mut parameter), Some(gradient), Some(sum)) => {
            // burn multiplies an f32 tensor by the f64 rate as an f32.
            let rate = learning_rate as f32;
            for_each_chunk(
                parameter.storage_mut::<f32>(),
                [gradient, sum],
                |parameter, [gradient, sum]| {
                    for ((parameter, gradient), sum) in parameter.iter_mut().zip(gradient).zip(sum) {
                        *parameter -= gradient / (sum.sqrt() + epsilon) * rate;
                    }
                },
            );
            parameter
        }
        (Ok(parameter) | Err(parameter), ..) => {
            burns_update::<Flex>(parameter, gradient.clone(), sum, learning_rate, epsilon)
        }
    }
}

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

/// One parameter's state: the steps taken and the sum of its squared gradients. Saved under the
/// names burn's `AdaGradState` uses (`lr_decay.time`, `lr_decay.sum`), so checkpoints are
/// interchangeable.
#[derive(Debug, Clone)]
pub struct AdaGradState<const D: usize> {
    time: usize,
    sum: Tensor<D>,
}

const STATE_PREFIX: &str = "lr_decay";

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

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{AdaGradConfig, GradientsParams, ModuleOptimizer};

    use super::*;

    /// A small layer with fixed weights and bias (not burn's random ones: both optimisers must
    /// start from the same), and below the gradients of a loss at step `step` (each step's
    /// input differs).
    fn layer(device: &Device) -> Linear {
        let mut linear = LinearConfig::new(5, 3).init(device);
        let weights: Vec<f32> = (0..15).map(|i| ((i * 7) % 11) as f32 / 10.0 - 0.5).collect();
        linear.weight = burn::module::Param::from_tensor(Tensor::<2>::from_data(
            TensorData::new(weights, [5, 3]),
            device,
        ));
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
}
