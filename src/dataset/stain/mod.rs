//! Stain: the haematoxylin and eosin colours that differ from slide to slide (staining batch,
//! lab, scanner). Colour deconvolution, random re-staining for training (HED jitter), Macenko
//! normalisation per patient, and each patient's estimated stain. Pixel arithmetic only: no
//! burn, no UI.

pub mod hed;
pub mod macenko;
pub mod optical_density;
pub mod patient_stains;

pub use hed::{HedJitter, HedJitterRanges, StainAugment};
pub use macenko::{MacenkoStain, REFERENCE_STAIN};
pub use optical_density::{OdTransform, Tone, restain_patch, restain_pixels};
pub use patient_stains::{PatientStain, PatientStains};

use serde::{Deserialize, Serialize};

/// Whether every patient's patches are mapped onto one reference stain before the model sees
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StainNormalisation {
    /// Patches as scanned.
    #[default]
    None,
    /// Macenko's method, each patient's stain estimated from all its patches.
    Macenko,
}

impl StainNormalisation {
    pub fn name(self) -> &'static str {
        match self {
            StainNormalisation::None => "none",
            StainNormalisation::Macenko => "macenko",
        }
    }
}
