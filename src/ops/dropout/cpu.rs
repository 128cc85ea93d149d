//! Dropout by hash on burn's flex backend (the CPU): chunks of the tensor on rayon's threads,
//! the hash computed eight elements at a time with AVX2.

use burn::backend::flex::FlexTensor;
use burn::backend::{Flex, TensorMetadata};
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;

use super::{DropoutBackend, is_kept, keep_threshold, seed_words};
use crate::ops::cpu_simd::with_avx2;

/// Elements per rayon task on the CPU.
pub(super) const CHUNK: usize = 1 << 14;

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
pub(super) fn drop_out_chunk_portable(
    values: &mut [f32],
    first: u32,
    words: [u32; 2],
    threshold: u32,
    scale: f32,
) {
    for (offset, value) in values.iter_mut().enumerate() {
        let kept = is_kept(first.wrapping_add(offset as u32), words, threshold);
        *value = if kept { *value * scale } else { 0.0 };
    }
}
