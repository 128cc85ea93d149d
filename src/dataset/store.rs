//! The in-memory patch store: every usable patch as 50x50x3 u8 pixels in one buffer, with its
//! patient, slide coordinates, label and true size beside it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Label, PATCH_BYTES};

/// One patch's facts (its pixels live in the store's buffer at the same index).
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    /// Index into [`PatchStore::patients`].
    pub patient: u32,
    /// Position of the patch's top-left corner on the patient's slide, in pixels.
    pub x: u32,
    pub y: u32,
    pub label: Label,
    /// True size: edge patches are smaller than 50x50 and padded in the store.
    pub width: u8,
    pub height: u8,
    pub path: PathBuf,
}

/// How many patches of each class one patient has.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientSummary {
    pub patient: String,
    pub patches: usize,
    pub idc: usize,
}

impl PatientSummary {
    pub fn idc_fraction(&self) -> f64 {
        if self.patches == 0 {
            0.0
        } else {
            self.idc as f64 / self.patches as f64
        }
    }
}

/// All usable patches of a dataset, decoded.
#[derive(Debug, Default)]
pub struct PatchStore {
    root: PathBuf,
    synthetic: bool,
    patients: Vec<String>,
    patches: Vec<Patch>,
    pixels: Vec<u8>,
}

impl PatchStore {
    /// Builds a store; `pixels` holds `PATCH_BYTES` per patch, in the order of `patches`.
    pub fn new(
        root: PathBuf,
        synthetic: bool,
        patients: Vec<String>,
        patches: Vec<Patch>,
        pixels: Vec<u8>,
    ) -> Self {
        assert_eq!(
            pixels.len(),
            patches.len() * PATCH_BYTES,
            "one pixel slot per patch"
        );
        Self {
            root,
            synthetic,
            patients,
            patches,
            pixels,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// True for the generated demo dataset, which must never be taken for real tissue.
    pub fn is_synthetic(&self) -> bool {
        self.synthetic
    }

    pub fn len(&self) -> usize {
        self.patches.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patches.is_empty()
    }

    pub fn patients(&self) -> &[String] {
        &self.patients
    }

    pub fn patient_name(&self, patch: &Patch) -> &str {
        &self.patients[patch.patient as usize]
    }

    pub fn patches(&self) -> &[Patch] {
        &self.patches
    }

    pub fn patch(&self, index: usize) -> &Patch {
        &self.patches[index]
    }

    /// The 50x50x3 RGB pixels of patch `index`, padded with white outside its true size.
    pub fn pixels(&self, index: usize) -> &[u8] {
        &self.pixels[index * PATCH_BYTES..(index + 1) * PATCH_BYTES]
    }

    /// Patches of class 0 and of class 1.
    pub fn class_counts(&self) -> [usize; 2] {
        let mut counts = [0; 2];
        for patch in &self.patches {
            counts[patch.label.index()] += 1;
        }
        counts
    }

    /// Per patient: patch count and IDC count, in patient order.
    pub fn patient_summaries(&self) -> Vec<PatientSummary> {
        let mut summaries: Vec<PatientSummary> = self
            .patients
            .iter()
            .map(|patient| PatientSummary {
                patient: patient.clone(),
                patches: 0,
                idc: 0,
            })
            .collect();
        for patch in &self.patches {
            let summary = &mut summaries[patch.patient as usize];
            summary.patches += 1;
            summary.idc += usize::from(patch.label == Label::Idc);
        }
        summaries
    }

    /// Looks a patch up by its identity on the slide.
    pub fn index_by_identity(&self) -> HashMap<(&str, u32, u32), usize> {
        self.patches
            .iter()
            .enumerate()
            .map(|(index, patch)| ((self.patient_name(patch), patch.x, patch.y), index))
            .collect()
    }

    /// Memory held by the pixel buffer.
    pub fn pixel_bytes(&self) -> usize {
        self.pixels.len()
    }
}
