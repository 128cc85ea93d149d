//! AdaGrad's step on burn's flex backend (the CPU): the running sum and the parameter updated in
//! place where the step holds them alone, on rayon's threads for large parameters.

use burn::backend::flex::FlexTensor;
use burn::backend::{Flex, TensorMetadata};
use burn::tensor::DType;
use rayon::prelude::*;

use super::{AdaGradBackend, burns_accumulate, burns_update};

/// Elements below which a flex update runs on one thread: splitting costs more than it saves.
pub(super) const PARALLEL_FROM: usize = 1 << 15;
pub(super) const CHUNK: usize = 1 << 14;

/// `Ok`: a contiguous f32 flex tensor whose values this call may overwrite (it is their only
/// holder); `Err`: the tensor back, for burn's operations (another dtype, or shared).
pub(super) fn writable_f32(tensor: FlexTensor) -> Result<FlexTensor, FlexTensor> {
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
pub(super) fn f32_slice(tensor: &FlexTensor) -> Option<&[f32]> {
    (tensor.dtype() == DType::F32)
        .then(|| tensor.as_slice::<f32>())
        .flatten()
}

/// `work` over matching chunks of `target` and `sources`, on rayon's threads when large.
pub(super) fn for_each_chunk(
    target: &mut [f32],
    sources: [&[f32]; 2],
    work: impl Fn(&mut [f32], [&[f32]; 2]) + Sync,
) {
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
pub(super) fn accumulate_in_place(sum: FlexTensor, gradient: &FlexTensor) -> FlexTensor {
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
pub(super) fn update_in_place(
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
