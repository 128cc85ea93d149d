//! A map of every patch of a dataset: each patch's embedding under a run's model, laid out in
//! two dimensions (UMAP) so that patches the model sees alike lie together. Made on a worker
//! (embeddings, principal components, nearest neighbours, layout), with progress and Stop, and
//! cached with the run (`map.bin`), tied to the dataset's patch count.

pub mod layout;
pub mod neighbours;
pub mod pca;
pub mod progress;

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use burn::prelude::Device;

use crate::atomic_file::write_atomic_with;
use crate::dataset::PatchStore;
use crate::review::similar::{Embeddings, SimilarError, run_embeddings_reporting};
use crate::training::RunFolder;
use neighbours::{Coordinates, neighbour_graph};
pub use progress::{MapProgress, MapStep};

/// The neighbour search's dimensions: the embeddings' first principal components.
pub const SEARCH_UNITS: usize = 16;
/// Neighbours a point, itself included (umap-learn's default).
pub const NEIGHBOURS: usize = 15;

const MAGIC: &[u8; 8] = b"IDCMAP01";

#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error(transparent)]
    Embeddings(#[from] SimilarError),
    #[error("a map needs more than {NEIGHBOURS} patches; the dataset has {0}")]
    TooFew(usize),
}

/// Every patch's place on the map and its P(IDC) under the run's model, in store order.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetMap {
    pub points: Vec<[f32; 2]>,
    pub prob_idc: Vec<f32>,
}

/// The map of `store` under `run`: from the run's cache, or made on `device` and cached. None
/// when `progress` was told to stop.
pub fn run_map(
    run: &RunFolder,
    store: &Arc<PatchStore>,
    device: &Device,
    progress: &MapProgress,
) -> Result<Option<DatasetMap>, MapError> {
    let path = run.map_path();
    if let Some(cached) = DatasetMap::load(&path, store.len()) {
        return Ok(Some(cached));
    }
    if store.len() <= NEIGHBOURS {
        return Err(MapError::TooFew(store.len()));
    }
    progress.begin(MapStep::Embedding, store.len());
    let embeddings = match run_embeddings_reporting(run, store, device, &mut |done| {
        progress.set_done(done);
        !progress.stopped()
    }) {
        Ok(embeddings) => embeddings,
        Err(err) if err.is_stopped() => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let Some(map) = lay_out_embeddings(&embeddings, progress) else {
        return Ok(None);
    };
    if let Err(err) = map.save(&path) {
        tracing::warn!("{}: the map was not cached: {err}", path.display());
    }
    Ok(Some(map))
}

/// The map of embeddings already computed; None when stopped.
pub fn lay_out_embeddings(embeddings: &Embeddings, progress: &MapProgress) -> Option<DatasetMap> {
    progress.begin(MapStep::Components, embeddings.len());
    let components = pca::Components::fit(embeddings.rows(), embeddings.units(), SEARCH_UNITS);
    let projected = components.project(embeddings.rows());
    let points: Vec<Coordinates<SEARCH_UNITS>> = projected
        .chunks(components.count)
        .map(|row| {
            let mut coordinates = [0f32; SEARCH_UNITS];
            coordinates[..row.len()].copy_from_slice(row);
            Coordinates(coordinates)
        })
        .collect();
    let graph = neighbour_graph(&points, NEIGHBOURS, progress)?;
    let start = points.iter().map(|point| [point.0[0], point.0[1]]).collect();
    let placed = layout::lay_out(&graph, start, progress)?;
    Some(DatasetMap {
        points: placed,
        prob_idc: embeddings.prob_idc().to_vec(),
    })
}

impl DatasetMap {
    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Writes the cache atomically.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        write_atomic_with(path, |file| {
            use std::io::Write;
            file.write_all(MAGIC)?;
            file.write_all(&(self.len() as u64).to_le_bytes())?;
            let values = self.points.iter().flatten().chain(&self.prob_idc);
            let bytes: Vec<u8> = values.flat_map(|value| value.to_le_bytes()).collect();
            file.write_all(&bytes)
        })
    }

    /// The cache at `path` if it holds `patches` points; None if it is missing, of another size
    /// or damaged (the map is then made again).
    pub fn load(path: &Path, patches: usize) -> Option<Self> {
        let mut file = std::io::BufReader::new(std::fs::File::open(path).ok()?);
        let mut header = [0u8; 16];
        file.read_exact(&mut header).ok()?;
        if &header[..8] != MAGIC {
            return None;
        }
        let count = u64::from_le_bytes(header[8..16].try_into().ok()?) as usize;
        if count != patches {
            return None;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).ok()?;
        if bytes.len() != count * 3 * 4 {
            return None;
        }
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
            .collect();
        let (places, prob_idc) = values.split_at(count * 2);
        Some(Self {
            points: places.chunks(2).map(|pair| [pair[0], pair[1]]).collect(),
            prob_idc: prob_idc.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three groups of embeddings in different directions, with a little noise.
    fn three_groups(per_group: usize) -> Embeddings {
        let units = 8;
        let mut rows = Vec::new();
        for group in 0..3 {
            for i in 0..per_group {
                for unit in 0..units {
                    let centre = if unit == group * 2 { 5.0 } else { 0.0 };
                    let noise =
                        (((i * 7919 + unit * 104_729 + group * 31) % 1000) as f32 / 1000.0 - 0.5) * 0.6;
                    rows.push(centre + noise);
                }
            }
        }
        Embeddings::new(units, rows, vec![0.5; 3 * per_group])
    }

    #[test]
    fn groups_of_alike_embeddings_lie_apart_on_the_map() {
        let per_group = 40;
        let map = lay_out_embeddings(&three_groups(per_group), &MapProgress::default()).unwrap();
        assert_eq!(map.len(), 3 * per_group);
        // Each point's five nearest on the map: from its own group, nearly always.
        let group_of = |index: usize| index / per_group;
        let mut same = 0;
        for (index, point) in map.points.iter().enumerate() {
            let mut others: Vec<(f32, usize)> = map
                .points
                .iter()
                .enumerate()
                .filter(|(other, _)| *other != index)
                .map(|(other, p)| ((p[0] - point[0]).powi(2) + (p[1] - point[1]).powi(2), other))
                .collect();
            others.sort_by(|a, b| a.0.total_cmp(&b.0));
            same += others[..5]
                .iter()
                .filter(|(_, other)| group_of(*other) == group_of(index))
                .count();
        }
        let share = same as f64 / (5 * map.len()) as f64;
        assert!(share > 0.95, "{share:.3} of the map's neighbours share a group");
    }

    #[test]
    fn the_cache_round_trips_and_refuses_another_datasets_size() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join(crate::training::RunFile::Map.name());
        let map = DatasetMap {
            points: vec![[1.0, 2.0], [3.5, -4.0]],
            prob_idc: vec![0.1, 0.9],
        };
        map.save(&path).unwrap();
        assert_eq!(DatasetMap::load(&path, 2), Some(map));
        assert_eq!(DatasetMap::load(&path, 3), None);
        std::fs::write(&path, b"IDCMAP01 damaged").unwrap();
        assert_eq!(DatasetMap::load(&path, 2), None);
    }

    #[test]
    fn a_stopped_map_ends_with_nothing() {
        let progress = MapProgress::default();
        progress.stop();
        assert_eq!(lay_out_embeddings(&three_groups(10), &progress), None);
    }
}
