//! Helpers shared by the integration tests: small generated datasets and PNG files.
#![allow(dead_code)] // each test binary uses a different subset

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

pub fn png_bytes(image: image::DynamicImage) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    bytes.into_inner()
}

pub fn rgb_png(width: u32, height: u32, colour: [u8; 3]) -> Vec<u8> {
    png_bytes(image::RgbImage::from_pixel(width, height, image::Rgb(colour)).into())
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}
