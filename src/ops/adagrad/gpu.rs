//! AdaGrad's fused step (adagrad.rs) on a GPU (burn's cubecl backend): one thread per value
//! writes both the new running sum and the new parameter. It writes new tensors rather than
//! overwrite its inputs, as burn's own operations on this backend may: its memory pool makes the
//! allocation cheap, and what counts on a GPU is one launch per parameter in place of seven
//! operations for the host to record and submit.

use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::{AdaGradBackend, GROUP, burns_step};
use crate::ops::gpu_launch::{all_f32, one_thread_each, output_like};

/// `new_sum = sum + gradient * gradient`, then
/// `new_parameter = parameter - gradient / (sqrt(new_sum) + epsilon) * learning_rate`.
#[cube(launch_unchecked)]
fn step_kernel(
    parameter: &Tensor<f32>,
    gradient: &Tensor<f32>,
    sum: &Tensor<f32>,
    new_parameter: &mut Tensor<f32>,
    new_sum: &mut Tensor<f32>,
    learning_rate: f32,
    epsilon: f32,
) {
    let position = ABSOLUTE_POS;
    if position >= new_parameter.len() {
        terminate!();
    }
    step_value(
        parameter,
        gradient,
        sum,
        new_parameter,
        new_sum,
        position,
        learning_rate,
        epsilon,
    );
}

/// One value's step, as [`step_kernel`]'s.
#[cube]
#[allow(clippy::too_many_arguments)]
fn step_value(
    parameter: &Tensor<f32>,
    gradient: &Tensor<f32>,
    sum: &Tensor<f32>,
    new_parameter: &mut Tensor<f32>,
    new_sum: &mut Tensor<f32>,
    position: usize,
    learning_rate: f32,
    epsilon: f32,
) {
    let value = gradient[position];
    let accumulated = sum[position] + value * value;
    new_sum[position] = accumulated;
    new_parameter[position] =
        parameter[position] - value / (f32::sqrt(accumulated) + epsilon) * learning_rate;
}

/// Six parameters' steps, one thread per value of all six: the values of parameter `i` are
/// positions `e(i-1)..e(i)` (from 0), so no thread idles whatever the sizes (one of
/// CancerNet's parameters, the dense layer's weight, has 1.2 million values, most have hundreds).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn step_group_kernel(
    p0: &Tensor<f32>,
    g0: &Tensor<f32>,
    s0: &Tensor<f32>,
    new_p0: &mut Tensor<f32>,
    new_s0: &mut Tensor<f32>,
    p1: &Tensor<f32>,
    g1: &Tensor<f32>,
    s1: &Tensor<f32>,
    new_p1: &mut Tensor<f32>,
    new_s1: &mut Tensor<f32>,
    p2: &Tensor<f32>,
    g2: &Tensor<f32>,
    s2: &Tensor<f32>,
    new_p2: &mut Tensor<f32>,
    new_s2: &mut Tensor<f32>,
    p3: &Tensor<f32>,
    g3: &Tensor<f32>,
    s3: &Tensor<f32>,
    new_p3: &mut Tensor<f32>,
    new_s3: &mut Tensor<f32>,
    p4: &Tensor<f32>,
    g4: &Tensor<f32>,
    s4: &Tensor<f32>,
    new_p4: &mut Tensor<f32>,
    new_s4: &mut Tensor<f32>,
    p5: &Tensor<f32>,
    g5: &Tensor<f32>,
    s5: &Tensor<f32>,
    new_p5: &mut Tensor<f32>,
    new_s5: &mut Tensor<f32>,
    r0: f32,
    r1: f32,
    r2: f32,
    r3: f32,
    r4: f32,
    r5: f32,
    e0: u32,
    e1: u32,
    e2: u32,
    e3: u32,
    e4: u32,
    e5: u32,
    epsilon: f32,
) {
    let position = ABSOLUTE_POS as u32;
    if position < e0 {
        step_value(p0, g0, s0, new_p0, new_s0, position as usize, r0, epsilon);
    } else if position < e1 {
        let at = (position - e0) as usize;
        step_value(p1, g1, s1, new_p1, new_s1, at, r1, epsilon);
    } else if position < e2 {
        let at = (position - e1) as usize;
        step_value(p2, g2, s2, new_p2, new_s2, at, r2, epsilon);
    } else if position < e3 {
        let at = (position - e2) as usize;
        step_value(p3, g3, s3, new_p3, new_s3, at, r3, epsilon);
    } else if position < e4 {
        let at = (position - e3) as usize;
        step_value(p4, g4, s4, new_p4, new_s4, at, r4, epsilon);
    } else if position < e5 {
        let at = (position - e4) as usize;
        step_value(p5, g5, s5, new_p5, new_s5, at, r5, epsilon);
    }
}

impl AdaGradBackend for CubeBackend {
    fn adagrad_step(
        parameter: CubeTensor,
        gradient: CubeTensor,
        sum: CubeTensor,
        learning_rate: f64,
        epsilon: f32,
    ) -> (CubeTensor, CubeTensor) {
        if !all_f32(&[&parameter, &gradient, &sum]) {
            return burns_step::<Self>(parameter, gradient, sum, learning_rate, epsilon);
        }
        let [parameter, gradient, sum] = [parameter, gradient, sum].map(into_contiguous);
        let (new_parameter, cube_count, cube_dim) = output_like(&parameter);
        let (new_sum, ..) = output_like(&sum);
        let client = new_parameter.client.clone();
        // SAFETY: one thread per value of five contiguous tensors of one shape; threads past
        // the last return at once.
        unsafe {
            step_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                parameter.into_tensor_arg(),
                gradient.into_tensor_arg(),
                sum.into_tensor_arg(),
                new_parameter.clone().into_tensor_arg(),
                new_sum.clone().into_tensor_arg(),
                // burn multiplies an f32 tensor by the f64 rate as an f32.
                learning_rate as f32,
                epsilon,
            );
        }
        (new_parameter, new_sum)
    }

    fn adagrad_step_group(
        p0: CubeTensor,
        g0: CubeTensor,
        s0: CubeTensor,
        p1: CubeTensor,
        g1: CubeTensor,
        s1: CubeTensor,
        p2: CubeTensor,
        g2: CubeTensor,
        s2: CubeTensor,
        p3: CubeTensor,
        g3: CubeTensor,
        s3: CubeTensor,
        p4: CubeTensor,
        g4: CubeTensor,
        s4: CubeTensor,
        p5: CubeTensor,
        g5: CubeTensor,
        s5: CubeTensor,
        rates: [f64; GROUP],
        epsilon: f32,
    ) -> (
        (CubeTensor, CubeTensor),
        (CubeTensor, CubeTensor),
        (CubeTensor, CubeTensor),
        (CubeTensor, CubeTensor),
        (CubeTensor, CubeTensor),
        (CubeTensor, CubeTensor),
    ) {
        let slots = [
            [p0, g0, s0],
            [p1, g1, s1],
            [p2, g2, s2],
            [p3, g3, s3],
            [p4, g4, s4],
            [p5, g5, s5],
        ];
        // Five buffers a parameter and one for the scalars; a device that binds fewer (Metal
        // binds 31) steps each parameter on its own.
        let bindings = GROUP * 5 + 1;
        let fits = slots[0][0].client.properties().hardware.max_bindings as usize >= bindings;
        if !fits || !slots.iter().all(|slot| all_f32(&slot.each_ref())) {
            let [a, b, c, d, e, f] = std::array::from_fn(|index| {
                let [parameter, gradient, sum] = slots[index].clone();
                Self::adagrad_step(parameter, gradient, sum, rates[index], epsilon)
            });
            return (a, b, c, d, e, f);
        }
        let slots = slots.map(|slot| slot.map(into_contiguous));
        let outputs = slots
            .each_ref()
            .map(|[parameter, _, sum]| (output_like(parameter).0, output_like(sum).0));
        // Where each parameter's values end among all six's, in order.
        let mut ends = [0u32; GROUP];
        let mut total = 0usize;
        for (end, [parameter, ..]) in ends.iter_mut().zip(&slots) {
            total += parameter.meta.shape().num_elements();
            *end = u32::try_from(total).expect("fewer than 2^32 values in six parameters");
        }
        launch_step_group(slots, outputs.clone(), rates, ends, total, epsilon);
        let [a, b, c, d, e, f] = outputs;
        (a, b, c, d, e, f)
    }
}

/// Launches one AdaGrad step of six parameters (`slots`: parameter, gradient, sum) into
/// `outputs` (new parameter, new sum), one thread a value; `ends` says where each parameter's
/// values end among the `total`.
fn launch_step_group(
    slots: [[CubeTensor; 3]; GROUP],
    outputs: [(CubeTensor, CubeTensor); GROUP],
    rates: [f64; GROUP],
    ends: [u32; GROUP],
    total: usize,
    epsilon: f32,
) {
    let client = outputs[0].0.client.clone();
    let (cube_count, cube_dim) = one_thread_each(&outputs[0].0, total);
    let [
        [p0, g0, s0],
        [p1, g1, s1],
        [p2, g2, s2],
        [p3, g3, s3],
        [p4, g4, s4],
        [p5, g5, s5],
    ] = slots;
    let [o0, o1, o2, o3, o4, o5] = outputs;
    // burn multiplies an f32 tensor by the f64 rate as an f32.
    let [r0, r1, r2, r3, r4, r5] = rates.map(|rate| rate as f32);
    let [e0, e1, e2, e3, e4, e5] = ends;
    // SAFETY: one thread per value of the six parameters, each reading and writing only its
    // own parameter's five contiguous tensors of one shape, at its position among them;
    // threads past the last value do nothing.
    unsafe {
        step_group_kernel::launch_unchecked(
            &client,
            cube_count,
            cube_dim,
            p0.into_tensor_arg(),
            g0.into_tensor_arg(),
            s0.into_tensor_arg(),
            o0.0.into_tensor_arg(),
            o0.1.into_tensor_arg(),
            p1.into_tensor_arg(),
            g1.into_tensor_arg(),
            s1.into_tensor_arg(),
            o1.0.into_tensor_arg(),
            o1.1.into_tensor_arg(),
            p2.into_tensor_arg(),
            g2.into_tensor_arg(),
            s2.into_tensor_arg(),
            o2.0.into_tensor_arg(),
            o2.1.into_tensor_arg(),
            p3.into_tensor_arg(),
            g3.into_tensor_arg(),
            s3.into_tensor_arg(),
            o3.0.into_tensor_arg(),
            o3.1.into_tensor_arg(),
            p4.into_tensor_arg(),
            g4.into_tensor_arg(),
            s4.into_tensor_arg(),
            o4.0.into_tensor_arg(),
            o4.1.into_tensor_arg(),
            p5.into_tensor_arg(),
            g5.into_tensor_arg(),
            s5.into_tensor_arg(),
            o5.0.into_tensor_arg(),
            o5.1.into_tensor_arg(),
            r0,
            r1,
            r2,
            r3,
            r4,
            r5,
            e0,
            e1,
            e2,
            e3,
            e4,
            e5,
            epsilon,
        );
    }
}
