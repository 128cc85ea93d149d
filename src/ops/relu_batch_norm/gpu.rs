//! The layer before's bias, ReLU then batch norm on a GPU (burn's cubecl backend: wgpu/Vulkan),
//! as kernels of our own. Below, `relu(x)` stands for `relu(x + bias)`, the bias per channel.
//!
//! Composed of burn's tensor operations (`batch_norm_from_sums`, or burn's `BatchNorm`) the layer
//! is some twenty operations forward and as many backward, each recorded by autodiff, fused,
//! encoded and launched by the host, which then sets the pace at small batches; at large batches
//! the layer was the slowest of the model's (figures in docs/kernels.md). Here training
//! takes four kernels, two per pass, each over workgroups of (group of images, channel):
//! - forward: the first takes each group's mean, then its sum of squared deviations (a second
//!   read, from cache), each summed across the workgroup in shared memory; the second merges the
//!   channel's groups (Chan et al.'s pairwise formula, so the variance never comes from a
//!   difference of large sums) and normalises its group's values, `relu(x) * scale + shift`;
//! - backward: the same two stages for `sum g` and `sum g * (relu(x) - mean)` (the beta and gamma
//!   gradients), and for the bias's gradient the sum of `g` and the count where `x + bias > 0`;
//!   the second kernel writes the input gradient;
//! - the merged moments, the running statistics' update and the parameters' gradients are
//!   written by each channel's first workgroup.
//!
//! Every workgroup of a channel merges the same partials in the same order, so all of them hold
//! the same moments, bit for bit; merging once in a kernel of its own would cost a launch per
//! pass and layer (14 a training step) for a few hundred values.
//! Inference normalises with the running statistics, one kernel, a thread per value.
//!
//! f32, contiguous `[batch, channels, positions...]` tensors (the public function keeps other
//! dtypes on burn's layers).

use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::ReluBatchNormBackend;
use crate::ops::gpu_launch::{all_f32, empty_f32, output_like, workgroup_sum};

/// Threads of a reducing workgroup (a power of two: the workgroup sums by halving).
const UNITS: usize = 256;
/// About how many values one reducing workgroup takes: enough that each thread reads several.
const VALUES_PER_GROUP: usize = 4096;

/// The workgroup's images in a reducing kernel (workgroup `(group, channel)`): the first, and how
/// many values of its channel they hold.
#[cube]
fn group_of_images(batch: usize, positions: usize, images_per_group: usize) -> (usize, usize) {
    let first = CUBE_POS_X as usize * images_per_group;
    let end = min(first + images_per_group, batch);
    (first, (end - first) * positions)
}

/// Where the `index`-th value of `channel` from image `first` on lies in `[batch, channels,
/// positions]`.
#[cube]
fn value_address(first: usize, index: usize, channel: usize, channels: usize, positions: usize) -> usize {
    ((first + index / positions) * channels + channel) * positions + index % positions
}

/// Workgroup (group, channel) of `relu(x + bias)`: `partials[channel, group] = (count, mean, sum
/// of squared deviations)` over the images `group * images_per_group..` (at most that many).
#[cube(launch_unchecked)]
fn moment_partials_kernel(
    x: &Tensor<f32>,
    bias: &Tensor<f32>,
    partials: &mut Tensor<f32>,
    batch: usize,
    channels: usize,
    positions: usize,
    images_per_group: usize,
) {
    let channel = CUBE_POS_Y as usize;
    let (first, count) = group_of_images(batch, positions, images_per_group);
    let shift = bias[channel];
    let mut scratch = Shared::<[f32]>::new_slice(UNITS);

    let mut sum = 0.0f32;
    let mut index = UNIT_POS as usize;
    while index < count {
        sum += max(
            x[value_address(first, index, channel, channels, positions)] + shift,
            0.0f32,
        );
        index += UNITS;
    }
    let mean = workgroup_sum(&mut scratch, sum) / f32::cast_from(count);

    let mut squares = 0.0f32;
    index = UNIT_POS as usize;
    while index < count {
        let deviation = max(
            x[value_address(first, index, channel, channels, positions)] + shift,
            0.0f32,
        ) - mean;
        squares += deviation * deviation;
        index += UNITS;
    }
    let deviations = workgroup_sum(&mut scratch, squares);
    if UNIT_POS == 0 {
        let cell = (channel * CUBE_COUNT_X as usize + CUBE_POS_X as usize) * 3;
        partials[cell] = f32::cast_from(count);
        partials[cell + 1] = mean;
        partials[cell + 2] = deviations;
    }
}

/// The channel's mean and biased variance from its groups' `(count, mean, deviations)` (Chan et
/// al.'s pairwise formula: each group's own deviations, plus its count times its mean's squared
/// distance from the mean), returned to every thread of the workgroup.
#[cube]
fn merged_moments(
    partials: &Tensor<f32>,
    scratch: &mut Shared<[f32]>,
    channel: usize,
    groups: usize,
) -> (f32, f32) {
    let mut count = 0.0f32;
    let mut sum = 0.0f32;
    let mut group = UNIT_POS as usize;
    while group < groups {
        let cell = (channel * groups + group) * 3;
        count += partials[cell];
        sum += partials[cell] * partials[cell + 1];
        group += UNITS;
    }
    let count = workgroup_sum(scratch, count);
    let mean = workgroup_sum(scratch, sum) / count;

    let mut deviations = 0.0f32;
    group = UNIT_POS as usize;
    while group < groups {
        let cell = (channel * groups + group) * 3;
        let offset = partials[cell + 1] - mean;
        deviations += partials[cell + 2] + partials[cell] * offset * offset;
        group += UNITS;
    }
    (mean, workgroup_sum(scratch, deviations) / count)
}

/// Workgroup (group, channel), after [`moment_partials_kernel`] with the same workgroups: merges
/// the channel's partials (every workgroup of the channel alike, which costs a few reads of
/// cache and saves a launch of its own) and normalises its images' values of the channel, `y =
/// relu(x + bias) * scale + shift` with `scale = gamma / sqrt(variance + epsilon)`, `shift = beta
/// - mean * scale`. The channel's first workgroup also writes `moments[0, channel] = mean`,
/// `moments[1, channel] = variance` and the running statistics moved toward them, `blended =
/// running * keep + moment * momentum`.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn merge_and_normalise_kernel(
    x: &Tensor<f32>,
    bias: &Tensor<f32>,
    gamma: &Tensor<f32>,
    beta: &Tensor<f32>,
    partials: &Tensor<f32>,
    running_mean: &Tensor<f32>,
    running_var: &Tensor<f32>,
    output: &mut Tensor<f32>,
    moments: &mut Tensor<f32>,
    blended_mean: &mut Tensor<f32>,
    blended_var: &mut Tensor<f32>,
    batch: usize,
    channels: usize,
    positions: usize,
    images_per_group: usize,
    keep: f32,
    momentum: f32,
    epsilon: f32,
) {
    let channel = CUBE_POS_Y as usize;
    let mut scratch = Shared::<[f32]>::new_slice(UNITS);
    let (mean, variance) = merged_moments(partials, &mut scratch, channel, CUBE_COUNT_X as usize);
    if CUBE_POS_X == 0 && UNIT_POS == 0 {
        moments[channel] = mean;
        moments[channels + channel] = variance;
        blended_mean[channel] = running_mean[channel] * keep + mean * momentum;
        blended_var[channel] = running_var[channel] * keep + variance * momentum;
    }
    let scale = gamma[channel] / f32::sqrt(variance + epsilon);
    let shift = beta[channel] - mean * scale;
    let offset = bias[channel];
    let (first, count) = group_of_images(batch, positions, images_per_group);
    let mut index = UNIT_POS as usize;
    while index < count {
        let at = value_address(first, index, channel, channels, positions);
        output[at] = max(x[at] + offset, 0.0f32) * scale + shift;
        index += UNITS;
    }
}

/// Workgroup (group, channel): `partials[channel, group] = (sum g, sum g * (relu(x + bias) -
/// mean), sum g where x + bias > 0, how many values have x + bias > 0)`.
#[cube(launch_unchecked)]
fn gradient_partials_kernel(
    x: &Tensor<f32>,
    bias: &Tensor<f32>,
    output_gradient: &Tensor<f32>,
    moments: &Tensor<f32>,
    partials: &mut Tensor<f32>,
    batch: usize,
    channels: usize,
    positions: usize,
    images_per_group: usize,
) {
    let channel = CUBE_POS_Y as usize;
    let (first, count) = group_of_images(batch, positions, images_per_group);
    let mean = moments[channel];
    let shift = bias[channel];
    let mut scratch = Shared::<[f32]>::new_slice(UNITS);

    let mut sum = 0.0f32;
    let mut weighted = 0.0f32;
    let mut active_sum = 0.0f32;
    let mut active = 0.0f32;
    let mut index = UNIT_POS as usize;
    while index < count {
        let at = value_address(first, index, channel, channels, positions);
        let gradient = output_gradient[at];
        let shifted = x[at] + shift;
        sum += gradient;
        weighted += gradient * (max(shifted, 0.0f32) - mean);
        if shifted > 0.0f32 {
            active_sum += gradient;
            active += 1.0f32;
        }
        index += UNITS;
    }
    let sum = workgroup_sum(&mut scratch, sum);
    let weighted = workgroup_sum(&mut scratch, weighted);
    let active_sum = workgroup_sum(&mut scratch, active_sum);
    let active = workgroup_sum(&mut scratch, active);
    if UNIT_POS == 0 {
        let cell = (channel * CUBE_COUNT_X as usize + CUBE_POS_X as usize) * 4;
        partials[cell] = sum;
        partials[cell + 1] = weighted;
        partials[cell + 2] = active_sum;
        partials[cell + 3] = active;
    }
}

/// The channel's `(sum g, sum g * (relu(x + bias) - mean), sum g where x + bias > 0, how many
/// values have x + bias > 0)` from its groups' partials, returned to every thread of the
/// workgroup.
#[cube]
fn merged_gradient_sums(
    partials: &Tensor<f32>,
    scratch: &mut Shared<[f32]>,
    channel: usize,
    groups: usize,
) -> (f32, f32, f32, f32) {
    let mut sum = 0.0f32;
    let mut weighted = 0.0f32;
    let mut active_sum = 0.0f32;
    let mut active = 0.0f32;
    let mut group = UNIT_POS as usize;
    while group < groups {
        let cell = (channel * groups + group) * 4;
        sum += partials[cell];
        weighted += partials[cell + 1];
        active_sum += partials[cell + 2];
        active += partials[cell + 3];
        group += UNITS;
    }
    (
        workgroup_sum(scratch, sum),
        workgroup_sum(scratch, weighted),
        workgroup_sum(scratch, active_sum),
        workgroup_sum(scratch, active),
    )
}

/// Workgroup (group, channel), after [`gradient_partials_kernel`] with the same workgroups:
/// merges the channel's partials as [`merge_and_normalise_kernel`] does, and writes the input
/// gradient of its images' values of the channel, `gamma * inverse_std * (g - [sum g + x_hat *
/// sum g x_hat] / count)` (the bracket only with batch statistics), zero where `x + bias <= 0`.
/// The channel's first workgroup also writes the parameters' gradients:
/// `parameter_gradients[0, channel]` (gamma's) `= inverse_std * sum g * (relu(x + bias) - mean)`,
/// `[1, channel]` (beta's) `= sum g`, and `[2, channel]` the bias's, the input gradient's sum
/// where `x + bias > 0`, as relu_batch_norm.rs writes it (no difference of large terms).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn merge_and_input_gradient_kernel(
    x: &Tensor<f32>,
    bias: &Tensor<f32>,
    output_gradient: &Tensor<f32>,
    gamma: &Tensor<f32>,
    moments: &Tensor<f32>,
    partials: &Tensor<f32>,
    x_gradient: &mut Tensor<f32>,
    parameter_gradients: &mut Tensor<f32>,
    batch: usize,
    channels: usize,
    positions: usize,
    images_per_group: usize,
    count: f32,
    epsilon: f32,
    #[comptime] batch_statistics: bool,
) {
    let channel = CUBE_POS_Y as usize;
    let mut scratch = Shared::<[f32]>::new_slice(UNITS);
    let (sum, weighted, active_sum, active) =
        merged_gradient_sums(partials, &mut scratch, channel, CUBE_COUNT_X as usize);
    let mean = moments[channel];
    let inverse_std = 1.0f32 / f32::sqrt(moments[channels + channel] + epsilon);
    let gamma_gradient = weighted * inverse_std;
    if CUBE_POS_X == 0 && UNIT_POS == 0 {
        let mut bias_gradient = active_sum;
        if comptime!(batch_statistics) {
            let active_x_hat = (count - active) * mean * inverse_std;
            bias_gradient -= (active * sum + active_x_hat * gamma_gradient) / count;
        }
        bias_gradient *= gamma[channel] * inverse_std;
        parameter_gradients[channel] = gamma_gradient;
        parameter_gradients[channels + channel] = sum;
        parameter_gradients[2 * channels + channel] = bias_gradient;
    }

    let offset = bias[channel];
    let factor = gamma[channel] * inverse_std;
    let (first, values) = group_of_images(batch, positions, images_per_group);
    let mut index = UNIT_POS as usize;
    while index < values {
        let at = value_address(first, index, channel, channels, positions);
        let value = x[at] + offset;
        let mut gradient = output_gradient[at];
        if comptime!(batch_statistics) {
            let x_hat = (max(value, 0.0f32) - mean) * inverse_std;
            gradient -= (sum + x_hat * gamma_gradient) / count;
        }
        let mut result = 0.0f32;
        if value > 0.0f32 {
            result = factor * gradient;
        }
        x_gradient[at] = result;
        index += UNITS;
    }
}

/// One thread per value: `y = relu(x + bias) * scale + shift` with the channel's
/// `scale = gamma / sqrt(variance + epsilon)`, `shift = beta - mean * scale` (inference, with
/// the running statistics as `moments`).
#[cube(launch_unchecked)]
fn normalise_kernel(
    x: &Tensor<f32>,
    bias: &Tensor<f32>,
    gamma: &Tensor<f32>,
    beta: &Tensor<f32>,
    moments: &Tensor<f32>,
    output: &mut Tensor<f32>,
    channels: usize,
    positions: usize,
    epsilon: f32,
) {
    let position = ABSOLUTE_POS;
    if position >= output.len() {
        terminate!();
    }
    let channel = (position / positions) % channels;
    let scale = gamma[channel] / f32::sqrt(moments[channels + channel] + epsilon);
    let shift = beta[channel] - moments[channel] * scale;
    output[position] = max(x[position] + bias[channel], 0.0f32) * scale + shift;
}

/// `[batch, channels, positions]` of a `[batch, channels, ...]` shape.
fn layout(tensor: &CubeTensor) -> [usize; 3] {
    let dims = tensor.meta.shape().as_slice().to_vec();
    assert!(
        dims.len() >= 2,
        "batch norm needs [batch, channels, ...], got {dims:?}"
    );
    [dims[0], dims[1], dims[2..].iter().product()]
}

fn assert_f32(tensors: &[&CubeTensor]) {
    assert!(
        all_f32(tensors),
        "the GPU ReLU + batch norm kernels take f32 tensors (relu_batch_norm sends others to burn's layers)"
    );
}

/// Images per reducing workgroup, and the number of such groups per channel.
fn groups_of_images(batch: usize, positions: usize) -> (usize, usize) {
    let images_per_group = VALUES_PER_GROUP.div_ceil(positions.max(1)).clamp(1, batch.max(1));
    (images_per_group, batch.div_ceil(images_per_group))
}

/// Reducing workgroups: `groups` per channel (x), one row per channel (y).
fn per_group_and_channel(groups: usize, channels: usize) -> (CubeCount, CubeDim) {
    (
        CubeCount::Static(groups as u32, channels as u32, 1),
        CubeDim::new_1d(UNITS as u32),
    )
}

impl ReluBatchNormBackend for CubeBackend {
    fn relu_batch_norm_training(
        x: CubeTensor,
        bias: CubeTensor,
        gamma: CubeTensor,
        beta: CubeTensor,
        running_mean: CubeTensor,
        running_var: CubeTensor,
        momentum: f64,
        epsilon: f64,
    ) -> (CubeTensor, CubeTensor, CubeTensor, CubeTensor) {
        assert_f32(&[&x, &bias, &gamma, &beta, &running_mean, &running_var]);
        let [batch, channels, positions] = layout(&x);
        let [x, bias, gamma, beta, running_mean, running_var] =
            [x, bias, gamma, beta, running_mean, running_var].map(into_contiguous);
        let (images_per_group, groups) = groups_of_images(batch, positions);
        let partials = empty_f32(&x, [channels, groups, 3]);
        let moments = empty_f32(&x, [2, channels]);
        let output = output_like(&x).0;
        let [blended_mean, blended_var] = [&running_mean, &running_var].map(|running| output_like(running).0);
        let client = x.client.clone();
        let (cube_count, cube_dim) = per_group_and_channel(groups, channels);
        // SAFETY: each workgroup reads only the values of its own channel and images (inside the
        // contiguous input's shape) and its channel's bias, and writes its own three cells of
        // `partials`; the second kernel's workgroup reads its channel's cells, per-channel
        // values and its own values of `x`, and writes its own values of the output; the
        // channel's first workgroup alone writes its two moments and two blended statistics.
        unsafe {
            moment_partials_kernel::launch_unchecked(
                &client,
                cube_count.clone(),
                cube_dim,
                x.clone().into_tensor_arg(),
                bias.clone().into_tensor_arg(),
                partials.clone().into_tensor_arg(),
                batch,
                channels,
                positions,
                images_per_group,
            );
            merge_and_normalise_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                x.into_tensor_arg(),
                bias.into_tensor_arg(),
                gamma.into_tensor_arg(),
                beta.into_tensor_arg(),
                partials.into_tensor_arg(),
                running_mean.into_tensor_arg(),
                running_var.into_tensor_arg(),
                output.clone().into_tensor_arg(),
                moments.clone().into_tensor_arg(),
                blended_mean.clone().into_tensor_arg(),
                blended_var.clone().into_tensor_arg(),
                batch,
                channels,
                positions,
                images_per_group,
                (1.0 - momentum) as f32,
                momentum as f32,
                epsilon as f32,
            );
        }
        (output, moments, blended_mean, blended_var)
    }

    fn relu_batch_norm(
        x: CubeTensor,
        bias: CubeTensor,
        gamma: CubeTensor,
        beta: CubeTensor,
        moments: CubeTensor,
        epsilon: f64,
    ) -> CubeTensor {
        assert_f32(&[&x, &bias, &gamma, &beta, &moments]);
        let [_, channels, positions] = layout(&x);
        let [x, bias, gamma, beta, moments] = [x, bias, gamma, beta, moments].map(into_contiguous);
        let (output, cube_count, cube_dim) = output_like(&x);
        let client = output.client.clone();
        // SAFETY: one thread per output value, returning past the last; it reads the input at its
        // own index and the per-channel tensors at its channel.
        unsafe {
            normalise_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                x.into_tensor_arg(),
                bias.into_tensor_arg(),
                gamma.into_tensor_arg(),
                beta.into_tensor_arg(),
                moments.into_tensor_arg(),
                output.clone().into_tensor_arg(),
                channels,
                positions,
                epsilon as f32,
            );
        }
        output
    }

    fn relu_batch_norm_backward(
        x: CubeTensor,
        bias: CubeTensor,
        gamma: CubeTensor,
        moments: CubeTensor,
        output_gradient: CubeTensor,
        epsilon: f64,
        batch_statistics: bool,
    ) -> (CubeTensor, CubeTensor) {
        assert_f32(&[&x, &bias, &gamma, &moments, &output_gradient]);
        let [batch, channels, positions] = layout(&x);
        let [x, bias, gamma, moments, output_gradient] =
            [x, bias, gamma, moments, output_gradient].map(into_contiguous);
        let (images_per_group, groups) = groups_of_images(batch, positions);
        let partials = empty_f32(&x, [channels, groups, 4]);
        let x_gradient = output_like(&x).0;
        let parameter_gradients = empty_f32(&x, [3, channels]);
        let client = x.client.clone();
        let (cube_count, cube_dim) = per_group_and_channel(groups, channels);
        // SAFETY: as in `relu_batch_norm_training`, with four cells per group, and three
        // gradients per channel written by the channel's first workgroup.
        unsafe {
            gradient_partials_kernel::launch_unchecked(
                &client,
                cube_count.clone(),
                cube_dim,
                x.clone().into_tensor_arg(),
                bias.clone().into_tensor_arg(),
                output_gradient.clone().into_tensor_arg(),
                moments.clone().into_tensor_arg(),
                partials.clone().into_tensor_arg(),
                batch,
                channels,
                positions,
                images_per_group,
            );
            merge_and_input_gradient_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                x.into_tensor_arg(),
                bias.into_tensor_arg(),
                output_gradient.into_tensor_arg(),
                gamma.into_tensor_arg(),
                moments.into_tensor_arg(),
                partials.into_tensor_arg(),
                x_gradient.clone().into_tensor_arg(),
                parameter_gradients.clone().into_tensor_arg(),
                batch,
                channels,
                positions,
                images_per_group,
                (batch * positions) as f32,
                epsilon as f32,
                batch_statistics,
            );
        }
        (x_gradient, parameter_gradients)
    }
}
