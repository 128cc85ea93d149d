//! How much of a split's test part has a copy in its training part: for each test patch, its
//! nearest training patch, by pixels or by the run's model, whether that one is a copy or a
//! near-copy, and whether it comes from the same patient (a leak no honest split has).

use std::collections::HashSet;

use instant_distance::{Point, Search};
use rayon::prelude::*;

use super::pixels::rms_levels;
use super::{NEAR_LEVELS, PixelSearch};
use crate::dataset::PatchStore;
use crate::dataset::split::{Split, SplitPart};
use crate::review::map::neighbours::{Coordinates, NearestIndex};
use crate::review::map::{SEARCH_UNITS, pca::Components};
use crate::review::similar::Embeddings;

/// What "nearest" is measured by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakMeasure {
    /// Block colours: copies and near-copies as a person would see them.
    Pixels,
    /// The run's embeddings: what the model takes for alike.
    Model,
}

/// One split's test part against its training part.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitLeak {
    /// Which split, in words ("by patient, seed 42").
    pub split: String,
    pub measure: LeakMeasure,
    pub test_patches: usize,
    /// Test patches with an identical patch in the training part (pixels only).
    pub exact_copy_in_training: Option<usize>,
    /// Test patches whose nearest training patch is a near-duplicate (pixels only).
    pub near_duplicate_in_training: Option<usize>,
    /// ...and of those, how many from the same patient.
    pub near_duplicate_same_patient: Option<usize>,
    /// Test patches whose nearest training patch is from the same patient.
    pub nearest_same_patient: usize,
}

impl SplitLeak {
    /// A count as a share of the test part.
    pub fn share(&self, count: usize) -> f64 {
        count as f64 / self.test_patches.max(1) as f64
    }
}

/// Nearest training patch of each test patch by pixels.
pub fn split_leak(store: &PatchStore, split: &Split, name: String, search: &PixelSearch) -> SplitLeak {
    let fingerprints = &search.fingerprints;
    let train = split.indices(SplitPart::Train);
    let test = split.indices(SplitPart::Test);
    let train_prints: HashSet<u64> = train.iter().map(|&index| fingerprints[index]).collect();
    let exact = test
        .par_iter()
        .filter(|&&index| {
            train_prints.contains(&fingerprints[index])
                && train.iter().any(|&other| {
                    fingerprints[other] == fingerprints[index] && store.pixels(other) == store.pixels(index)
                })
        })
        .count();
    let nearest = nearest_training_by_pixels(&train, &test, split, search);
    let same_patient =
        |(test, train, _): &&(usize, usize, f32)| store.patch(*test).patient == store.patch(*train).patient;
    let near: Vec<&(usize, usize, f32)> = nearest
        .iter()
        .filter(|(_, _, distance)| rms_levels(*distance) <= NEAR_LEVELS)
        .collect();
    SplitLeak {
        split: name,
        measure: LeakMeasure::Pixels,
        test_patches: test.len(),
        exact_copy_in_training: Some(exact),
        near_duplicate_in_training: Some(near.len()),
        near_duplicate_same_patient: Some(near.iter().filter(|pair| same_patient(pair)).count()),
        nearest_same_patient: nearest.iter().filter(|pair| same_patient(pair)).count(),
    }
}

/// Nearest training patch of each test patch by the run's model (its embeddings' first
/// principal components, as the map uses).
pub fn embedding_leak(store: &PatchStore, split: &Split, name: String, embeddings: &Embeddings) -> SplitLeak {
    let train = split.indices(SplitPart::Train);
    let test = split.indices(SplitPart::Test);
    let components = Components::fit(embeddings.rows(), embeddings.units(), SEARCH_UNITS);
    let projected = components.project(embeddings.rows());
    let point = |index: usize| {
        let mut coordinates = [0f32; SEARCH_UNITS];
        let row = &projected[index * components.count..(index + 1) * components.count];
        coordinates[..row.len()].copy_from_slice(row);
        Coordinates(coordinates)
    };
    let nearest = nearest_training(&train, &test, point);
    SplitLeak {
        split: name,
        measure: LeakMeasure::Model,
        test_patches: test.len(),
        exact_copy_in_training: None,
        near_duplicate_in_training: None,
        near_duplicate_same_patient: None,
        nearest_same_patient: nearest
            .iter()
            .filter(|(test, train, _)| store.patch(*test).patient == store.patch(*train).patient)
            .count(),
    }
}

/// Candidates looked through for the nearest training patch in the whole dataset's index.
const CANDIDATES: usize = 32;

/// (test patch, its nearest training patch, their distance) for every test patch, from the
/// whole dataset's index: the first training patch among a test patch's nearest. A test patch
/// whose nearest are all outside training (its own slide's, under a patient split) is compared
/// with every training patch.
fn nearest_training_by_pixels(
    train: &[usize],
    test: &[usize],
    split: &Split,
    search: &PixelSearch,
) -> Vec<(usize, usize, f32)> {
    if train.is_empty() {
        return Vec::new();
    }
    let descriptions = &search.descriptions;
    test.par_iter()
        .map_init(Search::default, |scratch, &patch| {
            let found = search.index.nearest(&descriptions[patch], CANDIDATES, scratch);
            let in_training = found
                .iter()
                .find(|near| split.part(near.id as usize) == Some(SplitPart::Train));
            match in_training {
                Some(near) => (patch, near.id as usize, near.distance),
                None => {
                    let (other, distance) = train
                        .iter()
                        .map(|&other| (other, descriptions[patch].distance(&descriptions[other])))
                        .min_by(|a, b| a.1.total_cmp(&b.1))
                        .expect("a training part");
                    (patch, other, distance)
                }
            }
        })
        .collect()
}

/// (test patch, its nearest training patch, their distance) for every test patch.
fn nearest_training<const D: usize>(
    train: &[usize],
    test: &[usize],
    point: impl Fn(usize) -> Coordinates<D> + Sync,
) -> Vec<(usize, usize, f32)> {
    if train.is_empty() {
        return Vec::new();
    }
    let index = NearestIndex::build(
        train.iter().map(|&index| point(index)).collect(),
        train.iter().map(|&index| index as u32).collect(),
    );
    test.par_iter()
        .map_init(Search::default, |search, &patch| {
            let found = index.nearest(&point(patch), 1, search);
            (patch, found[0].id as usize, found[0].distance)
        })
        .collect()
}
