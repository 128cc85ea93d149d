//! Batches of model inputs, built on a thread of their own so the data pipeline runs ahead of
//! the model, their patches rendered by as many threads as the device needs to be kept fed.
//! Every batch has the same shape: a short last batch is padded (and the padding ignored),
//! because GPU kernels are tuned per shape.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::augment::{Augmentation, INPUT_LEN, Warp, render_input};
use crate::dataset::stain::{HedJitter, OdTransform, Tone, restain_patch};
use crate::dataset::{PATCH_BYTES, PatchStore};
use crate::model::{INPUT_CHANNELS, INPUT_SIDE};
use crate::ops::uses_cpu_kernels;

/// How many ready batches may wait for the model.
pub const PREFETCH_DEPTH: usize = 4;

/// The most threads that render patches for one device.
const MAX_RENDER_THREADS: usize = 8;

/// Threads that render the patches of training and evaluation batches on `device`.
///
/// The CPU: one, the batch thread. The model's kernels use every core there and train at most a
/// few thousand images/s, a tenth of what one thread renders. A GPU: the cores left over by the
/// training thread and cubecl's two device threads, up to 8: a fast GPU trains and predicts
/// several times faster than one host thread renders, so one thread would hold it back
/// (figures in docs/performance.md).
pub fn render_threads(device: &Device) -> usize {
    if uses_cpu_kernels(device) {
        return 1;
    }
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    cores.saturating_sub(3).clamp(1, MAX_RENDER_THREADS)
}

/// Who renders a batch's patches: the thread building the batch, or a pool of its own. Each
/// patch's augmentation is drawn in order before any is rendered, so a batch is the same,
/// value for value, whoever renders it.
pub struct Renderers(Option<rayon::ThreadPool>);

impl Renderers {
    /// The thread that builds the batch renders every patch.
    pub const CALLING_THREAD: Renderers = Renderers(None);

    /// `threads` threads (one: the calling thread, no pool).
    pub fn new(threads: usize) -> std::io::Result<Renderers> {
        if threads <= 1 {
            return Ok(Self::CALLING_THREAD);
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|index| format!("idc-render-{index}"))
            .build()
            .map(|pool| Renderers(Some(pool)))
            .map_err(std::io::Error::other)
    }

    pub fn threads(&self) -> usize {
        self.0.as_ref().map_or(1, rayon::ThreadPool::current_num_threads)
    }

    /// Calls `render(slot, input)` for each model input of `images`.
    fn render_each(&self, images: &mut [f32], render: impl Fn(usize, &mut [f32]) + Sync) {
        match &self.0 {
            None => images
                .chunks_exact_mut(INPUT_LEN)
                .enumerate()
                .for_each(|(slot, input)| render(slot, input)),
            Some(pool) => pool.install(|| {
                images
                    .par_chunks_exact_mut(INPUT_LEN)
                    .enumerate()
                    .for_each(|(slot, input)| render(slot, input))
            }),
        }
    }
}

/// One patch to render: its stored pixels, true size, class index, and the map of its
/// patient's stain onto the reference when the store normalises stain.
struct BatchItem<'a> {
    pixels: &'a [u8],
    width: u8,
    height: u8,
    label: i64,
    stain: Option<&'a OdTransform>,
}

impl BatchItem<'_> {
    /// Renders the model input through `warp`, re-stained first where the patch's stain is
    /// normalised or `jitter` re-stains it (normalised, then jittered: one map).
    fn render(&self, warp: &Warp, jitter: Option<&HedJitter>, out: &mut [f32]) {
        let restaining = match (self.stain, jitter) {
            (None, None) => None,
            (Some(normalise), None) => Some((*normalise, Tone::UNCHANGED)),
            (None, Some(jitter)) => Some((jitter.stain, jitter.tone)),
            (Some(normalise), Some(jitter)) => Some((normalise.then(&jitter.stain), jitter.tone)),
        };
        match restaining {
            None => render_input(self.pixels, self.width, self.height, warp, out),
            Some((stain, tone)) => {
                let mut restained = [0u8; PATCH_BYTES];
                restain_patch(self.pixels, self.width, self.height, &stain, tone, &mut restained);
                render_input(&restained, self.width, self.height, warp, out);
            }
        }
    }
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
    /// Renders `indices` (at most `batch_size`) on this thread, augmented with `rng` when given.
    pub fn build(
        store: &PatchStore,
        indices: &[usize],
        batch_size: usize,
        augmentation: Option<(&Augmentation, &mut ChaCha8Rng)>,
    ) -> HostBatch {
        Self::build_on(
            &Renderers::CALLING_THREAD,
            store,
            indices,
            batch_size,
            augmentation,
        )
    }

    /// [`HostBatch::build`] with the patches rendered by `renderers`: the same batch.
    pub fn build_on(
        renderers: &Renderers,
        store: &PatchStore,
        indices: &[usize],
        batch_size: usize,
        augmentation: Option<(&Augmentation, &mut ChaCha8Rng)>,
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
                    stain: store.stain_normalisation(index),
                }
            })
            .collect();
        let mut batch = Self::render(renderers, &items, batch_size, augmentation);
        batch.indices = indices.to_vec();
        batch
    }

    /// Renders decoded patches that are not in a store (their labels unknown, given as 0) on
    /// `renderers`, each re-stained through its map where it has one.
    pub fn from_pixels(
        renderers: &Renderers,
        patches: &[(&[u8], u8, u8, Option<&OdTransform>)],
        batch_size: usize,
    ) -> HostBatch {
        let items: Vec<BatchItem> = patches
            .iter()
            .map(|&(pixels, width, height, stain)| BatchItem {
                pixels,
                width,
                height,
                label: 0,
                stain,
            })
            .collect();
        Self::render(renderers, &items, batch_size, None)
    }

    fn render(
        renderers: &Renderers,
        items: &[BatchItem],
        batch_size: usize,
        mut augmentation: Option<(&Augmentation, &mut ChaCha8Rng)>,
    ) -> HostBatch {
        assert!(
            !items.is_empty() && items.len() <= batch_size,
            "1..=batch_size items"
        );
        // Padding repeats the last item, unaugmented.
        let item = |slot: usize| &items[slot.min(items.len() - 1)];
        let draws: Vec<(Warp, Option<HedJitter>)> = (0..batch_size)
            .map(|slot| match augmentation.as_mut() {
                Some((augmentation, rng)) if slot < items.len() => {
                    let warp = augmentation
                        .geometry
                        .as_ref()
                        .map_or(Warp::IDENTITY, |ranges| Warp::random(ranges, *rng));
                    let jitter = augmentation
                        .stain
                        .as_ref()
                        .map(|ranges| HedJitter::random(ranges, *rng));
                    (warp, jitter)
                }
                _ => (Warp::IDENTITY, None),
            })
            .collect();
        let mut images = vec![0.0f32; batch_size * INPUT_LEN];
        renderers.render_each(&mut images, |slot, input| {
            let (warp, jitter) = &draws[slot];
            item(slot).render(warp, jitter.as_ref(), input);
        });
        let labels = (0..batch_size).map(|slot| item(slot).label).collect();
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

    /// The images as a tensor, their values handed over rather than copied: at batch 256 they
    /// are 7 MB, whose copy on the training thread a GPU step would wait for.
    pub fn into_images_tensor(self, device: &Device) -> Tensor<4> {
        let shape = [self.batch_size, INPUT_CHANNELS, INPUT_SIDE, INPUT_SIDE];
        Tensor::from_data(TensorData::new(self.images, shape), device)
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
    pub augmentation: Option<(Augmentation, u64)>,
    /// Threads rendering each batch's patches ([`render_threads`] for the device it feeds).
    pub render_threads: usize,
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

/// Builds the plan's batches on a named thread; the thread (and its renderers) ends when the
/// receiver is dropped.
pub fn prefetch_batches(store: Arc<PatchStore>, plan: BatchPlan) -> std::io::Result<Receiver<HostBatch>> {
    let (sender, receiver) = sync_channel(PREFETCH_DEPTH);
    let renderers = Renderers::new(plan.render_threads)?;
    std::thread::Builder::new()
        .name("idc-batches".into())
        .spawn(move || {
            let mut rng = plan
                .augmentation
                .map(|(augmentation, seed)| (augmentation, ChaCha8Rng::seed_from_u64(seed)));
            for chunk in plan.order.chunks(plan.batch_size).take(plan.batch_count()) {
                let augmentation = rng.as_mut().map(|(augmentation, rng)| (&*augmentation, rng));
                let batch = HostBatch::build_on(&renderers, &store, chunk, plan.batch_size, augmentation);
                if sender.send(batch).is_err() {
                    return; // the consumer stopped listening
                }
            }
        })?;
    Ok(receiver)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use rand::Rng;

    use super::*;
    use crate::dataset::stain::StainAugment;
    use crate::dataset::{Label, Patch};

    /// Eleven patches of random pixels, some of them edge patches smaller than 50x50.
    fn store() -> Arc<PatchStore> {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let patches: Vec<Patch> = (0..11)
            .map(|index| Patch {
                patient: 0,
                x: 50 * index,
                y: 0,
                label: if index % 3 == 0 { Label::Idc } else { Label::NonIdc },
                width: [50, 50, 31, 50, 8][index as usize % 5],
                height: [50, 17, 50, 50, 50][index as usize % 5],
                path: PathBuf::from(format!("p{index}.png")),
            })
            .collect();
        let pixels = (0..patches.len() * PATCH_BYTES).map(|_| rng.random()).collect();
        Arc::new(PatchStore::new(
            PathBuf::new(),
            true,
            vec!["p".into()],
            patches,
            pixels,
        ))
    }

    fn plan(render_threads: usize, drop_last: bool) -> BatchPlan {
        BatchPlan {
            order: vec![3, 1, 4, 10, 5, 9, 2, 6, 0, 8, 7],
            batch_size: 4,
            drop_last,
            augmentation: Some((Augmentation::recipe(), 42)),
            render_threads,
        }
    }

    fn same(a: &HostBatch, b: &HostBatch) -> bool {
        let bits = |batch: &HostBatch| {
            batch
                .images
                .iter()
                .map(|value| value.to_bits())
                .collect::<Vec<_>>()
        };
        a.indices == b.indices && a.labels == b.labels && a.batch_size == b.batch_size && bits(a) == bits(b)
    }

    #[test]
    fn a_batch_is_the_same_whoever_renders_it() {
        let store = store();
        let ranges = Augmentation {
            stain: StainAugment::Strong.ranges(),
            ..Augmentation::recipe()
        };
        let pool = Renderers::new(3).unwrap();
        assert_eq!(pool.threads(), 3);
        // Augmented, and padded (three patches in a batch of five).
        for indices in [&[0, 2, 4, 6, 7][..], &[10, 1, 9]] {
            let alone = HostBatch::build(
                &store,
                indices,
                5,
                Some((&ranges, &mut ChaCha8Rng::seed_from_u64(1))),
            );
            let shared = HostBatch::build_on(
                &pool,
                &store,
                indices,
                5,
                Some((&ranges, &mut ChaCha8Rng::seed_from_u64(1))),
            );
            assert!(same(&alone, &shared), "{indices:?}");
        }
    }

    #[test]
    fn prefetched_batches_come_in_plan_order_for_any_number_of_renderers() {
        let store = store();
        for drop_last in [true, false] {
            let alone: Vec<HostBatch> = prefetch_batches(Arc::clone(&store), plan(1, drop_last))
                .unwrap()
                .into_iter()
                .collect();
            assert_eq!(alone.len(), if drop_last { 2 } else { 3 });
            // The last batch when kept: patches 0, 8 and 7, and padding that repeats patch 7
            // unaugmented.
            if !drop_last {
                assert_eq!(alone[2].indices, [0, 8, 7]);
                assert_eq!(alone[2].labels, [1, 0, 0, 0]);
                let padding = &alone[2].images[3 * INPUT_LEN..];
                assert!(padding == HostBatch::build(&store, &[7], 1, None).images);
            }
            let shared: Vec<HostBatch> = prefetch_batches(Arc::clone(&store), plan(4, drop_last))
                .unwrap()
                .into_iter()
                .collect();
            assert_eq!(alone.len(), shared.len());
            assert!(alone.iter().zip(&shared).all(|(a, b)| same(a, b)));
        }
    }

    #[test]
    fn stain_augmentation_keeps_every_input_in_range_and_every_label() {
        let store = store();
        let indices: Vec<usize> = (0..11).collect();
        let plain = HostBatch::build(&store, &indices, 12, None);
        for stain in [StainAugment::Light, StainAugment::Strong] {
            let augmentation = Augmentation {
                geometry: None,
                stain: stain.ranges(),
            };
            let mut rng = ChaCha8Rng::seed_from_u64(9);
            let jittered = HostBatch::build(&store, &indices, 12, Some((&augmentation, &mut rng)));
            assert!(jittered.images.iter().all(|value| (0.0..=1.0).contains(value)));
            assert_eq!(jittered.labels, plain.labels, "{stain:?} changes no label");
            assert_eq!(jittered.indices, plain.indices);
            let changed = jittered
                .images
                .iter()
                .zip(&plain.images)
                .filter(|(a, b)| (*a - *b).abs() > 1.0 / 255.0)
                .count();
            assert!(
                changed > plain.images.len() / 4,
                "{stain:?} re-stains the patches: {changed}"
            );
        }
    }

    #[test]
    fn a_normalised_store_renders_each_patch_through_its_patients_map() {
        let store = store();
        let darker = OdTransform {
            offset: [0.3; 3],
            ..OdTransform::IDENTITY
        };
        let normalised = store.with_stain_normalisation(vec![darker]);
        let (plain, through) = (
            HostBatch::build(&store, &[0, 1], 2, None),
            HostBatch::build(&normalised, &[0, 1], 2, None),
        );
        let mean = |batch: &HostBatch| batch.images.iter().sum::<f32>() / batch.images.len() as f32;
        // exp(-0.3) = 0.74: every value about a quarter darker.
        assert!(
            (mean(&through) / mean(&plain) - 0.74).abs() < 0.03,
            "{} {}",
            mean(&through),
            mean(&plain)
        );
        assert_eq!(plain.labels, through.labels);
    }

    #[test]
    fn the_cpu_renders_on_the_batch_thread_alone() {
        assert_eq!(render_threads(&Device::flex()), 1);
    }
}
