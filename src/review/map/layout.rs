//! The map's layout: UMAP. umap-rs builds the fuzzy graph from the neighbours (each edge's
//! membership strength and the curve's a and b); the gradient descent is written here, after
//! umap-learn's `optimize_layout_euclidean`, because umap-rs 0.4.5's own scales both forces by
//! an extra squared distance and pulls neighbours against a stale copy of the layout, so that
//! well-separated groups come out mixed. As umap-learn's, it runs on every core at once, each
//! thread a share of the edges, moving the shared points without locks (a point two threads
//! move at once loses one of the steps, which stochastic descent absorbs): two maps of the same
//! run differ in detail, not in which patches lie together, and the map is cached with the run.
//! Epochs run in short stretches so that progress shows and Stop is heard.

use std::sync::atomic::{AtomicU32, Ordering};

use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use umap_rs::{GraphParams, Umap, UmapConfig};

use super::neighbours::NeighbourGraph;
use super::progress::{MapProgress, MapStep};

/// Epochs run between two looks at Stop.
const STRETCH: usize = 10;
/// Negative samples an edge draws for each time it pulls (umap-learn's default).
const NEGATIVE_SAMPLE_RATE: f64 = 5.0;
/// The repulsion's weight (umap-learn's `repulsion_strength`).
const GAMMA: f32 = 1.0;
/// A step is clipped to this (umap-learn's `clip`).
const CLIP: f32 = 4.0;
/// The starting layout spans this many units (umap-learn's expansion of its initialisation).
const START_SPAN: f32 = 10.0;
const SEED: u64 = 42;
/// Edges a thread takes at a time: neighbouring edges share head points, so a thread's share
/// is mostly points no other thread moves.
const EDGES_A_TASK: usize = 16_384;

/// A point's place, shared by the descent's threads: its coordinates' bits, read and written
/// whole (relaxed atomics compile to plain loads and stores).
struct Place([AtomicU32; 2]);

impl Place {
    fn new(at: [f32; 2]) -> Self {
        Place([AtomicU32::new(at[0].to_bits()), AtomicU32::new(at[1].to_bits())])
    }

    fn get(&self) -> [f32; 2] {
        [
            f32::from_bits(self.0[0].load(Ordering::Relaxed)),
            f32::from_bits(self.0[1].load(Ordering::Relaxed)),
        ]
    }

    fn set(&self, at: [f32; 2]) {
        self.0[0].store(at[0].to_bits(), Ordering::Relaxed);
        self.0[1].store(at[1].to_bits(), Ordering::Relaxed);
    }
}

/// The epochs of gradient descent: umap-learn's own choice for large datasets (200), more for
/// small ones where they are cheap.
fn epochs(points: usize) -> usize {
    if points <= 10_000 { 500 } else { 200 }
}

/// One edge of the fuzzy graph and its sampling schedule.
struct Edge {
    head: u32,
    tail: u32,
    epochs_per_sample: f64,
    next_sample: f64,
    next_negative_sample: f64,
}

/// Two coordinates a point, from `graph` and the starting places `start` (two a point); None
/// when stopped.
pub fn lay_out(
    graph: &NeighbourGraph,
    start: Vec<[f32; 2]>,
    progress: &MapProgress,
) -> Option<Vec<[f32; 2]>> {
    let points = start.len();
    let config = UmapConfig {
        n_components: 2,
        graph: GraphParams {
            n_neighbors: graph.k,
            ..Default::default()
        },
        ..Default::default()
    };
    let indices = ArrayView2::from_shape((points, graph.k), &graph.indices).expect("k neighbours a point");
    let distances = ArrayView2::from_shape((points, graph.k), &graph.distances).expect("k distances a point");
    // umap-rs reads only the number of rows of the data: the neighbours stand for it.
    let data = Array2::<f32>::zeros((points, 1));
    let total = epochs(points);
    progress.begin(MapStep::Layout, total);
    let manifold = Umap::new(config).learn_manifold(data.view(), indices, distances);
    let (a, b) = manifold.curve_params();
    let weighted = manifold
        .graph()
        .iter()
        .map(|(&weight, (head, tail))| (head as usize, tail as usize, weight));
    let mut edges = schedule(weighted, total);
    let layout: Vec<Place> = spread(start).into_iter().map(Place::new).collect();
    let mut epoch = 0;
    while epoch < total {
        if progress.stopped() {
            return None;
        }
        for _ in 0..STRETCH.min(total - epoch) {
            let alpha = 1.0 - epoch as f32 / total as f32;
            edges
                .par_chunks_mut(EDGES_A_TASK)
                .enumerate()
                .for_each(|(task, edges)| {
                    let mut rng = ChaCha8Rng::seed_from_u64(SEED ^ ((epoch as u64) << 32) ^ task as u64);
                    descend(&layout, edges, (a, b), alpha, epoch as f64, &mut rng);
                });
            epoch += 1;
        }
        progress.set_done(epoch);
    }
    Some(layout.iter().map(Place::get).collect())
}

/// The edges worth sampling (those at least 1/epochs of the strongest), each sampled in
/// proportion to its strength.
fn schedule(weighted: impl Iterator<Item = (usize, usize, f32)>, epochs: usize) -> Vec<Edge> {
    let weighted: Vec<(usize, usize, f32)> = weighted.filter(|&(head, tail, _)| head != tail).collect();
    let strongest = weighted.iter().map(|edge| edge.2).fold(0f32, f32::max);
    if strongest <= 0.0 {
        return Vec::new();
    }
    weighted
        .into_iter()
        .filter(|&(_, _, weight)| weight >= strongest / epochs as f32)
        .map(|(head, tail, weight)| {
            let epochs_per_sample = f64::from(strongest / weight);
            Edge {
                head: head as u32,
                tail: tail as u32,
                epochs_per_sample,
                next_sample: epochs_per_sample,
                next_negative_sample: epochs_per_sample / NEGATIVE_SAMPLE_RATE,
            }
        })
        .collect()
}

/// The starting places scaled so that the largest coordinate is `START_SPAN`, as umap-learn
/// scales its own.
fn spread(mut start: Vec<[f32; 2]>) -> Vec<[f32; 2]> {
    let largest = start.iter().flatten().fold(0f32, |m, v| m.max(v.abs()));
    if largest > 0.0 {
        let scale = START_SPAN / largest;
        start.iter_mut().flatten().for_each(|v| *v *= scale);
    }
    start
}

/// One epoch: each edge due pulls its ends together and pushes its head from a few random
/// points.
fn descend(
    layout: &[Place],
    edges: &mut [Edge],
    (a, b): (f32, f32),
    alpha: f32,
    epoch: f64,
    rng: &mut ChaCha8Rng,
) {
    let points = layout.len();
    let step = |gradient: f32| gradient.clamp(-CLIP, CLIP) * alpha;
    for edge in edges.iter_mut().filter(|edge| edge.next_sample <= epoch) {
        let (head, tail) = (edge.head as usize, edge.tail as usize);
        let (p, q) = (layout[head].get(), layout[tail].get());
        let squared = distance_squared(p, q);
        let mut p = p;
        if squared > 0.0 {
            let pull = -2.0 * a * b * squared.powf(b - 1.0) / (a * squared.powf(b) + 1.0);
            let moved = [step(pull * (p[0] - q[0])), step(pull * (p[1] - q[1]))];
            p = [p[0] + moved[0], p[1] + moved[1]];
            layout[tail].set([q[0] - moved[0], q[1] - moved[1]]);
        }
        edge.next_sample += edge.epochs_per_sample;
        let per_negative = edge.epochs_per_sample / NEGATIVE_SAMPLE_RATE;
        let negatives = ((epoch - edge.next_negative_sample) / per_negative).max(0.0) as usize;
        for _ in 0..negatives {
            let other = rng.random_range(0..points);
            if other == head {
                continue;
            }
            let q = layout[other].get();
            let squared = distance_squared(p, q);
            let moved = if squared > 0.0 {
                let push = 2.0 * GAMMA * b / ((0.001 + squared) * (a * squared.powf(b) + 1.0));
                [step(push * (p[0] - q[0])), step(push * (p[1] - q[1]))]
            } else {
                [CLIP * alpha; 2]
            };
            p = [p[0] + moved[0], p[1] + moved[1]];
        }
        layout[head].set(p);
        edge.next_negative_sample += negatives as f64 * per_negative;
    }
}

fn distance_squared(p: [f32; 2], q: [f32; 2]) -> f32 {
    (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)
}
