//! Each point's nearest others, approximately, with a navigable small-world graph (HNSW,
//! instant-distance): an exact search of 277,524 points against each other is 77 billion
//! distances, hours on two cores; HNSW finds nearly all the same neighbours in a minute or two.

use instant_distance::{Builder, HnswMap, Point, Search};
use rayon::prelude::*;

use super::progress::{MapProgress, MapStep};

/// How wide each search looks: wider finds more of the true neighbours, slower.
const SEARCH_WIDTH: usize = 40;
/// The same seed gives the same graph.
const SEED: u64 = 42;
/// Points searched between two looks at Stop.
const CHUNK: usize = 2048;

/// A point in `D` dimensions, compared by Euclidean distance.
#[derive(Debug, Clone, Copy)]
pub struct Coordinates<const D: usize>(pub [f32; D]);

impl<const D: usize> Point for Coordinates<D> {
    fn distance(&self, other: &Self) -> f32 {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt()
    }
}

/// A search index over points, each tagged with the id it was given.
pub struct NearestIndex<const D: usize> {
    map: HnswMap<Coordinates<D>, u32>,
}

/// A point found near another.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Near {
    pub id: u32,
    pub distance: f32,
}

impl<const D: usize> NearestIndex<D> {
    pub fn build(points: Vec<Coordinates<D>>, ids: Vec<u32>) -> Self {
        let builder = Builder::default()
            .seed(SEED)
            .ef_search(SEARCH_WIDTH)
            .ef_construction(SEARCH_WIDTH);
        Self {
            map: builder.build(points, ids),
        }
    }

    /// The `count` indexed points nearest `point`, nearest first.
    pub fn nearest(&self, point: &Coordinates<D>, count: usize, search: &mut Search) -> Vec<Near> {
        self.map
            .search(point, search)
            .take(count)
            .map(|item| Near {
                id: *item.value,
                distance: item.distance,
            })
            .collect()
    }
}

/// Each point's `k` nearest (itself first, at distance 0, as UMAP expects), row after row.
#[derive(Debug, Clone, PartialEq)]
pub struct NeighbourGraph {
    pub k: usize,
    pub indices: Vec<u32>,
    pub distances: Vec<f32>,
}

/// The graph of `points`' `k` nearest; None when stopped.
pub fn neighbour_graph<const D: usize>(
    points: &[Coordinates<D>],
    k: usize,
    progress: &MapProgress,
) -> Option<NeighbourGraph> {
    progress.begin(MapStep::Indexing, points.len());
    let ids = (0..points.len() as u32).collect();
    let index = NearestIndex::build(points.to_vec(), ids);
    if progress.stopped() {
        return None;
    }
    progress.begin(MapStep::Neighbours, points.len());
    let rows: Option<Vec<Vec<(u32, f32)>>> = points
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(chunk, block)| {
            if progress.stopped() {
                return None;
            }
            let mut search = Search::default();
            let mut rows = Vec::with_capacity(block.len() * k);
            for (offset, point) in block.iter().enumerate() {
                let me = (chunk * CHUNK + offset) as u32;
                rows.push((me, 0.0));
                let found = index.nearest(point, k + 1, &mut search);
                rows.extend(
                    found
                        .iter()
                        .filter(|near| near.id != me)
                        .take(k - 1)
                        .map(|near| (near.id, near.distance)),
                );
                // Fewer points than k: the row is filled with itself, at no distance.
                while rows.len() % k != 0 {
                    rows.push((me, 0.0));
                }
            }
            progress.advance(block.len());
            Some(rows)
        })
        .collect();
    let rows = rows?;
    let pairs = rows.into_iter().flatten();
    let (indices, distances) = pairs.unzip();
    Some(NeighbourGraph {
        k,
        indices,
        distances,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_point_finds_itself_then_its_nearest() {
        // Two tight clumps far apart.
        let mut points = Vec::new();
        for i in 0..30 {
            let jitter = i as f32 * 0.01;
            points.push(Coordinates([jitter, 0.0]));
            points.push(Coordinates([100.0 + jitter, 5.0]));
        }
        let graph = neighbour_graph(&points, 5, &MapProgress::default()).unwrap();
        assert_eq!(graph.indices.len(), 60 * 5);
        for (point, row) in graph.indices.chunks(5).enumerate() {
            assert_eq!(row[0] as usize, point, "itself first");
            for &other in &row[1..] {
                assert_eq!(other as usize % 2, point % 2, "a neighbour from the same clump");
                assert_ne!(other as usize, point);
            }
        }
        let row_distances = &graph.distances[..5];
        assert!(
            row_distances.windows(2).all(|pair| pair[0] <= pair[1]),
            "nearest first"
        );
    }
}
