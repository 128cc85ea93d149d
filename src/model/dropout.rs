//! Dropout as `Dropout::forward` computes it, with the mask drawn on the host on burn's CPU
//! backend: burn's version samples a Bernoulli float per element through its general random
//! tensor path and then multiplies twice (by the mask, then by `1 / keep`), which made dropout
//! about a tenth of a CPU training step. Here the mask already holds `0` or `1 / keep`, is drawn
//! with ChaCha8 (seeded from burn's own generator, so `Device::seed` still fixes a run), and is
//! applied with one multiplication.

use burn::nn::Dropout;
use burn::prelude::*;
use burn::tensor::Distribution;
use rand::RngCore;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::device::uses_cpu_kernels;

/// Elements per independently seeded stream of the mask: large enough that drawing is cheap,
/// small enough to share the work among cores. Fixed, so a seed gives the same mask anywhere.
const STREAM_LENGTH: usize = 1 << 16;

/// `layer.forward(input)`, faster on the CPU.
pub fn dropout<const D: usize>(layer: &Dropout, input: Tensor<D>) -> Tensor<D> {
    let device = input.device();
    if !layer.training.is_enabled() || !device.is_autodiff() || layer.prob == 0.0 {
        return input;
    }
    if !uses_cpu_kernels(&device) {
        return layer.forward(input);
    }
    let shape = input.shape();
    let mask = keep_mask(shape.num_elements(), 1.0 - layer.prob, draw_seed(&device));
    input * Tensor::from_data(TensorData::new(mask, shape), &device)
}

/// A seed from burn's generator for `device`: two uniform floats' bits.
fn draw_seed(device: &Device) -> u64 {
    let values = Tensor::<1>::random([2], Distribution::Default, &device.clone().inner())
        .into_data()
        .try_to_vec::<f32>()
        .unwrap_or_default();
    values
        .iter()
        .fold(0u64, |seed, value| (seed << 32) | u64::from(value.to_bits()))
}

/// `count` values, each `1 / keep` with probability `keep` and `0` otherwise.
pub fn keep_mask(count: usize, keep: f64, seed: u64) -> Vec<f32> {
    // P(u32 < threshold) = threshold / 2^32, within 2^-32 of `keep`.
    let threshold = (keep.clamp(0.0, 1.0) * 4_294_967_296.0).min(u32::MAX as f64) as u32;
    let scale = (1.0 / keep) as f32;
    let mut mask = vec![0f32; count];
    mask.par_chunks_mut(STREAM_LENGTH)
        .enumerate()
        .for_each(|(stream, chunk)| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(stream as u64);
            for value in chunk {
                if rng.next_u32() < threshold {
                    *value = scale;
                }
            }
        });
    mask
}

#[cfg(test)]
mod tests {
    use burn::nn::DropoutConfig;

    use super::*;

    #[test]
    fn keeps_the_expected_share_scaled_up() {
        let mask = keep_mask(200_000, 0.75, 7);
        let kept = mask.iter().filter(|&&value| value != 0.0).count();
        let share = kept as f64 / mask.len() as f64;
        assert!((share - 0.75).abs() < 0.005, "kept {share}");
        assert!(
            mask.iter()
                .all(|&value| value == 0.0 || (value - 1.0 / 0.75).abs() < 1e-6)
        );
        // The same seed gives the same mask; another seed another.
        assert_eq!(mask, keep_mask(200_000, 0.75, 7));
        assert_ne!(mask, keep_mask(200_000, 0.75, 8));
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
