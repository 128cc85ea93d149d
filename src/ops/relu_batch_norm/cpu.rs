//! ReLU + batch norm on burn's flex backend (the CPU): the trait's three operations over
//! contiguous f32 values, the kernels in `cpu_kernels.rs`.

use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::{Flex, TensorMetadata};
use burn::prelude::*;
use burn::tensor::{DType, FloatDType};

use super::ReluBatchNormBackend;
use super::cpu_kernels::{
    Affine, ChainCoefficients, Coefficients, channel_moments, input_gradient, normalise, normalise_in_place,
    parameter_gradients, scale_and_shift,
};

/// A flex tensor's values as contiguous f32 (CancerNet trains in f32; others are converted).
pub(super) fn f32_values(tensor: FlexTensor) -> (FlexTensor, DType) {
    let dtype = tensor.dtype();
    let tensor = if dtype == DType::F32 {
        tensor
    } else {
        Flex::float_cast(tensor, FloatDType::F32)
    };
    (tensor.to_contiguous(), dtype)
}

pub(super) fn slice(tensor: &FlexTensor) -> &[f32] {
    tensor
        .as_slice::<f32>()
        .expect("a contiguous f32 tensor has a slice view")
}

pub(super) fn flex_tensor(values: Vec<f32>, shape: Shape, dtype: DType) -> FlexTensor {
    let tensor = FlexTensor::from_data(TensorData::new(values, shape));
    match dtype {
        DType::F32 => tensor,
        DType::F64 => Flex::float_cast(tensor, FloatDType::F64),
        DType::F16 => Flex::float_cast(tensor, FloatDType::F16),
        DType::BF16 => Flex::float_cast(tensor, FloatDType::BF16),
        _ => tensor,
    }
}

/// `[batch, channels, positions]` of a `[batch, channels, ...]` shape.
pub(super) fn layout(shape: &Shape) -> [usize; 3] {
    let dims = shape.as_slice();
    assert!(
        dims.len() >= 2,
        "batch norm needs [batch, channels, ...], got {dims:?}"
    );
    [dims[0], dims[1], dims[2..].iter().product()]
}

/// The batch's moments `[2, channels]` and the running statistics moved toward them.
pub(super) fn flex_channel_moments(
    x: FlexTensor,
    bias: FlexTensor,
    running_mean: FlexTensor,
    running_var: FlexTensor,
    momentum: f64,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let shape = x.shape();
    let (x, dtype) = f32_values(x);
    let (bias, _) = f32_values(bias);
    let [_, channels, _] = layout(&shape);
    let moments = channel_moments(slice(&x), slice(&bias), layout(&shape));
    let (keep, momentum) = ((1.0 - momentum) as f32, momentum as f32);
    let blend = |running: FlexTensor, row: usize| {
        let shape = running.shape();
        let (running, dtype) = f32_values(running);
        let running = slice(&running);
        let batch = &moments[row * running.len()..][..running.len()];
        let blended = running
            .iter()
            .zip(batch)
            .map(|(&running, &batch)| running * keep + batch * momentum)
            .collect();
        flex_tensor(blended, shape, dtype)
    };
    let (running_mean, running_var) = (blend(running_mean, 0), blend(running_var, 1));
    (
        flex_tensor(moments, [2, channels].into(), dtype),
        running_mean,
        running_var,
    )
}

impl ReluBatchNormBackend for Flex {
    fn relu_batch_norm_training(
        x: FlexTensor,
        bias: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        running_mean: FlexTensor,
        running_var: FlexTensor,
        momentum: f64,
        epsilon: f64,
    ) -> (FlexTensor, FlexTensor, FlexTensor, FlexTensor) {
        let (moments, running_mean, running_var) =
            flex_channel_moments(x.clone(), bias.clone(), running_mean, running_var, momentum);
        let output = Self::relu_batch_norm(x, bias, gamma, beta, moments.clone(), epsilon);
        (output, moments, running_mean, running_var)
    }

    fn relu_batch_norm(
        x: FlexTensor,
        bias: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        moments: FlexTensor,
        epsilon: f64,
    ) -> FlexTensor {
        let shape = x.shape();
        let (x, dtype) = f32_values(x);
        let (bias, _) = f32_values(bias);
        let (gamma, _) = f32_values(gamma);
        let (beta, _) = f32_values(beta);
        let (moments, _) = f32_values(moments);
        let coefficients = Coefficients::new(slice(&moments), epsilon);
        let (scale, shift) = scale_and_shift(slice(&gamma), slice(&beta), &coefficients);
        let affine = Affine {
            bias: slice(&bias),
            scale: &scale,
            shift: &shift,
        };
        // In inference nothing else holds the input (autodiff keeps it in training): then the
        // output takes its place, saving a buffer as large as the activation and its zeroing.
        if dtype == DType::F32 && x.is_unique() && x.storage::<f32>().len() == shape.num_elements() {
            let mut x = x;
            normalise_in_place(x.storage_mut::<f32>(), &affine, layout(&shape));
            return x;
        }
        let output = normalise(slice(&x), &affine, layout(&shape));
        flex_tensor(output, shape, dtype)
    }

    fn relu_batch_norm_backward(
        x: FlexTensor,
        bias: FlexTensor,
        gamma: FlexTensor,
        moments: FlexTensor,
        output_gradient: FlexTensor,
        epsilon: f64,
        batch_statistics: bool,
    ) -> (FlexTensor, FlexTensor) {
        let shape = x.shape();
        let (x, dtype) = f32_values(x);
        let (bias, _) = f32_values(bias);
        let (gamma, _) = f32_values(gamma);
        let (moments, _) = f32_values(moments);
        let (output_gradient, _) = f32_values(output_gradient);
        let coefficients = Coefficients::new(slice(&moments), epsilon);
        let [batch, channels, positions] = layout(&shape);
        let parameter_gradients = parameter_gradients(
            slice(&x),
            slice(&bias),
            slice(&gamma),
            &coefficients,
            slice(&output_gradient),
            [batch, channels, positions],
            batch_statistics,
        );
        let chain = ChainCoefficients::new(
            slice(&gamma),
            &coefficients,
            &parameter_gradients,
            (batch * positions) as f32,
            batch_statistics,
        );
        let x_gradient = input_gradient(
            slice(&x),
            slice(&bias),
            &chain,
            slice(&output_gradient),
            [batch, channels, positions],
        );
        (
            flex_tensor(x_gradient, shape, dtype),
            flex_tensor(parameter_gradients, [3, channels].into(), dtype),
        )
    }
}
