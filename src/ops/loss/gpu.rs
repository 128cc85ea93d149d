//! The training step's loss and hits (loss.rs) on a GPU (burn's cubecl backend): each is one
//! workgroup, whose threads take the items in turn and sum in shared memory. A batch is a few
//! hundred items, so one workgroup is enough and no second stage is needed.

use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::{ClassifierLossBackend, items_and_classes};
use crate::ops::gpu_launch::{all_f32, empty_f32, output_like, workgroup_sum};

/// Threads of the workgroup (a power of two, as `workgroup_sum` needs).
const UNITS: usize = 256;

/// `log(sum exp(logits[item, ..]))`, the row's maximum taken out first.
#[cube]
fn log_sum_exp(logits: &Tensor<f32>, item: usize, classes: usize) -> f32 {
    let row = item * classes;
    let mut largest = logits[row];
    for class in 1..classes {
        largest = max(largest, logits[row + class]);
    }
    let mut sum = 0.0f32;
    for class in 0..classes {
        sum += f32::exp(logits[row + class] - largest);
    }
    largest + f32::ln(sum)
}

/// The sum of the items' class weights, returned to every thread of the workgroup.
#[cube]
fn total_weight(
    scratch: &mut Shared<[f32]>,
    labels: &Tensor<f32>,
    weights: &Tensor<f32>,
    items: usize,
) -> f32 {
    let mut total = 0.0f32;
    let mut item = UNIT_POS as usize;
    while item < items {
        total += weights[usize::cast_from(labels[item])];
        item += UNITS;
    }
    workgroup_sum(scratch, total)
}

#[cube(launch_unchecked)]
fn cross_entropy_kernel(
    logits: &Tensor<f32>,
    labels: &Tensor<f32>,
    weights: &Tensor<f32>,
    loss: &mut Tensor<f32>,
    items: usize,
    classes: usize,
) {
    let mut scratch = Shared::<[f32]>::new_slice(UNITS);
    let mut sum = 0.0f32;
    let mut item = UNIT_POS as usize;
    while item < items {
        let label = usize::cast_from(labels[item]);
        sum += weights[label] * (log_sum_exp(logits, item, classes) - logits[item * classes + label]);
        item += UNITS;
    }
    let sum = workgroup_sum(&mut scratch, sum);
    let total = total_weight(&mut scratch, labels, weights, items);
    if UNIT_POS == 0 {
        loss[0] = sum / total;
    }
}

#[cube(launch_unchecked)]
fn cross_entropy_gradient_kernel(
    logits: &Tensor<f32>,
    labels: &Tensor<f32>,
    weights: &Tensor<f32>,
    loss_gradient: &Tensor<f32>,
    gradient: &mut Tensor<f32>,
    items: usize,
    classes: usize,
) {
    let mut scratch = Shared::<[f32]>::new_slice(UNITS);
    let scale = loss_gradient[0] / total_weight(&mut scratch, labels, weights, items);
    let mut item = UNIT_POS as usize;
    while item < items {
        let label = usize::cast_from(labels[item]);
        let lse = log_sum_exp(logits, item, classes);
        let weight = weights[label] * scale;
        for class in 0..classes {
            let at = item * classes + class;
            let mut probability = f32::exp(logits[at] - lse);
            if class == label {
                probability -= 1.0f32;
            }
            gradient[at] = weight * probability;
        }
        item += UNITS;
    }
}

#[cube(launch_unchecked)]
fn correct_predictions_kernel(
    logits: &Tensor<f32>,
    labels: &Tensor<f32>,
    correct: &mut Tensor<f32>,
    items: usize,
    classes: usize,
) {
    let mut scratch = Shared::<[f32]>::new_slice(UNITS);
    let mut count = 0.0f32;
    let mut item = UNIT_POS as usize;
    while item < items {
        let row = item * classes;
        let mut best = 0usize;
        for class in 1..classes {
            if logits[row + class] > logits[row + best] {
                best = class;
            }
        }
        if best == usize::cast_from(labels[item]) {
            count += 1.0f32;
        }
        item += UNITS;
    }
    let count = workgroup_sum(&mut scratch, count);
    if UNIT_POS == 0 {
        correct[0] = count;
    }
}

fn assert_f32(tensors: &[&CubeTensor]) {
    assert!(all_f32(tensors), "the GPU loss kernels take f32 tensors");
}

/// One workgroup of [`UNITS`] threads.
fn one_workgroup() -> (CubeCount, CubeDim) {
    (CubeCount::Static(1, 1, 1), CubeDim::new_1d(UNITS as u32))
}

impl ClassifierLossBackend for CubeBackend {
    fn weighted_cross_entropy(logits: CubeTensor, labels: CubeTensor, weights: CubeTensor) -> CubeTensor {
        assert_f32(&[&logits, &labels, &weights]);
        let [items, classes] = items_and_classes(logits.meta.shape());
        let [logits, labels, weights] = [logits, labels, weights].map(into_contiguous);
        let loss = empty_f32(&logits, [1]);
        let client = loss.client.clone();
        let (cube_count, cube_dim) = one_workgroup();
        // SAFETY: the threads read items below `items` (the labels' and the logits' rows), class
        // weights at labels below `classes`, and thread 0 writes the one output value.
        unsafe {
            cross_entropy_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                logits.into_tensor_arg(),
                labels.into_tensor_arg(),
                weights.into_tensor_arg(),
                loss.clone().into_tensor_arg(),
                items,
                classes,
            );
        }
        loss
    }

    fn weighted_cross_entropy_gradient(
        logits: CubeTensor,
        labels: CubeTensor,
        weights: CubeTensor,
        loss_gradient: CubeTensor,
    ) -> CubeTensor {
        assert_f32(&[&logits, &labels, &weights, &loss_gradient]);
        let [items, classes] = items_and_classes(logits.meta.shape());
        let [logits, labels, weights, loss_gradient] =
            [logits, labels, weights, loss_gradient].map(into_contiguous);
        let (gradient, _, _) = output_like(&logits);
        let client = gradient.client.clone();
        let (cube_count, cube_dim) = one_workgroup();
        // SAFETY: as the loss; each thread writes the rows of its own items.
        unsafe {
            cross_entropy_gradient_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                logits.into_tensor_arg(),
                labels.into_tensor_arg(),
                weights.into_tensor_arg(),
                loss_gradient.into_tensor_arg(),
                gradient.clone().into_tensor_arg(),
                items,
                classes,
            );
        }
        gradient
    }

    fn correct_predictions(logits: CubeTensor, labels: CubeTensor, items: usize) -> CubeTensor {
        assert_f32(&[&logits, &labels]);
        let [rows, classes] = items_and_classes(logits.meta.shape());
        let [logits, labels] = [logits, labels].map(into_contiguous);
        let correct = empty_f32(&logits, [1]);
        let client = correct.client.clone();
        let (cube_count, cube_dim) = one_workgroup();
        // SAFETY: the threads read the first `items` rows (at most all of them) and their labels;
        // thread 0 writes the one output value.
        unsafe {
            correct_predictions_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                logits.into_tensor_arg(),
                labels.into_tensor_arg(),
                correct.clone().into_tensor_arg(),
                items.min(rows),
                classes,
            );
        }
        correct
    }
}
