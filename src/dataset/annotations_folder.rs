//! Where idc-studio keeps what it learns of a dataset (the readers' annotations, the search for
//! label errors, the patients' stains): beside the dataset when its folder can be written, else
//! in the user's data folder under a name tied to the dataset's path.

use std::path::{Path, PathBuf};

/// The annotations folder beside a dataset, when the dataset's folder is writable.
pub const BESIDE_DATASET: &str = ".idc-studio/annotations";

/// Where a dataset's annotations live: beside it (`.idc-studio/annotations`) when its folder is
/// writable, else in `data_home/annotations/<folder name>-<hash of its path>`.
pub fn annotations_folder(dataset_root: &Path, data_home: &Path) -> PathBuf {
    let beside = dataset_root.join(BESIDE_DATASET);
    let writable = std::fs::create_dir_all(&beside).is_ok() && tempfile::tempfile_in(&beside).is_ok();
    if writable {
        return beside;
    }
    let name = dataset_root
        .file_name()
        .map_or_else(|| "dataset".into(), |name| name.to_string_lossy().into_owned());
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    data_home.join("annotations").join(format!(
        "{safe}-{:016x}",
        fnv1a(dataset_root.to_string_lossy().as_bytes())
    ))
}

/// A stable hash (unlike std's, the same in every build), to key a dataset by its path.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
