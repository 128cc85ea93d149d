//! Batches of model inputs, built on a thread of their own so the data pipeline runs ahead of
//! the model. Every batch has the same shape: a short last batch is padded (and the padding
//! ignored), because GPU kernels are tuned per shape.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::augment::{AugmentationRanges, INPUT_LEN, Warp, render_input};
use crate::dataset::PatchStore;
use crate::model::{INPUT_CHANNELS, INPUT_SIDE};

/// How many ready batches may wait for the model.
const PREFETCH_DEPTH: usize = 4;

/// One patch to render: its stored pixels, true size and class index.
struct BatchItem<'a> {
    pixels: &'a [u8],
    width: u8,
    height: u8,
    label: i64,
}

/// A batch in host memory.
#[derive(Debug, Clone)]
pub struct HostBatch {
    /// Store indices of the real items, in order; padding repeats the last one.
    pub indices: Vec<usize>,
    /// `[batch_size, 3, 48, 48]` floats in [0, 1].
    pub images: Vec<f32>,
    pub labels: Vec<i64>,
    pub batch_size: usize,
}

impl HostBatch {
    /// Renders `indices` (at most `batch_size`), augmented with `rng` when given.
    pub fn build(
        store: &PatchStore,
        indices: &[usize],
        batch_size: usize,
        augmentation: Option<(&AugmentationRanges, &mut ChaCha8Rng)>,
    ) -> HostBatch {
        let items: Vec<BatchItem> = indices
            .iter()
            .map(|&index| {
                let patch = store.patch(index);
                BatchItem {
                    pixels: store.pixels(index),
                    width: patch.width,
                    height: patch.height,
                    label: patch.label.index() as i64,
                }
            })
            .collect();
        let mut batch = Self::render(&items, batch_size, augmentation);
        batch.indices = indices.to_vec();
        batch
    }

    /// Renders decoded patches that are not in a store (their labels unknown, given as 0).
    pub fn from_pixels(patches: &[(&[u8], u8, u8)], batch_size: usize) -> HostBatch {
        let items: Vec<BatchItem> = patches
            .iter()
            .map(|&(pixels, width, height)| BatchItem {
                pixels,
                width,
                height,
                label: 0,
            })
            .collect();
        Self::render(&items, batch_size, None)
    }

    fn render(
        items: &[BatchItem],
        batch_size: usize,
        mut augmentation: Option<(&AugmentationRanges, &mut ChaCha8Rng)>,
    ) -> HostBatch {
        assert!(
            !items.is_empty() && items.len() <= batch_size,
            "1..=batch_size items"
        );
        let mut images = vec![0.0f32; batch_size * INPUT_LEN];
        let mut labels = Vec::with_capacity(batch_size);
        for (slot, out) in images.chunks_exact_mut(INPUT_LEN).enumerate() {
            let item = &items[slot.min(items.len() - 1)];
            let warp = match augmentation.as_mut() {
                Some((ranges, rng)) if slot < items.len() => Warp::random(ranges, *rng),
                _ => Warp::IDENTITY,
            };
            render_input(item.pixels, item.width, item.height, &warp, out);
            labels.push(item.label);
        }
        HostBatch {
            indices: (0..items.len()).collect(),
            images,
            labels,
            batch_size,
        }
    }

    /// Number of real (not padding) items.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    pub fn images_tensor(&self, device: &Device) -> Tensor<4> {
        let shape = [self.batch_size, INPUT_CHANNELS, INPUT_SIDE, INPUT_SIDE];
        Tensor::from_data(TensorData::new(self.images.clone(), shape), device)
    }

    pub fn labels_tensor(&self, device: &Device) -> Tensor<1, Int> {
        Tensor::from_data(TensorData::new(self.labels.clone(), [self.batch_size]), device)
    }

    /// The labels as floats (0.0 or 1.0), as the training loss reads them (loss.rs).
    pub fn label_values_tensor(&self, device: &Device) -> Tensor<1> {
        let values: Vec<f32> = self.labels.iter().map(|&label| label as f32).collect();
        Tensor::from_data(TensorData::new(values, [self.batch_size]), device)
    }
}

/// What batches to make from an ordered list of patches.
#[derive(Debug, Clone)]
pub struct BatchPlan {
    pub order: Vec<usize>,
    pub batch_size: usize,
    /// Training drops a short last batch (the next epoch's shuffle covers it); evaluation pads it.
    pub drop_last: bool,
    /// Random augmentation, seeded, for training batches only.
    pub augmentation: Option<(AugmentationRanges, u64)>,
}

impl BatchPlan {
    pub fn batch_count(&self) -> usize {
        if self.drop_last {
            self.order.len() / self.batch_size
        } else {
            self.order.len().div_ceil(self.batch_size)
        }
    }
}

/// Builds the plan's batches on a named thread; the thread ends when the receiver is dropped.
pub fn prefetch_batches(store: Arc<PatchStore>, plan: BatchPlan) -> std::io::Result<Receiver<HostBatch>> {
    let (sender, receiver) = sync_channel(PREFETCH_DEPTH);
    std::thread::Builder::new()
        .name("idc-batches".into())
        .spawn(move || {
            let mut rng = plan
                .augmentation
                .map(|(ranges, seed)| (ranges, ChaCha8Rng::seed_from_u64(seed)));
            for chunk in plan.order.chunks(plan.batch_size).take(plan.batch_count()) {
                let augmentation = rng.as_mut().map(|(ranges, rng)| (&*ranges, rng));
                let batch = HostBatch::build(&store, chunk, plan.batch_size, augmentation);
                if sender.send(batch).is_err() {
                    return; // the consumer stopped listening
                }
            }
        })?;
    Ok(receiver)
}
