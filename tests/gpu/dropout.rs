//! Dropout by hash on the GPU path: the CPU's mask for the same seeds.

use burn::prelude::*;
use idc_studio::ops::dropout::dropout_by_hash;

use super::{cpu, ramp, software_gpu};

/// Dropout by hash on `device` with the seeds `[0.375, 0.8125]`: the output and the input's
/// gradient under a loss that weighs each output differently, as flat values.
fn dropped_out(dims: [usize; 4], device: &Device) -> [Vec<f32>; 2] {
    let device = device.clone().autodiff();
    // Never zero, so a zero is a dropped value.
    let x = ramp(29, dims, &device).add_scalar(5.0).require_grad();
    let seeds = Tensor::<1>::from_floats([0.375, 0.8125], &device.clone().inner());
    let output = dropout_by_hash(x.clone(), seeds, 0.75);
    let gradient = x.grad(
        &(output.clone() * ramp(13, dims, &device).add_scalar(5.0))
            .sum()
            .backward(),
    );
    let flat = |tensor: Tensor<4>| tensor.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    [flat(output), flat(gradient.unwrap())]
}

#[test]
fn our_gpu_dropout_drops_what_the_cpu_drops_for_the_same_seed() {
    let gpu = software_gpu();
    let cpu = cpu();
    let dims = [3, 4, 9, 7];
    let [gpu_output, gpu_gradient] = dropped_out(dims, &gpu.device);
    let [cpu_output, cpu_gradient] = dropped_out(dims, &cpu.device);
    let bits = |values: &[f32]| values.iter().map(|value| value.to_bits()).collect::<Vec<u32>>();
    assert_eq!(bits(&gpu_output), bits(&cpu_output), "outputs");
    assert_eq!(bits(&gpu_gradient), bits(&cpu_gradient), "input gradients");
    // Both dropped a quarter or so, and the gradient flows exactly where the value did.
    let dropped = cpu_output.iter().filter(|&&value| value == 0.0).count();
    assert!((150..230).contains(&dropped), "dropped {dropped} of 756");
    for (output, gradient) in cpu_output.iter().zip(&cpu_gradient) {
        assert_eq!(*output == 0.0, *gradient == 0.0);
    }
}
