//! Known label errors planted in a synthetic demo dataset, to measure how well label-error
//! detection finds them. A planted patch keeps its pixels and moves to the other class's folder
//! under the other class's name, as a mislabelled scan would be filed; the list of what was
//! flipped is written beside it (`planted_flips.csv`). A real dataset is never touched.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{Label, PatchStore};
use crate::atomic_file::write_csv_atomic;

/// The file, in the dataset's folder, that lists the planted flips.
pub const PLANTED_FLIPS_FILE: &str = "planted_flips.csv";

/// A patch whose given label was flipped on purpose.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlantedFlip {
    pub patient: String,
    pub x: u32,
    pub y: u32,
    /// The label its pixels were drawn with.
    pub true_label: usize,
    /// The label its file name and folder now give.
    pub given_label: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("{}: {why}", path.display())]
pub struct LabelNoiseError {
    pub path: PathBuf,
    pub why: String,
}

/// Flips the labels of `share` of `store`'s patches (chosen by `seed`), renaming their files,
/// and records which in [`PLANTED_FLIPS_FILE`]. Refuses anything but a synthetic dataset. The
/// store is stale afterwards: scan the folder again.
pub fn plant_label_flips(
    store: &PatchStore,
    share: f64,
    seed: u64,
) -> Result<Vec<PlantedFlip>, LabelNoiseError> {
    let fail = |path: &Path, why: String| LabelNoiseError {
        path: path.to_path_buf(),
        why,
    };
    if !store.is_synthetic() {
        return Err(fail(
            store.root(),
            "label errors are planted only in the synthetic demo dataset, never in real data".into(),
        ));
    }
    if !(0.0..=0.5).contains(&share) {
        return Err(fail(
            store.root(),
            format!("a share of {share} is not between 0 and 0.5"),
        ));
    }
    let record = store.root().join(PLANTED_FLIPS_FILE);
    if record.exists() {
        return Err(fail(
            &record,
            "labels were already planted in this dataset".into(),
        ));
    }
    let mut chosen: Vec<usize> = (0..store.len()).collect();
    chosen.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    chosen.truncate((share * store.len() as f64).round() as usize);
    chosen.sort_unstable();
    // Every target is worked out before any file moves, and a failure part way moves the
    // files already moved back: the dataset is flipped entirely, with its record, or not at all.
    let mut planned = Vec::with_capacity(chosen.len());
    for index in chosen {
        let patch = store.patch(index);
        let (from, to) = (patch.label, patch.label.other());
        let target = flipped_path(&patch.path, from, to).ok_or_else(|| {
            fail(
                &patch.path,
                "not in the IDC layout (<patient>/<class>/<name>_class<class>.png)".into(),
            )
        })?;
        let flip = PlantedFlip {
            patient: store.patient_name(patch).to_string(),
            x: patch.x,
            y: patch.y,
            true_label: from.index(),
            given_label: to.index(),
        };
        planned.push((patch.path.clone(), target, flip));
    }
    let undo = |moved: &[(PathBuf, PathBuf, PlantedFlip)]| {
        for (source, target, _) in moved.iter().rev() {
            let _ = std::fs::rename(target, source);
        }
    };
    for (done, (source, target, _)) in planned.iter().enumerate() {
        if let Err(err) = std::fs::rename(source, target) {
            undo(&planned[..done]);
            return Err(fail(
                source,
                format!("{err}; the labels flipped before it were put back"),
            ));
        }
    }
    let flips: Vec<PlantedFlip> = planned.iter().map(|(_, _, flip)| flip.clone()).collect();
    if let Err(err) = write_csv_atomic(&record, &flips) {
        undo(&planned);
        return Err(fail(&record, format!("{err}; the flipped labels were put back")));
    }
    Ok(flips)
}

/// The planted flips recorded in `dataset`, if any were.
pub fn read_planted_flips(dataset: &Path) -> Result<Option<Vec<PlantedFlip>>, LabelNoiseError> {
    let path = dataset.join(PLANTED_FLIPS_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let flips = crate::atomic_file::read_csv(&path).map_err(|err| LabelNoiseError {
        path,
        why: err.to_string(),
    })?;
    Ok(Some(flips))
}

/// `<patient>/<from>/<stem>_class<from>.png` as `<patient>/<to>/<stem>_class<to>.png`.
fn flipped_path(path: &Path, from: Label, to: Label) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(&format!("_class{}.png", from.index()))?;
    let class_folder = path.parent()?;
    if class_folder.file_name()?.to_str()? != from.index().to_string() {
        return None;
    }
    let target_folder = class_folder.parent()?.join(to.index().to_string());
    std::fs::create_dir_all(&target_folder).ok()?;
    Some(target_folder.join(format!("{stem}_class{}.png", to.index())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::demo::{DemoConfig, generate_demo_dataset};
    use crate::dataset::scan_dataset;

    #[test]
    fn flips_the_share_asked_and_records_which() {
        let folder = tempfile::tempdir().unwrap();
        let config = DemoConfig {
            patients: 3,
            patches_per_patient: 60,
            seed: 5,
            ..DemoConfig::default()
        };
        generate_demo_dataset(folder.path(), &config).unwrap();
        let (store, _) = scan_dataset(folder.path(), &|_| {}).unwrap();
        let flips = plant_label_flips(&store, 0.05, 1).unwrap();
        assert_eq!(flips.len(), (0.05 * store.len() as f64).round() as usize);
        assert_eq!(read_planted_flips(folder.path()).unwrap().unwrap(), flips);

        let (rescanned, report) = scan_dataset(folder.path(), &|_| {}).unwrap();
        assert_eq!(rescanned.len(), store.len(), "{:?}", report.skipped);
        let index = rescanned.index_by_identity();
        for flip in &flips {
            let patch = rescanned.patch(index[&(flip.patient.as_str(), flip.x, flip.y)]);
            assert_eq!(patch.label.index(), flip.given_label);
            assert_ne!(flip.given_label, flip.true_label);
        }
        assert!(
            plant_label_flips(&rescanned, 0.05, 1).is_err(),
            "planting twice is refused"
        );
    }

    #[test]
    fn a_flip_that_cannot_be_made_puts_back_the_ones_made_before_it() {
        let folder = tempfile::tempdir().unwrap();
        let config = DemoConfig {
            patients: 3,
            patches_per_patient: 40,
            seed: 5,
            ..DemoConfig::default()
        };
        generate_demo_dataset(folder.path(), &config).unwrap();
        let (store, _) = scan_dataset(folder.path(), &|_| {}).unwrap();
        // A folder where the last patient's flipped files would go: those renames fail, after
        // the first patients' files have moved.
        let last = store.patches().last().unwrap().patient;
        for patch in store.patches().iter().filter(|patch| patch.patient == last) {
            let target = flipped_path(&patch.path, patch.label, patch.label.other()).unwrap();
            std::fs::create_dir_all(target).unwrap();
        }
        let err = plant_label_flips(&store, 0.5, 1).unwrap_err().to_string();
        assert!(err.contains("put back"), "{err}");
        assert!(
            store.patches().iter().all(|patch| patch.path.is_file()),
            "every file is where it was"
        );
        assert!(read_planted_flips(folder.path()).unwrap().is_none());
    }
}
