//! Copies and near-copies among a dataset's patches, and what they do to a split: a test patch
//! with a copy in the training part is scored on something the model has seen. Within one
//! slide, neighbouring tiles of plain tissue or glass look alike, so a split by patch (the
//! tutorial's) puts near-copies of many test patches into training; a split by patient cannot.

pub mod leak;
pub mod pixels;

use std::collections::HashMap;

use instant_distance::Search;
use rayon::prelude::*;

use crate::dataset::PatchStore;
use crate::review::map::neighbours::NearestIndex;
pub use leak::{LeakMeasure, SplitLeak, embedding_leak, split_leak};
use pixels::{DESCRIPTION_UNITS, Description, rms_levels};

/// Two patches whose block colours differ by at most this many levels of 255 (root mean
/// square) are near-duplicates.
pub const NEAR_LEVELS: f32 = 4.0;
/// Near-duplicates looked for around each patch.
const NEAR_PER_PATCH: usize = 4;

/// Two patches alike, by how much their block colours differ (0: identical pixels).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PatchPair {
    pub a: usize,
    pub b: usize,
    pub rms_levels: f32,
}

/// The copies found in a dataset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Duplicates {
    /// Groups of patches with identical pixels, each in store order.
    pub exact: Vec<Vec<usize>>,
    /// Pairs within [`NEAR_LEVELS`] that are not identical.
    pub near: Vec<PatchPair>,
}

impl Duplicates {
    /// The groups of identical patches given both labels: at least one label is wrong.
    pub fn label_conflicts(&self, store: &PatchStore) -> Vec<&[usize]> {
        self.exact
            .iter()
            .filter(|group| has_both_labels(store, group))
            .map(Vec::as_slice)
            .collect()
    }

    /// Near-duplicate pairs given different labels.
    pub fn near_conflicts(&self, store: &PatchStore) -> Vec<PatchPair> {
        self.near
            .iter()
            .copied()
            .filter(|pair| store.patch(pair.a).label != store.patch(pair.b).label)
            .collect()
    }

    /// Patches in an exact group, counted once each.
    pub fn patches_with_copies(&self) -> usize {
        self.exact.iter().map(Vec::len).sum()
    }
}

fn has_both_labels(store: &PatchStore, group: &[usize]) -> bool {
    let first = store.patch(group[0]).label;
    group.iter().any(|&index| store.patch(index).label != first)
}

/// Patches with identical pixels, grouped (fingerprints first, then every byte).
pub fn exact_groups(store: &PatchStore, fingerprints: &[u64]) -> Vec<Vec<usize>> {
    let mut by_fingerprint: HashMap<u64, Vec<usize>> = HashMap::new();
    for (index, &fingerprint) in fingerprints.iter().enumerate() {
        by_fingerprint.entry(fingerprint).or_default().push(index);
    }
    let mut groups = Vec::new();
    for candidates in by_fingerprint.into_values().filter(|group| group.len() > 1) {
        // A fingerprint shared by different pixels (a collision) splits into true groups.
        let mut left = candidates;
        while let Some(first) = left.first().copied() {
            let (same, other): (Vec<usize>, Vec<usize>) = left
                .into_iter()
                .partition(|&index| store.pixels(index) == store.pixels(first));
            if same.len() > 1 {
                groups.push(same);
            }
            left = other;
        }
    }
    groups.sort();
    groups
}

/// Every patch's fingerprint and description, and the descriptions indexed for the nearest
/// search: built once, then shared by the duplicates and every split's leak.
pub struct PixelSearch {
    pub fingerprints: Vec<u64>,
    pub descriptions: Vec<Description>,
    pub index: NearestIndex<DESCRIPTION_UNITS>,
}

impl PixelSearch {
    pub fn new(store: &PatchStore) -> PixelSearch {
        let (fingerprints, descriptions) = pixels::describe_all(store);
        let ids = (0..descriptions.len() as u32).collect();
        let index = NearestIndex::build(descriptions.clone(), ids);
        PixelSearch {
            fingerprints,
            descriptions,
            index,
        }
    }
}

/// Every exact and near duplicate in `store`.
pub fn find_duplicates(store: &PatchStore, search: &PixelSearch) -> Duplicates {
    let exact = exact_groups(store, &search.fingerprints);
    let mut near: Vec<PatchPair> = search
        .descriptions
        .par_iter()
        .enumerate()
        .map_init(Search::default, |scratch, (a, description)| {
            search
                .index
                .nearest(description, NEAR_PER_PATCH + 1, scratch)
                .into_iter()
                .filter(|found| found.id as usize > a && rms_levels(found.distance) <= NEAR_LEVELS)
                .filter(|found| store.pixels(a) != store.pixels(found.id as usize))
                .map(|found| PatchPair {
                    a,
                    b: found.id as usize,
                    rms_levels: rms_levels(found.distance),
                })
                .collect::<Vec<_>>()
        })
        .flatten()
        .collect();
    near.sort_by(|x, y| {
        x.rms_levels
            .total_cmp(&y.rms_levels)
            .then((x.a, x.b).cmp(&(y.a, y.b)))
    });
    Duplicates { exact, near }
}
