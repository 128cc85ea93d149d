//! Train/validation/test splits: by patient (the honest default: no patient in two parts) or by
//! patch (the tutorial's), stratified by class, deterministic from a seed, saved with a run.

use std::path::Path;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{Label, PatchStore};
use crate::atomic_file::write_atomic_with;

/// The share of patches held out for the test part.
pub const TEST_FRACTION: f64 = 0.2;
/// The share of the remaining patches held out for validation.
pub const VALIDATION_FRACTION: f64 = 0.1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SplitKind {
    /// No patient has patches in two parts.
    Patient,
    /// Patches are shuffled regardless of patient, as in the tutorial (scores leak).
    Patch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitPart {
    Train,
    Validation,
    Test,
}

/// Which part every patch of a store belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub kind: SplitKind,
    pub seed: u64,
    /// None for a patch the saved split did not name (added to the folder since).
    parts: Vec<Option<SplitPart>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("{}: {why}", path.display())]
    Io { path: std::path::PathBuf, why: String },
    #[error("{}: line {line}: {why}", path.display())]
    Malformed {
        path: std::path::PathBuf,
        line: u64,
        why: String,
    },
    #[error("{}: {missing} patches of the saved split are not in the dataset (first: {first}); is this the dataset the run was trained on?", path.display())]
    Mismatch {
        path: std::path::PathBuf,
        missing: usize,
        first: String,
    },
}

#[derive(Serialize, Deserialize)]
struct SplitRow {
    patient: String,
    x: u32,
    y: u32,
    label: usize,
    part: SplitPart,
}

impl Split {
    pub fn new(store: &PatchStore, kind: SplitKind, seed: u64) -> Split {
        let parts = match kind {
            SplitKind::Patient => split_by_patient(store, seed),
            SplitKind::Patch => split_by_patch(store, seed),
        };
        Split {
            kind,
            seed,
            parts: parts.into_iter().map(Some).collect(),
        }
    }

    /// A split given patch by patch (an imported run's, as its file named the parts); None
    /// leaves a patch out of every part.
    pub fn from_parts(kind: SplitKind, seed: u64, parts: Vec<Option<SplitPart>>) -> Split {
        Split { kind, seed, parts }
    }

    /// The part patch `index` is in; None for a patch the saved split did not name.
    pub fn part(&self, index: usize) -> Option<SplitPart> {
        self.parts.get(index).copied().flatten()
    }

    /// Indices of the patches in `part`, in store order.
    pub fn indices(&self, part: SplitPart) -> Vec<usize> {
        (0..self.parts.len())
            .filter(|&index| self.parts[index] == Some(part))
            .collect()
    }

    /// Writes the split as CSV (patient, x, y, label, part), atomically.
    pub fn save(&self, store: &PatchStore, path: &Path) -> Result<(), SplitError> {
        let io = |err: std::io::Error| SplitError::Io {
            path: path.to_path_buf(),
            why: err.to_string(),
        };
        write_atomic_with(path, |writer| {
            let mut csv = csv::Writer::from_writer(writer);
            for (patch, part) in store.patches().iter().zip(&self.parts) {
                let Some(part) = part else { continue };
                csv.serialize(SplitRow {
                    patient: store.patient_name(patch).to_string(),
                    x: patch.x,
                    y: patch.y,
                    label: patch.label.index(),
                    part: *part,
                })
                .map_err(std::io::Error::other)?;
            }
            csv.flush()
        })
        .map_err(io)
    }

    /// Reads a split saved by [`Split::save`] and maps it onto `store`. Patches of the store
    /// that the split does not name (added since) are left out of every part.
    pub fn load(store: &PatchStore, kind: SplitKind, seed: u64, path: &Path) -> Result<Split, SplitError> {
        let mut reader = csv::Reader::from_path(path).map_err(|err| SplitError::Io {
            path: path.to_path_buf(),
            why: err.to_string(),
        })?;
        let index = store.index_by_identity();
        let mut parts = vec![None; store.len()];
        let (mut missing, mut first_missing) = (0, String::new());
        for (row_number, row) in reader.deserialize::<SplitRow>().enumerate() {
            let row = row.map_err(|err| SplitError::Malformed {
                path: path.to_path_buf(),
                line: row_number as u64 + 2,
                why: err.to_string(),
            })?;
            match index.get(&(row.patient.as_str(), row.x, row.y)) {
                Some(&patch) => parts[patch] = Some(row.part),
                None => {
                    if missing == 0 {
                        first_missing = format!("patient {} x{} y{}", row.patient, row.x, row.y);
                    }
                    missing += 1;
                }
            }
        }
        if missing > 0 {
            return Err(SplitError::Mismatch {
                path: path.to_path_buf(),
                missing,
                first: first_missing,
            });
        }
        Ok(Split { kind, seed, parts })
    }
}

fn split_by_patch(store: &PatchStore, seed: u64) -> Vec<SplitPart> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut parts = vec![SplitPart::Train; store.len()];
    for label in Label::ALL {
        let mut members: Vec<usize> = (0..store.len())
            .filter(|&index| store.patch(index).label == label)
            .collect();
        members.shuffle(&mut rng);
        let test = (members.len() as f64 * TEST_FRACTION).round() as usize;
        let validation = ((members.len() - test) as f64 * VALIDATION_FRACTION).round() as usize;
        for &index in &members[..test] {
            parts[index] = SplitPart::Test;
        }
        for &index in &members[test..test + validation] {
            parts[index] = SplitPart::Validation;
        }
    }
    parts
}

/// Patients are ranked by their share of IDC, cut into strata of similar patients, and one of
/// each stratum goes to the held-out part: each part sees the same spread of IDC burdens.
fn split_by_patient(store: &PatchStore, seed: u64) -> Vec<SplitPart> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let summaries = store.patient_summaries();
    let mut patients: Vec<usize> = (0..summaries.len()).collect();
    patients.shuffle(&mut rng);
    patients.sort_by(|&a, &b| {
        summaries[a]
            .idc_fraction()
            .total_cmp(&summaries[b].idc_fraction())
    });

    let mut patient_parts = vec![SplitPart::Train; summaries.len()];
    let test = pick_one_per_stratum(&patients, TEST_FRACTION, &mut rng);
    for &patient in &test {
        patient_parts[patient] = SplitPart::Test;
    }
    let rest: Vec<usize> = patients
        .iter()
        .copied()
        .filter(|patient| !test.contains(patient))
        .collect();
    for patient in pick_one_per_stratum(&rest, VALIDATION_FRACTION, &mut rng) {
        patient_parts[patient] = SplitPart::Validation;
    }
    store
        .patches()
        .iter()
        .map(|patch| patient_parts[patch.patient as usize])
        .collect()
}

/// From `ranked` (patients in order of IDC share), picks `fraction` of them: one at random from
/// each run of 1/fraction neighbours. With few patients, at least one is picked.
fn pick_one_per_stratum(ranked: &[usize], fraction: f64, rng: &mut ChaCha8Rng) -> Vec<usize> {
    if ranked.len() < 2 {
        return Vec::new();
    }
    let wanted = ((ranked.len() as f64 * fraction).round() as usize).clamp(1, ranked.len() - 1);
    let mut picked = Vec::with_capacity(wanted);
    for stratum in 0..wanted {
        let start = stratum * ranked.len() / wanted;
        let end = (stratum + 1) * ranked.len() / wanted;
        let choice = rand::Rng::random_range(rng, start..end);
        picked.push(ranked[choice]);
    }
    picked
}
