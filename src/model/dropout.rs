//! Dropout as a burn backend extension: one operation forward and the same one backward, on the
//! CPU (here) and on a GPU (dropout_gpu.rs).
//!
//! burn's `Dropout` draws a Bernoulli float per element through its general random-tensor path,
//! compares, masks and scales: four activation-sized passes and as many recorded operations
//! forward, a mask kept for the backward pass. Here whether element `i` is kept is a hash of `i`
//! and a seed, so the mask is never stored: forward multiplies `x` by `1 / keep` or `0` element
//! by element, and backward multiplies the output's gradient by the same values, recomputed from
//! the same seed. The seed is two uniform floats that burn draws on the device (`Device::seed`
//! still fixes a run), read by the kernel itself, so no value crosses to the host each step.
//!
//! The hash is integer arithmetic that the CPU and every GPU compute bit for bit alike, so one
//! seed gives one mask on any device (tested).

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::Dropout;
use burn::prelude::*;
use burn::tensor::{DType, Distribution};
use rayon::prelude::*;

use super::device::uses_cpu_kernels;
use super::gpu_layers::gpu_layers;
use super::simd::with_avx2;

/// Elements per rayon task on the CPU.
const CHUNK: usize = 1 << 14;

/// What the seed's two uniform floats are scaled by before they become integers: burn draws
/// them as multiples of 2^-24 or finer, so each gives 24 bits.
const SEED_SCALE: f32 = 16_777_216.0;

// As depthwise.rs: `Cube` (wgpu) is always compiled in; `Fusion` records each call as one opaque
// operation.
#[backend_extension(Flex, Cube: cfg(all()), Fusion, Autodiff)]
pub trait DropoutBackend: Backend {
    /// `x[i] / keep` where [`is_kept`]`(i, seeds, threshold)`, else 0; `seeds` holds two uniform
    /// floats in [0, 1), `threshold = keep * 2^32`.
    #[fusion(dtype = x, shape = x)]
    fn dropout_by_hash(x: FloatTensor<Self>, seeds: FloatTensor<Self>, keep: f64) -> FloatTensor<Self>;
}

/// The two integers of a seed drawn as two uniform floats.
pub fn seed_words(seeds: [f32; 2]) -> [u32; 2] {
    seeds.map(|seed| (seed * SEED_SCALE) as u32)
}

/// `P(hash < threshold) = keep`, within 2^-32.
pub fn keep_threshold(keep: f64) -> u32 {
    (keep.clamp(0.0, 1.0) * 4_294_967_296.0).min(u32::MAX as f64) as u32
}

/// A 32-bit integer finaliser with good avalanche (every input bit moves about half the output
/// bits): the constants of the "lowbias32" hash. dropout_gpu.rs computes the same.
#[inline(always)]
pub fn mix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x7feb_352d);
    h ^= h >> 15;
    h = h.wrapping_mul(0x846c_a68b);
    h ^ (h >> 16)
}

/// Whether element `index` survives under the seed `words`.
#[inline(always)]
pub fn is_kept(index: u32, [first, second]: [u32; 2], threshold: u32) -> bool {
    mix(mix(index ^ first).wrapping_add(second)) < threshold
}

impl DropoutBackend for Flex {
    fn dropout_by_hash(x: FlexTensor, seeds: FlexTensor, keep: f64) -> FlexTensor {
        let shape = x.shape();
        assert!(
            x.dtype() == DType::F32 && seeds.dtype() == DType::F32,
            "dropout by hash takes f32 tensors (dropout() sends others to burn's layer)"
        );
        let seeds = seeds.to_contiguous();
        let seeds = seeds.as_slice::<f32>().expect("contiguous f32");
        let words = seed_words([seeds[0], seeds[1]]);
        let (threshold, scale) = (keep_threshold(keep), (1.0 / keep) as f32);
        let apply = |chunk: usize, values: &mut [f32]| {
            drop_out_chunk(values, (chunk * CHUNK) as u32, words, threshold, scale);
        };
        let x = x.to_contiguous();
        // In place when nothing else holds the input (autodiff keeps only the seed).
        if x.is_unique() && x.storage::<f32>().len() == shape.num_elements() {
            let mut x = x;
            x.storage_mut::<f32>()
                .par_chunks_mut(CHUNK)
                .enumerate()
                .for_each(|(chunk, values)| apply(chunk, values));
            return x;
        }
        let mut values = x.as_slice::<f32>().expect("contiguous f32").to_vec();
        values
            .par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(chunk, values)| apply(chunk, values));
        FlexTensor::from_data(TensorData::new(values, shape))
    }
}

with_avx2! {
    /// Dropout of `values`, the first of which is element `first` of the tensor.
    fn drop_out_chunk(values: &mut [f32], first: u32, words: [u32; 2], threshold: u32, scale: f32)
        => drop_out_chunk_portable
}

/// Without branches, so that the hash is computed for 8 (AVX2) or 4 elements at a time.
#[inline(always)]
fn drop_out_chunk_portable(values: &mut [f32], first: u32, words: [u32; 2], threshold: u32, scale: f32) {
    for (offset, value) in values.iter_mut().enumerate() {
        let kept = is_kept(first.wrapping_add(offset as u32), words, threshold);
        *value = if kept { *value * scale } else { 0.0 };
    }
}

impl<B, C> DropoutBackend for Autodiff<B, C>
where
    B: DropoutBackend,
    C: CheckpointStrategy,
{
    fn dropout_by_hash(x: FloatTensor<Self>, seeds: FloatTensor<Self>, keep: f64) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct DropoutStep;

        // The gradient passes where the element was kept, scaled the same: the same operation.
        impl<B: DropoutBackend> Backward<B, 1> for DropoutStep {
            type State = (FloatTensor<B>, f64);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x] = ops.parents;
                let output_gradient = grads.consume::<B>(&ops.node);
                let (seeds, keep) = ops.state;
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, B::dropout_by_hash(output_gradient, seeds, keep));
                }
            }
        }

        let seeds = Self::inner(seeds);
        match DropoutStep.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let output = B::dropout_by_hash(x.into_primitive(), seeds.clone(), keep);
                prep.finish((seeds, keep), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::dropout_by_hash(x.into_primitive(), seeds, keep)),
        }
    }
}

/// `layer.forward(input)`: the identity outside training, else dropout by hash (burn's layer for
/// tensors other than f32, and on a GPU when `IDC_STUDIO_GPU_DROPOUT` says `burn`).
pub fn dropout<const D: usize>(layer: &Dropout, input: Tensor<D>) -> Tensor<D> {
    let device = input.device();
    if !layer.training.is_enabled() || !device.is_autodiff() || layer.prob == 0.0 {
        return input;
    }
    if input.dtype() != DType::F32 || (!uses_cpu_kernels(&device) && gpu_layers().burns_dropout) {
        return layer.forward(input);
    }
    let seeds = Tensor::<1>::random([2], Distribution::Default, &device.clone().inner());
    dropout_by_hash(input, seeds, 1.0 - layer.prob)
}

/// Dropout of an f32 `input` with the mask of `seeds` (two uniform floats in [0, 1), on the
/// input's device without autodiff), keeping the share `keep`.
pub fn dropout_by_hash<const D: usize>(input: Tensor<D>, seeds: Tensor<1>, keep: f64) -> Tensor<D> {
    Tensor::from_dispatch(Dispatch::dropout_by_hash(
        input.into_dispatch(),
        seeds.into_dispatch(),
        keep,
    ))
}

#[cfg(test)]
mod tests {
    use burn::nn::DropoutConfig;

    use super::*;

    #[test]
    fn keeps_the_expected_share_and_another_seed_another_mask() {
        let threshold = keep_threshold(0.75);
        let kept =
            |words: [u32; 2]| -> Vec<bool> { (0..200_000).map(|i| is_kept(i, words, threshold)).collect() };
        let mask = kept(seed_words([0.25, 0.5]));
        let share = mask.iter().filter(|&&kept| kept).count() as f64 / mask.len() as f64;
        assert!((share - 0.75).abs() < 0.005, "kept {share}");
        // Neighbours are independent: each of the four pairs (kept, kept) ... about as often as
        // chance says.
        let both = mask.windows(2).filter(|pair| pair[0] && pair[1]).count() as f64 / (mask.len() - 1) as f64;
        assert!((both - 0.75 * 0.75).abs() < 0.006, "both kept {both}");
        assert_eq!(mask, kept(seed_words([0.25, 0.5])));
        let other = kept(seed_words([0.25, 0.5 + 1.0 / SEED_SCALE]));
        let differing = mask.iter().zip(&other).filter(|(a, b)| a != b).count() as f64 / mask.len() as f64;
        // Two independent masks at 0.75 differ at 2 * 0.75 * 0.25 of the elements.
        assert!((differing - 0.375).abs() < 0.01, "differ at {differing}");
    }

    #[test]
    fn passes_gradients_through_the_kept_elements_only() {
        let device = Device::flex().autodiff();
        let layer = DropoutConfig::new(0.5).init();
        let input = Tensor::<2>::ones([64, 100], &device).require_grad();
        let output = dropout(&layer, input.clone());
        let gradient = input.grad(&output.clone().sum().backward()).unwrap();
        // Each element is either dropped (0) or kept and doubled, and its gradient is the same.
        let outputs: Vec<f32> = output.into_data().try_to_vec::<f32>().unwrap();
        let gradients: Vec<f32> = gradient.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(outputs, gradients);
        assert!(outputs.iter().all(|&value| value == 0.0 || value == 2.0));
        let kept = outputs.iter().filter(|&&value| value == 2.0).count();
        assert!((2_800..3_600).contains(&kept), "kept {kept} of 6400");
    }

    #[test]
    fn each_call_draws_a_new_mask() {
        let device = Device::flex().autodiff();
        let layer = DropoutConfig::new(0.5).init();
        let input = Tensor::<1>::ones([4096], &device);
        let first: Vec<f32> = dropout(&layer, input.clone()).into_data().try_to_vec().unwrap();
        let second: Vec<f32> = dropout(&layer, input).into_data().try_to_vec().unwrap();
        let differing = first.iter().zip(&second).filter(|(a, b)| a != b).count();
        assert!((1_700..2_400).contains(&differing), "{differing} of 4096 differ");
    }

    #[test]
    fn is_the_identity_outside_training() {
        let device = Device::flex();
        let layer = DropoutConfig::new(0.5).init();
        let input = Tensor::<2>::ones([4, 4], &device);
        let output = dropout(&layer, input.clone());
        assert_eq!(
            output.into_data().try_to_vec::<f32>().unwrap(),
            input.into_data().try_to_vec::<f32>().unwrap()
        );
    }
}
