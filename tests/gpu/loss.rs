//! The loss and the hit count on the GPU path against the CPU.

use burn::prelude::*;
use idc_studio::ops::loss::{correct_predictions, weighted_cross_entropy};

use super::{cpu, software_gpu};

/// The loss, the logits' gradient and the hits among the first 290 of 300 items on `device`.
fn loss_and_hits(device: &Device) -> (f32, Vec<f32>, f32) {
    let device = device.clone().autodiff();
    let plain = device.clone().inner();
    let items = 300;
    let values: Vec<f32> = (0..items * 2)
        .map(|i| ((i * 17) % 13) as f32 / 3.0 - 2.0)
        .collect();
    let labels: Vec<f32> = (0..items).map(|i| ((i * 7) % 3 == 0) as u8 as f32).collect();
    let logits = Tensor::<2>::from_data(TensorData::new(values, [items, 2]), &device).require_grad();
    let labels = Tensor::<1>::from_data(TensorData::new(labels, [items]), &plain);
    let loss = weighted_cross_entropy(
        logits.clone(),
        labels.clone(),
        Tensor::from_floats([1.0, 2.5], &plain),
    );
    let hits = correct_predictions(logits.clone().detach().inner(), labels, 290).into_scalar::<f32>();
    let gradient = logits.grad(&(loss.clone() * 3.0).backward()).unwrap();
    (
        loss.into_scalar::<f32>(),
        gradient.into_data().try_to_vec::<f32>().unwrap(),
        hits,
    )
}

#[test]
fn our_gpu_loss_and_hits_are_the_cpus() {
    let gpu = software_gpu();
    let cpu = cpu();
    // 300 items: more than the GPU kernels' 256 threads, so some take two.
    let (gpu_loss, gpu_gradient, gpu_hits) = loss_and_hits(&gpu.device);
    let (cpu_loss, cpu_gradient, cpu_hits) = loss_and_hits(&cpu.device);
    assert!(
        (gpu_loss - cpu_loss).abs() < 1e-5 * cpu_loss.abs(),
        "loss {gpu_loss} vs {cpu_loss}"
    );
    let difference = gpu_gradient
        .iter()
        .zip(&cpu_gradient)
        .fold(0f32, |largest, (a, b)| largest.max((a - b).abs()));
    assert!(difference < 1e-6, "gradients differ by {difference}");
    assert_eq!(gpu_hits, cpu_hits);
    assert!(cpu_hits > 0.0 && cpu_hits < 290.0, "{cpu_hits}");
}
