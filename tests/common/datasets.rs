//! Small generated datasets, scanned.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use idc_studio::dataset::demo::{DemoConfig, generate_demo_dataset};
use idc_studio::dataset::{PatchStore, scan_dataset};

/// A small generated dataset and its scan.
pub struct Demo {
    _folder: tempfile::TempDir,
    pub root: PathBuf,
    pub store: Arc<PatchStore>,
}

/// A small demo dataset, generated once per test binary: 6 patients, about 720 patches.
pub fn small_demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let folder = tempfile::tempdir().unwrap();
        let root = folder.path().join("demo");
        let config = DemoConfig {
            patients: 6,
            patches_per_patient: 120,
            seed: 11,
            ..DemoConfig::default()
        };
        generate_demo_dataset(&root, &config).unwrap();
        let (store, _) = scan_dataset(&root, &|_| {}).unwrap();
        Demo {
            _folder: folder,
            root,
            store: Arc::new(store),
        }
    })
}

/// A small demo dataset of its own in `folder` (for tests that write beside it), scanned.
pub fn own_demo(folder: &Path, patients: usize, patches_per_patient: usize) -> PatchStore {
    let config = DemoConfig {
        patients,
        patches_per_patient,
        seed: 5,
        ..DemoConfig::default()
    };
    generate_demo_dataset(folder, &config).unwrap();
    scan_dataset(folder, &|_| {}).unwrap().0
}

/// A patch file of `data`: the first non-IDC patch of its first patient folder.
pub fn first_patch_file(data: &Path) -> PathBuf {
    let patient = std::fs::read_dir(data)
        .unwrap()
        .flatten()
        .find(|entry| entry.path().is_dir())
        .unwrap()
        .path();
    std::fs::read_dir(patient.join("0"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path()
}
