//! "More like this": every patch's embedding under a run's model (the 256-unit dense layer), and
//! a patch's nearest neighbours among them by cosine similarity. The search is exact, every
//! patch against the one asked for: IDC_regular's 277,524 x 256 values are 284 MB and one query
//! is some 71 million multiply-adds, a fraction of a second on rayon's threads.
//!
//! Embeddings are cached in the run's folder (`embeddings.bin`), tied to the dataset's patch
//! count; a dataset that changed since is embedded again.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use burn::prelude::Device;
use rayon::prelude::*;

use crate::atomic_file::write_atomic_with;
use crate::dataset::PatchStore;
use crate::model::cancernet::DENSE_UNITS;
use crate::training::RunFolder;
use crate::training::evaluate::{InferenceError, embed_patches, load_model};
use crate::training::run_folder::RunFileError;
use crate::training::stain::{StainError, store_for_run};

// 02: P(IDC) follows the rows.
const MAGIC: &[u8; 8] = b"IDCEMB02";

#[derive(Debug, thiserror::Error)]
pub enum SimilarError {
    #[error(transparent)]
    Run(#[from] RunFileError),
    #[error(transparent)]
    Inference(#[from] InferenceError),
    #[error("the patients' stains: {0}")]
    Stain(#[from] StainError),
    #[error(
        "{} was imported without embeddings, and it has no model to compute them: \"More like this\" and the map are unavailable for it (import it again with its embeddings, a float32 N×D .npy)",
        run.display()
    )]
    ImportedWithoutEmbeddings { run: std::path::PathBuf },
}

impl SimilarError {
    pub fn is_stopped(&self) -> bool {
        matches!(self, SimilarError::Inference(InferenceError::Stopped))
    }
}

/// Every patch of `store` embedded by `run`'s model: from the run's cache, or computed on
/// `device` and cached (a cache that cannot be written is only a slower next time).
pub fn run_embeddings(
    run: &RunFolder,
    store: &Arc<PatchStore>,
    device: &Device,
) -> Result<Embeddings, SimilarError> {
    run_embeddings_reporting(run, store, device, &mut |_| true)
}

/// [`run_embeddings`], telling `on_batch` how many patches are embedded so far; it stops the
/// work by returning false.
pub fn run_embeddings_reporting(
    run: &RunFolder,
    store: &Arc<PatchStore>,
    device: &Device,
    on_batch: &mut dyn FnMut(usize) -> bool,
) -> Result<Embeddings, SimilarError> {
    let path = run.embeddings_path();
    if let Some(cached) = Embeddings::load(&path, store.len()) {
        return Ok(cached);
    }
    let info = run.read_info()?;
    if info.is_imported() {
        return Err(SimilarError::ImportedWithoutEmbeddings {
            run: run.root().to_path_buf(),
        });
    }
    let model = load_model(&run.model_path(), info.batch_norm, device)?;
    // The model sees patches as it was trained to: stain-normalised where the run was.
    let store = &store_for_run(store, info.config.normalize_stain)?;
    let indices: Vec<usize> = (0..store.len()).collect();
    let embedded = embed_patches(&model, store, &indices, device, on_batch)?;
    let embeddings = Embeddings::new(DENSE_UNITS, embedded.rows, embedded.prob_idc);
    if let Err(err) = embeddings.save(&path) {
        tracing::warn!("{}: the embeddings were not cached: {err}", path.display());
    }
    Ok(embeddings)
}

/// One row a patch, centred on the dataset's mean (the dense layer's activations all lean one
/// way, so raw cosines crowd near 1) and scaled to unit length, so that a dot product is the
/// cosine. Each patch's P(IDC) under the same model comes with it (the map colours every patch
/// by it, not only the test part's).
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    units: usize,
    rows: Vec<f32>,
    prob_idc: Vec<f32>,
}

/// A patch near another, with their cosine similarity (1: the same direction).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    pub index: usize,
    pub similarity: f32,
}

impl Embeddings {
    /// From raw embeddings, `units` values a patch; a row at the mean stays zero (similar to
    /// none).
    pub fn new(units: usize, mut rows: Vec<f32>, prob_idc: Vec<f32>) -> Self {
        assert!(
            units > 0 && rows.len().is_multiple_of(units) && rows.len() / units == prob_idc.len(),
            "whole rows of {units} values, one P(IDC) a row"
        );
        let count = (rows.len() / units).max(1) as f64;
        let mut mean = vec![0f64; units];
        for row in rows.chunks(units) {
            for (sum, value) in mean.iter_mut().zip(row) {
                *sum += f64::from(*value);
            }
        }
        let mean: Vec<f32> = mean.iter().map(|sum| (sum / count) as f32).collect();
        rows.par_chunks_mut(units).for_each(|row| {
            row.iter_mut().zip(&mean).for_each(|(value, mean)| *value -= mean);
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            if norm > 0.0 {
                row.iter_mut().for_each(|v| *v /= norm);
            }
        });
        Self {
            units,
            rows,
            prob_idc,
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len() / self.units
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn units(&self) -> usize {
        self.units
    }

    /// Every patch's row, one after another (centred, unit length).
    pub fn rows(&self) -> &[f32] {
        &self.rows
    }

    /// Every patch's P(IDC) under the run's model, in store order.
    pub fn prob_idc(&self) -> &[f32] {
        &self.prob_idc
    }

    fn row(&self, index: usize) -> &[f32] {
        &self.rows[index * self.units..(index + 1) * self.units]
    }

    /// The `count` patches most like patch `of`, most alike first (itself left out; ties in
    /// dataset order).
    pub fn nearest(&self, of: usize, count: usize) -> Vec<Neighbour> {
        let query = self.row(of);
        let mut all: Vec<Neighbour> = self
            .rows
            .par_chunks(self.units)
            .enumerate()
            .filter(|(index, _)| *index != of)
            .map(|(index, row)| Neighbour {
                index,
                similarity: row.iter().zip(query).map(|(a, b)| a * b).sum(),
            })
            .collect();
        let count = count.min(all.len());
        if count == 0 {
            return Vec::new();
        }
        let by_similarity =
            |a: &Neighbour, b: &Neighbour| b.similarity.total_cmp(&a.similarity).then(a.index.cmp(&b.index));
        all.select_nth_unstable_by(count - 1, by_similarity);
        all.truncate(count);
        all.sort_by(by_similarity);
        all
    }

    /// Writes the cache atomically.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        write_atomic_with(path, |file| {
            use std::io::Write;
            file.write_all(MAGIC)?;
            file.write_all(&(self.len() as u64).to_le_bytes())?;
            file.write_all(&(self.units as u64).to_le_bytes())?;
            for value in self.rows.iter().chain(&self.prob_idc) {
                file.write_all(&value.to_le_bytes())?;
            }
            Ok(())
        })
    }

    /// The cache at `path` if it holds `patches` rows; `None` if it is missing, of another size
    /// or damaged (it is then computed again).
    pub fn load(path: &Path, patches: usize) -> Option<Self> {
        let mut file = std::io::BufReader::new(std::fs::File::open(path).ok()?);
        let mut header = [0u8; 24];
        file.read_exact(&mut header).ok()?;
        if &header[..8] != MAGIC {
            return None;
        }
        let count = u64::from_le_bytes(header[8..16].try_into().ok()?) as usize;
        let units = u64::from_le_bytes(header[16..24].try_into().ok()?) as usize;
        if count != patches || units == 0 {
            return None;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).ok()?;
        if bytes.len() != count * (units + 1) * 4 {
            return None;
        }
        let mut rows: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
            .collect();
        let prob_idc = rows.split_off(count * units);
        Some(Self {
            units,
            rows,
            prob_idc,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_are_the_most_alike_directions_and_a_copy_comes_first() {
        let rows = vec![
            1.0, 0.0, 0.0, //
            0.9, 0.1, 0.0, //
            0.0, 1.0, 0.0, //
            1.0, 0.0, 0.0, // a duplicate of the first
            0.0, 0.0, 1.0, //
        ];
        let embeddings = Embeddings::new(3, rows, vec![0.5; 5]);
        let nearest = embeddings.nearest(0, 2);
        assert_eq!(nearest[0].index, 3);
        assert!((nearest[0].similarity - 1.0).abs() < 1e-6);
        assert_eq!(nearest[1].index, 1);
        assert_eq!(
            embeddings.nearest(0, 99).len(),
            4,
            "every other patch, itself left out"
        );
    }

    #[test]
    fn the_cache_round_trips_and_refuses_another_datasets_size() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join(crate::training::RunFile::Embeddings.name());
        let embeddings = Embeddings::new(2, vec![3.0, 4.0, 1.0, 0.0], vec![0.25, 0.75]);
        assert!(
            (embeddings.nearest(0, 1)[0].similarity + 1.0).abs() < 1e-6,
            "two rows centre opposite"
        );
        embeddings.save(&path).unwrap();
        assert_eq!(Embeddings::load(&path, 2), Some(embeddings));
        assert_eq!(Embeddings::load(&path, 3), None);
        std::fs::write(&path, b"IDCEMB01 damaged").unwrap();
        assert_eq!(Embeddings::load(&path, 2), None);
    }
}
