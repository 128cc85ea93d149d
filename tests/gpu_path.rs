//! The GPU code path (burn's wgpu backend), exercised on Mesa's software Vulkan adapter
//! (lavapipe) with tiny shapes: the path a user with a GPU takes is never untested.

mod common;

use common::small_demo;
use idc_studio::model::cancernet::BatchNormSettings;
use idc_studio::model::{CancerNet, DeviceChoice, select_device};
use idc_studio::training::adagrad::FusedAdaGrad;
use idc_studio::training::batches::HostBatch;
use idc_studio::training::evaluate::{PendingPredictions, load_model, predict_batch};
use idc_studio::training::loss::{correct_predictions, weighted_cross_entropy};
use idc_studio::training::step::Learner;

use burn::module::{Module, Param, RunningState};
use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use idc_studio::model::depthwise::depthwise_conv3x3;
use idc_studio::model::dropout::dropout_by_hash;
use idc_studio::model::max_pool::max_pool_2x2;
use idc_studio::model::relu_batch_norm::{per_channel, relu_batch_norm, relu_batch_norm_after_bias};

#[test]
fn cancernet_gives_the_same_outputs_on_the_gpu_path_as_on_the_cpu_and_trains_there() {
    let gpu = select_device(DeviceChoice::SoftwareGpu)
        .expect("the GPU path test needs a Vulkan adapter: apt-get install mesa-vulkan-drivers libvulkan1");
    assert!(!gpu.is_gpu, "lavapipe is a software adapter: {}", gpu.description);
    let cpu = select_device(DeviceChoice::Cpu).unwrap();

    // One set of weights, loaded on both devices.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.bpk");
    CancerNet::new(&cpu.device).save_file(&path).unwrap();
    let on_cpu = load_model(&path, BatchNormSettings::MODEL, &cpu.device).unwrap();
    let on_gpu = load_model(&path, BatchNormSettings::MODEL, &gpu.device).unwrap();

    let store = &small_demo().store;
    let batch = HostBatch::build(store, &[0, 1, 2], 4, None);
    let expected = predict_batch(&on_cpu, batch.clone(), &cpu.device).unwrap();
    let actual = predict_batch(&on_gpu, batch.clone(), &gpu.device).unwrap();
    assert_eq!(actual.len(), 3);
    for (a, b) in actual.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-4, "gpu {actual:?} vs cpu {expected:?}");
    }

    // A training step runs and gives a finite loss.
    let learner = Learner::new(&gpu.device, 1e-2, 2.5e-4, [1.0, 2.5], BatchNormSettings::MODEL);
    let (_, outcome) = learner.step(batch.clone()).unwrap();
    assert!(
        outcome.loss.is_finite() && outcome.loss > 0.0,
        "loss {}",
        outcome.loss
    );
}

/// Values that are not all alike, so a misplaced tap or a swapped axis shows.
fn ramp(seed: usize, dims: [usize; 4], device: &Device) -> Tensor<4> {
    let values: Vec<f32> = (0..dims.iter().product::<usize>())
        .map(|i| ((i * seed) % 23) as f32 / 11.0 - 1.0)
        .collect();
    Tensor::<4>::from_data(TensorData::new(values, dims), device)
}

fn max_difference(a: Tensor<4>, b: Tensor<4>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

#[test]
fn our_gpu_depthwise_kernels_match_burns_convolution_forward_and_backward() {
    let gpu = select_device(DeviceChoice::SoftwareGpu)
        .expect("the GPU path test needs a Vulkan adapter: apt-get install mesa-vulkan-drivers libvulkan1");
    let device = gpu.device.autodiff();
    // Odd sizes, and more threads than one workgroup holds for the forward kernel.
    let dims @ [_, channels, _, _] = [3, 5, 7, 6];
    let conv = Conv2dConfig::new([channels, channels], [3, 3])
        .with_groups(channels)
        .with_padding(PaddingConfig2d::Same)
        .with_bias(false)
        .init(&device);
    let x = ramp(37, dims, &device).require_grad();
    let output_weights = ramp(53, dims, &device);

    let ours = depthwise_conv3x3(&conv, x.clone());
    let burns = conv.forward(x.clone());
    let forward_difference = max_difference(ours.clone(), burns.clone());

    let our_gradients = (ours * output_weights.clone()).sum().backward();
    let burn_gradients = (burns * output_weights).sum().backward();
    let input_difference = max_difference(x.grad(&our_gradients).unwrap(), x.grad(&burn_gradients).unwrap());
    let weight = conv.weight.val();
    let weight_difference = max_difference(
        weight.grad(&our_gradients).unwrap(),
        weight.grad(&burn_gradients).unwrap(),
    );
    assert!(
        forward_difference < 1e-5 && input_difference < 1e-4 && weight_difference < 1e-4,
        "outputs differ by {forward_difference}, input gradients by {input_difference}, \
         weight gradients by {weight_difference}"
    );
}

/// The weight gradient of our depthwise kernels for `dims` on `device`, after a loss that weighs
/// each output differently.
fn depthwise_weight_gradient(dims: [usize; 4], device: &Device) -> Vec<f32> {
    let device = device.clone().autodiff();
    let channels = dims[1];
    let conv = Conv2dConfig::new([channels, channels], [3, 3])
        .with_groups(channels)
        .with_padding(PaddingConfig2d::Same)
        .with_bias(false)
        .init(&device);
    let output = depthwise_conv3x3(&conv, ramp(37, dims, &device).require_grad());
    let gradients = (output * ramp(53, dims, &device)).sum().backward();
    let gradient = conv.weight.val().grad(&gradients).unwrap();
    gradient.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn gpu_depthwise_weight_gradient_sums_a_whole_batch_as_the_cpu_does() {
    // A batch of 64 at CancerNet's first depthwise size: thousands of partial sums per tap, where
    // a lost or doubled one shows. (burn's own grouped convolution on lavapipe is off here:
    // by 6.6 of 26,811 at this size, by 61,072 of 107,243 at batch 256.)
    let gpu = select_device(DeviceChoice::SoftwareGpu)
        .expect("the GPU path test needs a Vulkan adapter: apt-get install mesa-vulkan-drivers libvulkan1");
    let cpu = select_device(DeviceChoice::Cpu).unwrap();
    let dims = [64, 4, 48, 48];
    let on_gpu = depthwise_weight_gradient(dims, &gpu.device);
    let on_cpu = depthwise_weight_gradient(dims, &cpu.device);
    let largest = on_cpu
        .iter()
        .fold(0f32, |largest, value| largest.max(value.abs()));
    let difference = on_gpu
        .iter()
        .zip(&on_cpu)
        .fold(0f32, |largest, (a, b)| largest.max((a - b).abs()));
    assert!(
        difference <= largest * 1e-5,
        "GPU and CPU weight gradients differ by {difference} (largest value {largest})"
    );
}

/// Our 2x2 max pooling on `device`: the output and the input's gradient under a loss that weighs
/// each output differently, as flat values.
fn max_pooled(values: &[f32], dims: [usize; 4], device: &Device) -> [Vec<f32>; 2] {
    let device = device.clone().autodiff();
    let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
    let x = Tensor::<4>::from_data(TensorData::new(values.to_vec(), dims), &device).require_grad();
    let output = max_pool_2x2(&pool, x.clone());
    let gradient = x.grad(
        &(output.clone() * ramp(7, output.dims(), &device))
            .sum()
            .backward(),
    );
    let flat = |tensor: Tensor<4>| tensor.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    [flat(output), flat(gradient.unwrap())]
}

#[test]
fn our_gpu_max_pooling_picks_and_routes_as_the_cpu_does() {
    let gpu = select_device(DeviceChoice::SoftwareGpu)
        .expect("the GPU path test needs a Vulkan adapter: apt-get install mesa-vulkan-drivers libvulkan1");
    let cpu = select_device(DeviceChoice::Cpu).unwrap();
    // Odd sides (the last row and column are in no window); ties: a window's four values are
    // v, v + 2, v + 3 and v again (mod 5), so where v = 4 its first and last tie for the maximum;
    // and one NaN, which wins its window forward and takes its gradient backward.
    let dims = [2, 3, 7, 9];
    let mut values: Vec<f32> = (0..dims.iter().product::<usize>())
        .map(|i| ((i * 37) % 5) as f32)
        .collect();
    values[9 * 2 + 3] = f32::NAN;
    let [gpu_output, gpu_gradient] = max_pooled(&values, dims, &gpu.device);
    let [cpu_output, cpu_gradient] = max_pooled(&values, dims, &cpu.device);
    assert_eq!(gpu_output.len(), 2 * 3 * 3 * 4);
    // Bit for bit: a maximum is one of its inputs, a gradient one output's or zero.
    let bits = |values: &[f32]| values.iter().map(|value| value.to_bits()).collect::<Vec<u32>>();
    assert_eq!(bits(&gpu_output), bits(&cpu_output), "outputs");
    assert_eq!(bits(&gpu_gradient), bits(&cpu_gradient), "input gradients");
    // Row 2, column 3 is in window (1, 1): output 5.
    assert!(cpu_output[5].is_nan() && cpu_gradient[9 * 2 + 3] != 0.0);
}

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
    let gpu = select_device(DeviceChoice::SoftwareGpu)
        .expect("the GPU path test needs a Vulkan adapter: apt-get install mesa-vulkan-drivers libvulkan1");
    let cpu = select_device(DeviceChoice::Cpu).unwrap();
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
    let gpu = select_device(DeviceChoice::SoftwareGpu)
        .expect("the GPU path test needs a Vulkan adapter: apt-get install mesa-vulkan-drivers libvulkan1");
    let cpu = select_device(DeviceChoice::Cpu).unwrap();
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

#[test]
fn auto_never_picks_a_software_adapter() {
    let auto = select_device(DeviceChoice::Auto).unwrap();
    assert!(
        auto.is_gpu || auto.description.starts_with("CPU"),
        "{}",
        auto.description
    );
}

/// Bias, ReLU and batch norm in training on `device` (ours, or the bias added, ReLU, then burn's
/// `BatchNorm`), with gammas, betas and biases other than 1 and 0: the output, the gradients of
/// the input, gamma, beta and the bias after a loss that weighs each output differently, and the
/// running mean and variance, all as flat values.
fn relu_batch_norm_training(dims: [usize; 4], offset: f32, ours: bool, device: &Device) -> [Vec<f32>; 7] {
    let device = device.clone().autodiff();
    let channels = dims[1];
    let mut norm = BatchNormConfig::new(channels).init(&device);
    let spread = |scale: f32, shift: f32| {
        let values: Vec<f32> = (0..channels)
            .map(|c| scale * (c as f32 - channels as f32 / 3.0) + shift)
            .collect();
        Param::from_tensor(Tensor::<1>::from_data(
            TensorData::new(values, [channels]),
            &device,
        ))
    };
    norm.gamma = spread(0.4, 1.0);
    norm.beta = spread(-0.3, 0.2);
    // Rising from image to image, so groups of images differ in mean; mostly positive after the
    // offset, so the statistics are far from zero when it is large.
    let per_image: usize = dims[1..].iter().product();
    let values: Vec<f32> = (0..dims.iter().product::<usize>())
        .map(|i| ((i * 37) % 23) as f32 / 11.0 - 1.0 + 0.25 * (i / per_image) as f32 + offset)
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(values, dims), &device).require_grad();
    let bias = spread(0.5, -0.2).val().require_grad();
    let output = if ours {
        relu_batch_norm_after_bias(&norm, x.clone(), bias.clone())
    } else {
        norm.forward(burn::tensor::activation::relu(
            x.clone() + per_channel::<4>(bias.clone()),
        ))
    };
    let gradients = (output.clone() * ramp(53, dims, &device)).sum().backward();
    let values = |tensor: Tensor<1>| tensor.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    [
        values(output.flatten(0, 3)),
        values(x.grad(&gradients).unwrap().flatten(0, 3)),
        values(norm.gamma.val().grad(&gradients).unwrap()),
        values(norm.beta.val().grad(&gradients).unwrap()),
        values(bias.grad(&gradients).unwrap()),
        values(norm.running_mean.value_sync().inner()),
        values(norm.running_var.value_sync().inner()),
    ]
}

#[test]
fn our_gpu_relu_batch_norm_kernels_train_as_burns_batch_norm() {
    let gpu = select_device(DeviceChoice::SoftwareGpu)
        .expect("the GPU path test needs a Vulkan adapter: apt-get install mesa-vulkan-drivers libvulkan1");
    // [9, 3, 30, 30]: two groups of images per channel (5 and 4), so the kernel that merges them
    // is exercised with unequal counts; an offset of 40 puts every mean far above its spread,
    // where a variance taken from sums of squares in f32 would lose its digits.
    for (dims, offset) in [([9, 3, 30, 30], 0.0), ([9, 3, 30, 30], 40.0), ([6, 5, 3, 1], 0.3)] {
        let ours = relu_batch_norm_training(dims, offset, true, &gpu.device);
        let burns = relu_batch_norm_training(dims, offset, false, &gpu.device);
        let names = [
            "output",
            "input gradient",
            "gamma gradient",
            "beta gradient",
            "bias gradient",
            "running mean",
            "running variance",
        ];
        // The bias's gradient is a sum over a channel's input gradients: its rounding scales with
        // their absolute sum (with a mean of 40 it is 0 in exact arithmetic, ours gives 0 and
        // burn's up to 0.1).
        let positions = dims[2] * dims[3];
        let mut input_gradient_scale = vec![0f32; dims[1]];
        for (index, value) in burns[1].iter().enumerate() {
            input_gradient_scale[(index / positions) % dims[1]] += value.abs();
        }
        for ((name, ours), burns) in names.iter().zip(&ours).zip(&burns) {
            let largest = burns.iter().fold(1f32, |largest, value| largest.max(value.abs()));
            let largest = if *name == "bias gradient" {
                input_gradient_scale
                    .iter()
                    .fold(largest, |largest, &sum| largest.max(sum))
            } else {
                largest
            };
            let difference = ours
                .iter()
                .zip(burns)
                .fold(0f32, |largest, (a, b)| largest.max((a - b).abs()));
            assert!(
                difference <= largest * 2e-4,
                "{dims:?} + {offset}: {name} differs by {difference} (largest value {largest})"
            );
        }
    }
}

#[test]
fn our_gpu_relu_batch_norm_kernels_infer_with_the_running_statistics() {
    let gpu = select_device(DeviceChoice::SoftwareGpu)
        .expect("the GPU path test needs a Vulkan adapter: apt-get install mesa-vulkan-drivers libvulkan1");
    let mut norm = BatchNormConfig::new(4).init(&gpu.device);
    norm.running_mean = RunningState::new(Tensor::<1>::from_floats([0.1, 0.5, -0.2, 1.0], &gpu.device));
    norm.running_var = RunningState::new(Tensor::<1>::from_floats([0.5, 2.0, 1.0, 0.25], &gpu.device));
    // Dense-layer shape, [batch, channels].
    let x: Tensor<2> = ramp(29, [6, 4, 1, 1], &gpu.device).flatten(1, 3);
    let ours = relu_batch_norm(&norm, x.clone());
    let burns = norm.forward(burn::tensor::activation::relu(x));
    let difference = (ours - burns).abs().max().into_scalar::<f32>();
    assert!(difference < 1e-5, "differs by {difference}");
}

/// A small layer with the same weights and bias on every call.
fn fixed_layer(device: &Device) -> burn::nn::Linear {
    let mut layer = burn::nn::LinearConfig::new(6, 4).init(device);
    let weights: Vec<f32> = (0..24).map(|i| ((i * 7) % 11) as f32 / 10.0 - 0.5).collect();
    layer.weight = Param::from_tensor(Tensor::<2>::from_data(TensorData::new(weights, [6, 4]), device));
    layer.bias = Some(Param::from_tensor(Tensor::<1>::from_floats(
        [0.1, -0.2, 0.3, 0.0],
        device,
    )));
    layer
}

fn trained_with(mut optimizer: burn::optim::ModuleOptimizer, device: &Device) -> Vec<f32> {
    let mut layer = fixed_layer(device);
    for step in 0..3 {
        let input: Vec<f32> = (0..30)
            .map(|i| ((i * 13 + step * 5) % 17) as f32 / 8.0 - 1.0)
            .collect();
        let input = Tensor::<2>::from_data(TensorData::new(input, [5, 6]), device);
        let loss = layer.forward(input).powi_scalar(2).sum();
        let gradients = burn::optim::GradientsParams::from_grads(loss.backward(), &layer);
        layer = optimizer.step(0.05, layer, gradients);
    }
    layer.weight.val().into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn our_fused_adagrad_updates_as_burns_on_the_gpu_path() {
    let gpu = select_device(DeviceChoice::SoftwareGpu)
        .expect("the GPU path test needs a Vulkan adapter: apt-get install mesa-vulkan-drivers libvulkan1");
    let device = gpu.device.autodiff();
    let ours = trained_with(
        burn::optim::ModuleOptimizer::from(FusedAdaGrad::new(0.1)),
        &device,
    );
    let burns = trained_with(
        burn::optim::AdaGradConfig::new().with_lr_decay(0.1).init(),
        &device,
    );
    assert_ne!(
        ours,
        fixed_layer(&device)
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    );
    for (a, b) in ours.iter().zip(&burns) {
        assert!((a - b).abs() <= 1e-6, "{ours:?}\n{burns:?}");
    }
}

#[test]
fn predictions_read_back_several_batches_at_once_are_each_batchs_own() {
    let gpu = select_device(DeviceChoice::SoftwareGpu)
        .expect("the GPU path test needs a Vulkan adapter: apt-get install mesa-vulkan-drivers libvulkan1");
    let (_folder, model) = load_model_on(&gpu.device);
    let store = &small_demo().store;
    // Three batches of four, the last with two real patches: read back two at a time, then the
    // one left.
    let batches = [
        HostBatch::build(store, &[0, 1, 2, 3], 4, None),
        HostBatch::build(store, &[4, 5, 6, 7], 4, None),
        HostBatch::build(store, &[8, 9], 4, None),
    ];
    let one_by_one: Vec<Vec<f32>> = batches
        .iter()
        .map(|batch| predict_batch(&model, batch.clone(), &gpu.device).unwrap())
        .collect();
    let mut pending = PendingPredictions::reading_every(2);
    let mut together = Vec::new();
    for (index, batch) in batches.iter().enumerate() {
        let read = pending.push(&model, batch.clone(), &gpu.device).unwrap();
        // Nothing after the first batch; both after the second.
        assert_eq!(read.len(), [0, 2, 0][index]);
        together.extend(read);
    }
    together.extend(pending.read().unwrap());
    assert_eq!(together, one_by_one);
    assert_eq!(together[2].len(), 2, "padding left out");
}

/// A fresh CancerNet saved and loaded for inference on `device`, with the folder of its file
/// (burn may read the file's values only when they are first used).
fn load_model_on(device: &Device) -> (tempfile::TempDir, CancerNet) {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("model.bpk");
    CancerNet::new(&Device::flex()).save_file(&path).unwrap();
    let model = load_model(&path, BatchNormSettings::MODEL, device).unwrap();
    (folder, model)
}

#[test]
fn adagrad_in_groups_steps_each_parameter_as_on_its_own_on_the_gpu_path() {
    let gpu = select_device(DeviceChoice::SoftwareGpu)
        .expect("the GPU path test needs a Vulkan adapter: apt-get install mesa-vulkan-drivers libvulkan1");
    // One kernel for six parameters against one kernel each: the same arithmetic, value for
    // value.
    let [direct, grouped, start] = common::stack::direct_and_grouped(&gpu.device.autodiff());
    assert_ne!(direct, start, "the parameters moved");
    assert_eq!(direct, grouped);
}
