//! A scanned dataset as the app and the audit use it: its store and scan report, per-patient
//! summaries, and lookups from a patient's name and a position on a slide to the patch.

use std::collections::HashMap;
use std::sync::Arc;

use super::PatchKey;
use super::store::PatientSummary;
use super::{PatchStore, ScanReport};

/// A scanned dataset and the lookups the views need.
pub struct Dataset {
    pub store: Arc<PatchStore>,
    pub report: ScanReport,
    pub summaries: Vec<PatientSummary>,
    patient_ids: HashMap<String, u32>,
    by_position: HashMap<(u32, u32, u32), usize>,
}

impl Dataset {
    pub fn new(store: impl Into<Arc<PatchStore>>, report: ScanReport) -> Self {
        let store: Arc<PatchStore> = store.into();
        let summaries = store.patient_summaries();
        let patient_ids = store
            .patients()
            .iter()
            .enumerate()
            .map(|(id, name)| (name.clone(), id as u32))
            .collect();
        let by_position = store
            .patches()
            .iter()
            .enumerate()
            .map(|(index, patch)| ((patch.patient, patch.x, patch.y), index))
            .collect();
        Self {
            store,
            report,
            summaries,
            patient_ids,
            by_position,
        }
    }

    pub fn patient_id(&self, name: &str) -> Option<u32> {
        self.patient_ids.get(name).copied()
    }

    /// The store index of the patch at (x, y) on `patient`'s slide.
    pub fn find(&self, patient: &str, x: u32, y: u32) -> Option<usize> {
        let id = self.patient_id(patient)?;
        self.by_position.get(&(id, x, y)).copied()
    }

    pub fn key(&self, index: usize) -> PatchKey {
        let patch = self.store.patch(index);
        PatchKey {
            patient: self.store.patient_name(patch).to_string(),
            x: patch.x,
            y: patch.y,
        }
    }
}
