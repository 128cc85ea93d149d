//! The in-memory patch store: every usable patch as 50x50x3 u8 pixels in one buffer, with its
//! patient, slide coordinates, label and true size beside it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::corrections::{LabelChanges, LabelOverride};
use super::stain::OdTransform;
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
    /// Shared with the relabelled views of this store ([`PatchStore::relabelled`]).
    pixels: Arc<Vec<u8>>,
    /// Per patch, its slot in `pixels`; `None` when patch `i` is slot `i`.
    slots: Option<Arc<Vec<u32>>>,
    /// Per patient, the map of its stain onto the reference, when the model is to see every
    /// patch normalised ([`PatchStore::with_stain_normalisation`]). The pixels stay as scanned.
    stain_normalisation: Option<Arc<Vec<OdTransform>>>,
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
            pixels: Arc::new(pixels),
            slots: None,
            stain_normalisation: None,
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
        let slot = self.slots.as_ref().map_or(index, |slots| slots[index] as usize);
        &self.pixels[slot * PATCH_BYTES..(slot + 1) * PATCH_BYTES]
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

    /// This store with a reviewer's corrections: each override's patch takes its new label, or
    /// is left out when it has none. The pixels are shared, not copied. Overrides that name no
    /// patch here, or give a patch its own label, change nothing.
    pub fn relabelled(&self, overrides: &[LabelOverride]) -> (PatchStore, LabelChanges) {
        let by_identity = self.index_by_identity();
        let mut new_label: HashMap<usize, Option<Label>> = HashMap::new();
        for correction in overrides {
            if let Some(&index) = by_identity.get(&(correction.patient.as_str(), correction.x, correction.y))
            {
                new_label.insert(index, correction.label);
            }
        }
        let mut changes = LabelChanges::default();
        let mut patches = Vec::with_capacity(self.patches.len());
        let mut slots = Vec::with_capacity(self.patches.len());
        for (index, patch) in self.patches.iter().enumerate() {
            let slot = self.slots.as_ref().map_or(index as u32, |slots| slots[index]);
            match new_label.get(&index) {
                Some(None) => {
                    changes.left_out += 1;
                    continue;
                }
                Some(Some(label)) if *label != patch.label => {
                    changes.relabelled += 1;
                    patches.push(Patch {
                        label: *label,
                        ..patch.clone()
                    });
                }
                _ => patches.push(patch.clone()),
            }
            slots.push(slot);
        }
        let store = PatchStore {
            root: self.root.clone(),
            synthetic: self.synthetic,
            patients: self.patients.clone(),
            patches,
            pixels: Arc::clone(&self.pixels),
            slots: Some(Arc::new(slots)),
            stain_normalisation: self.stain_normalisation.clone(),
        };
        (store, changes)
    }

    /// This store, its patches rendered for the model through `per_patient` (one map a patient,
    /// in patient order): the same pixels, shared.
    pub fn with_stain_normalisation(&self, per_patient: Vec<OdTransform>) -> PatchStore {
        assert_eq!(per_patient.len(), self.patients.len(), "one stain map a patient");
        PatchStore {
            root: self.root.clone(),
            synthetic: self.synthetic,
            patients: self.patients.clone(),
            patches: self.patches.clone(),
            pixels: Arc::clone(&self.pixels),
            slots: self.slots.clone(),
            stain_normalisation: Some(Arc::new(per_patient)),
        }
    }

    /// The map of patch `index`'s stain onto the reference, when this store normalises stain.
    pub fn stain_normalisation(&self, index: usize) -> Option<&OdTransform> {
        let maps = self.stain_normalisation.as_ref()?;
        Some(&maps[self.patches[index].patient as usize])
    }

    /// Memory held by the pixel buffer.
    pub fn pixel_bytes(&self) -> usize {
        self.pixels.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> PatchStore {
        let patches = (0..3u32)
            .map(|x| Patch {
                patient: 0,
                x: x * 50,
                y: 0,
                label: Label::Idc,
                width: 50,
                height: 50,
                path: format!("{x}.png").into(),
            })
            .collect();
        let pixels = (0..3u8).flat_map(|value| [value; PATCH_BYTES]).collect();
        PatchStore::new("/data".into(), false, vec!["8863".into()], patches, pixels)
    }

    #[test]
    fn a_relabelled_store_moves_labels_leaves_out_unsure_patches_and_keeps_each_patchs_pixels() {
        let corrections = |x: u32, label| LabelOverride {
            patient: "8863".into(),
            x,
            y: 0,
            label,
        };
        let (relabelled, changes) = store().relabelled(&[
            corrections(0, None),
            corrections(50, Some(Label::NonIdc)),
            corrections(100, Some(Label::Idc)),
            corrections(999, Some(Label::NonIdc)),
        ]);
        assert_eq!(
            changes,
            LabelChanges {
                relabelled: 1,
                left_out: 1
            }
        );
        assert_eq!(relabelled.len(), 2);
        assert_eq!(relabelled.patch(0).label, Label::NonIdc);
        assert_eq!(relabelled.pixels(0)[0], 1);
        assert_eq!(relabelled.pixels(1)[0], 2);
        let (twice, _) = relabelled.relabelled(&[corrections(100, None)]);
        assert_eq!(twice.len(), 1);
        assert_eq!(twice.pixels(0)[0], 1);
    }
}
