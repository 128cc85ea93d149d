//! `idc-studio bench --layers`: where a CancerNet training step spends its time, one layer kind
//! at a time with the model's real shapes: forward plus backward (input and weight gradients),
//! the median of several runs after a warm-up. The rows add up to about one training step.

use std::time::Instant;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{BatchNormConfig, DropoutConfig, LinearConfig};
use burn::optim::{AdaGradConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Distribution;

use crate::model::{CancerNet, INPUT_CHANNELS, INPUT_SIDE};
use crate::ops::adagrad::FusedAdaGrad;
use crate::ops::dense::dense_product;
use crate::ops::depthwise::depthwise_conv3x3;
use crate::ops::dropout::dropout;
use crate::ops::max_pool::max_pool_2x2;
use crate::ops::pointwise::{pointwise_conv, pointwise_product, pointwise_product_channels_last};
use crate::ops::relu_batch_norm::batch_norm_from_sums;
use crate::ops::relu_batch_norm::{per_channel, relu_batch_norm_after_bias};
use crate::ops::uses_cpu_kernels;

/// One layer of CancerNet at its place in the network: what it is and its input shape.
struct LayerCase {
    name: String,
    /// False for a formulation shown only for comparison (the model uses another).
    in_model: bool,
    /// For a comparison row: whether it differs from what the model runs on a GPU too (every
    /// one of burn's layers does, and so does the other 1x1 formulation).
    differs_on_gpu: bool,
    input: [usize; 4],
    forward: Box<dyn Fn(Tensor<4>) -> Tensor<4>>,
}

fn cases(device: &Device) -> Vec<LayerCase> {
    let mut cases = Vec::new();
    // (channels in, channels out, side) of every separable conv unit, then the pools.
    let units = [
        (3, 32, 48),
        (32, 64, 24),
        (64, 64, 24),
        (64, 128, 12),
        (128, 128, 12),
        (128, 128, 12),
    ];
    for (channels_in, channels_out, side) in units {
        let depthwise = Conv2dConfig::new([channels_in, channels_in], [3, 3])
            .with_groups(channels_in)
            .with_padding(PaddingConfig2d::Same)
            .with_bias(false)
            .init(device);
        cases.push(LayerCase {
            name: format!("(burn's depthwise 3x3, {channels_in} ch, {side}x{side})"),
            in_model: false,
            differs_on_gpu: true,
            input: [0, channels_in, side, side],
            forward: Box::new({
                let depthwise = depthwise.clone();
                move |x| depthwise.forward(x)
            }),
        });
        cases.push(LayerCase {
            name: format!("depthwise 3x3, {channels_in} ch, {side}x{side}"),
            in_model: true,
            differs_on_gpu: false,
            input: [0, channels_in, side, side],
            forward: Box::new(move |x| depthwise_conv3x3(&depthwise, x)),
        });
        let pointwise = Conv2dConfig::new([channels_in, channels_out], [1, 1]).init(device);
        cases.push(LayerCase {
            name: format!("(burn's conv2d 1x1, {channels_in}->{channels_out}, {side}x{side})"),
            in_model: false,
            differs_on_gpu: true,
            input: [0, channels_in, side, side],
            forward: Box::new(move |x| pointwise.forward(x)),
        });
        let channels_last = Conv2dConfig::new([channels_in, channels_out], [1, 1]).init(device);
        cases.push(LayerCase {
            name: format!("(1x1 channels-last matmul, {channels_in}->{channels_out}, {side}x{side})"),
            in_model: false,
            differs_on_gpu: true,
            input: [0, channels_in, side, side],
            forward: Box::new(move |x| pointwise_product_channels_last(&channels_last, x)),
        });
        let as_matmul = Conv2dConfig::new([channels_in, channels_out], [1, 1]).init(device);
        cases.push(LayerCase {
            name: format!("(1x1 as burn's batched matmul, {channels_in}->{channels_out}, {side}x{side})"),
            in_model: false,
            // On a GPU this is the model's own (below).
            differs_on_gpu: false,
            input: [0, channels_in, side, side],
            forward: Box::new(move |x| pointwise_product(&as_matmul, x)),
        });
        let ours = Conv2dConfig::new([channels_in, channels_out], [1, 1]).init(device);
        cases.push(LayerCase {
            name: format!("pointwise 1x1, {channels_in}->{channels_out}, {side}x{side}"),
            in_model: true,
            differs_on_gpu: false,
            input: [0, channels_in, side, side],
            forward: Box::new(move |x| pointwise_conv(&ours, x)),
        });
        // Each adds the 1x1's bias first, as the model does (its own kernels in the same pass).
        let bias = || Tensor::<1>::random([channels_out], Distribution::Default, device);
        let (norm, shift) = (BatchNormConfig::new(channels_out).init(device), bias());
        cases.push(LayerCase {
            name: format!("(burn's bias, ReLU + batch norm, {channels_out} ch, {side}x{side})"),
            in_model: false,
            differs_on_gpu: true,
            input: [0, channels_out, side, side],
            forward: Box::new(move |x| {
                norm.forward(burn::tensor::activation::relu(
                    x + per_channel::<4>(shift.clone()),
                ))
            }),
        });
        let (norm, shift) = (BatchNormConfig::new(channels_out).init(device), bias());
        cases.push(LayerCase {
            name: format!("(bias, ReLU + batch norm from sums, {channels_out} ch, {side}x{side})"),
            in_model: false,
            differs_on_gpu: true,
            input: [0, channels_out, side, side],
            forward: Box::new(move |x| {
                batch_norm_from_sums(
                    &norm,
                    burn::tensor::activation::relu(x + per_channel::<4>(shift.clone())),
                )
            }),
        });
        let (norm, shift) = (BatchNormConfig::new(channels_out).init(device), bias());
        cases.push(LayerCase {
            name: format!("bias, ReLU + batch norm fused, {channels_out} ch, {side}x{side}"),
            in_model: true,
            differs_on_gpu: false,
            input: [0, channels_out, side, side],
            forward: Box::new(move |x| relu_batch_norm_after_bias(&norm, x, shift.clone())),
        });
    }
    for (channels, side) in [(32, 48), (64, 24), (128, 12)] {
        let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
        cases.push(LayerCase {
            name: format!("(burn's max pool 2x2, {channels} ch, {side}x{side})"),
            in_model: false,
            differs_on_gpu: true,
            input: [0, channels, side, side],
            forward: Box::new({
                let pool = pool.clone();
                move |x| pool.forward(x)
            }),
        });
        cases.push(LayerCase {
            name: format!("max pool 2x2, {channels} ch, {side}x{side}"),
            in_model: true,
            differs_on_gpu: false,
            input: [0, channels, side, side],
            forward: Box::new(move |x| max_pool_2x2(&pool, x)),
        });
    }
    for (channels, side) in [(32, 24), (64, 12), (128, 6)] {
        let layer = DropoutConfig::new(0.25).init();
        cases.push(LayerCase {
            name: format!("(burn's dropout 0.25, {channels} ch, {side}x{side})"),
            in_model: false,
            differs_on_gpu: true,
            input: [0, channels, side, side],
            forward: Box::new(move |x| layer.forward(x)),
        });
        let layer = DropoutConfig::new(0.25).init();
        cases.push(LayerCase {
            name: format!("dropout 0.25, {channels} ch, {side}x{side}"),
            in_model: true,
            differs_on_gpu: false,
            input: [0, channels, side, side],
            forward: Box::new(move |x| dropout(&layer, x)),
        });
    }
    // The dense layer's product alone (inside the head below), burn's and the model's.
    for (name, product) in [
        (
            "(dense 4608->256 product alone, burn's)",
            burns_dense as DenseProduct,
        ),
        ("(dense 4608->256 product alone, the model's)", dense_product),
    ] {
        let dense = LinearConfig::new(128 * 6 * 6, 256).init(device);
        cases.push(LayerCase {
            name: name.to_string(),
            in_model: false,
            differs_on_gpu: false,
            input: [0, 128, 6, 6],
            forward: Box::new(move |x| {
                let output = product(x.flatten(1, 3), dense.weight.val());
                let [batch, units] = output.dims();
                output.reshape([batch, units, 1, 1])
            }),
        });
    }
    // The head as CancerNet has it: dense, ReLU, batch norm, dropout, classifier.
    let dense = LinearConfig::new(128 * 6 * 6, 256).init(device);
    let norm = BatchNormConfig::new(256).init(device);
    let head_dropout = DropoutConfig::new(0.5).init();
    let classifier = LinearConfig::new(256, 2).init(device);
    cases.push(LayerCase {
        name: "dense head 4608->256->2".to_string(),
        in_model: true,
        differs_on_gpu: false,
        input: [0, 128, 6, 6],
        forward: Box::new(move |x| {
            let x: Tensor<2> = x.flatten(1, 3);
            let product = dense_product(x, dense.weight.val());
            let bias = dense.bias.as_ref().expect("a dense layer with a bias").val();
            let x = relu_batch_norm_after_bias(&norm, product, bias);
            let logits = classifier.forward(dropout(&head_dropout, x));
            let [batch, classes] = logits.dims();
            logits.reshape([batch, classes, 1, 1])
        }),
    });
    cases
}

/// A dense layer's product without its bias, `x [batch, in]` times `weight [in, out]`.
type DenseProduct = fn(Tensor<2>, Tensor<2>) -> Tensor<2>;

fn burns_dense(x: Tensor<2>, weight: Tensor<2>) -> Tensor<2> {
    burn::tensor::module::linear(x, weight, None)
}

/// Median milliseconds of `runs` calls of `work`, after one warm-up call.
fn median_ms(runs: usize, mut work: impl FnMut()) -> f64 {
    work();
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Prints milliseconds per layer for a batch of `batch_size` on `device` (made autodiff here).
pub fn run(device: &Device, batch_size: usize, runs: usize) -> anyhow::Result<()> {
    // Comparison rows are shown where they differ from the model's layers: all of them on the
    // CPU, those marked `differs_on_gpu` on a GPU (every extra row costs a GPU a kernel search).
    let on_cpu = uses_cpu_kernels(device);
    let device = device.clone().autodiff();
    let cases: Vec<LayerCase> = cases(&device)
        .into_iter()
        .filter(|case| case.in_model || on_cpu || case.differs_on_gpu)
        .collect();
    let mut total_ms = 0.0;
    println!("layer times, batch {batch_size}, forward + backward, median of {runs}:");
    let round_trip = median_ms(runs, || {
        let tiny = Tensor::<1>::from_data(TensorData::new(vec![1.0f32], [1]), &device);
        std::hint::black_box(tiny.sum().into_scalar::<f32>());
    });
    println!(
        "  {:<46} {round_trip:>8.2} ms  (part of every row below)",
        "(read one number back from the device)"
    );
    for case in &cases {
        let [_, channels, height, width] = case.input;
        let mut times = Vec::new();
        for run in 0..runs + 1 {
            // Made on the host, so that only the layer's own work is timed.
            let values: Vec<f32> = (0..batch_size * channels * height * width)
                .map(|i| ((i * 7919 + run * 104_729) % 1000) as f32 / 1000.0 - 0.5)
                .collect();
            let data = TensorData::new(values, [batch_size, channels, height, width]);
            let input = Tensor::<4>::from_data(data, &device).require_grad();
            std::hint::black_box(input.clone().sum().into_scalar::<f32>());
            let started = Instant::now();
            let output = (case.forward)(input.clone());
            let gradients = output.sum().backward();
            let gradient = input
                .grad(&gradients)
                .ok_or_else(|| anyhow::anyhow!("{}: no input gradient", case.name))?;
            // Reading a value back waits for the work to be done.
            std::hint::black_box(gradient.sum().into_scalar::<f32>());
            if run > 0 {
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        if case.in_model {
            total_ms += median;
        }
        println!("  {:<46} {median:>8.2} ms", case.name);
    }
    println!("  {:<46} {total_ms:>8.2} ms", "sum of the model's layers");
    for (name, in_model, optimizer) in [
        (
            "(burn's AdaGrad, all of CancerNet's parameters)",
            false,
            AdaGradConfig::new().init(),
        ),
        (
            "AdaGrad fused, all of CancerNet's parameters",
            true,
            ModuleOptimizer::from(FusedAdaGrad::new(0.0)),
        ),
    ] {
        let median = optimizer_step_ms(optimizer, &device, batch_size, runs)?;
        if in_model {
            total_ms += median;
        }
        println!("  {name:<46} {median:>8.2} ms");
    }
    println!("  {:<46} {total_ms:>8.2} ms", "sum with the optimiser");
    Ok(())
}

/// Median milliseconds of one optimiser step over a fresh CancerNet's parameters, each after a
/// forward and backward pass on a batch (not timed), the second step on (so that each parameter
/// has its state, as in training), until the parameters are read back.
fn optimizer_step_ms(
    mut optimizer: ModuleOptimizer,
    device: &Device,
    batch_size: usize,
    runs: usize,
) -> anyhow::Result<f64> {
    let mut model = CancerNet::new(device);
    let mut times = Vec::new();
    for run in 0..runs + 2 {
        let images = Tensor::<4>::from_data(
            TensorData::new(
                (0..batch_size * INPUT_CHANNELS * INPUT_SIDE * INPUT_SIDE)
                    .map(|i| ((i * 7919 + run * 104_729) % 1000) as f32 / 1000.0)
                    .collect::<Vec<f32>>(),
                [batch_size, INPUT_CHANNELS, INPUT_SIDE, INPUT_SIDE],
            ),
            device,
        );
        let gradients = GradientsParams::from_grads(model.forward(images).sum().backward(), &model);
        std::hint::black_box(gradients.len());
        // Everything before the step is done before the clock starts.
        device.sync().map_err(|error| anyhow::anyhow!("{error:?}"))?;
        let started = Instant::now();
        model = optimizer.step(0.01, model, gradients);
        device.sync().map_err(|error| anyhow::anyhow!("{error:?}"))?;
        if run >= 2 {
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}
