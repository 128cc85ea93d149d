//! Colour deconvolution (Ruifrok & Johnston 2001) and HED colour augmentation (Tellez et al.
//! 2019): a pixel's optical density is split into haematoxylin, eosin and DAB concentrations
//! through a fixed stain matrix; each stain's concentration is scaled and shifted at random;
//! the pixel is recomposed. Since all of it is linear in optical density, one jitter is one
//! [`OdTransform`], drawn per patch.

use nalgebra::Matrix3;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::optical_density::{OdTransform, Tone, densities};

/// Ruifrok and Johnston's stain vectors, one row a stain (haematoxylin, eosin, DAB), as
/// scikit-image's `rgb2hed` uses them.
pub const RUIFROK_JOHNSTON: [[f32; 3]; 3] = [[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]];

pub(super) fn to_matrix(rows: &[[f32; 3]; 3]) -> Matrix3<f64> {
    Matrix3::from_fn(|i, j| f64::from(rows[i][j]))
}

pub(super) fn from_matrix(matrix: &Matrix3<f64>) -> [[f32; 3]; 3] {
    std::array::from_fn(|i| std::array::from_fn(|j| matrix[(i, j)] as f32))
}

/// Optical density to concentrations: the inverse of a stain matrix (rows: stains).
pub fn unmixing(stains: &[[f32; 3]; 3]) -> Option<[[f32; 3]; 3]> {
    to_matrix(stains)
        .try_inverse()
        .map(|inverse| from_matrix(&inverse))
}

/// A pixel's haematoxylin, eosin and DAB concentrations by Ruifrok and Johnston's matrix.
pub fn hed_concentrations(rgb: [u8; 3]) -> [f32; 3] {
    static UNMIX: std::sync::LazyLock<OdTransform> = std::sync::LazyLock::new(|| {
        OdTransform::linear(unmixing(&RUIFROK_JOHNSTON).expect("Ruifrok and Johnston's matrix is invertible"))
    });
    UNMIX.apply(densities(rgb))
}

/// How strongly training batches are re-stained at random.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StainAugment {
    /// Patches keep their colours.
    None,
    /// Tellez's "HED-light": each stain's concentration scaled and shifted by up to 5%, with
    /// brightness and contrast by up to 5%.
    Light,
    /// Tellez's "HED-strong": up to 20%, brightness and contrast by up to 15%. The default: on
    /// demos of mild and of strong stain variation it lifted the worst patient and the search
    /// for label errors most, at no cost to the median patient (figures in docs/stain.md).
    #[default]
    Strong,
}

impl StainAugment {
    /// The setting of runs saved before it existed: no stain augmentation.
    pub fn of_older_runs() -> StainAugment {
        StainAugment::None
    }

    pub fn name(self) -> &'static str {
        match self {
            StainAugment::None => "none",
            StainAugment::Light => "light",
            StainAugment::Strong => "strong",
        }
    }

    /// Its ranges, or `None` when it re-stains nothing.
    pub fn ranges(self) -> Option<HedJitterRanges> {
        match self {
            StainAugment::None => None,
            StainAugment::Light => Some(HedJitterRanges {
                stain: 0.05,
                brightness: 0.05,
                contrast: 0.05,
            }),
            StainAugment::Strong => Some(HedJitterRanges {
                stain: 0.2,
                brightness: 0.15,
                contrast: 0.15,
            }),
        }
    }
}

/// Half-widths of the uniform draws of a HED jitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HedJitterRanges {
    /// Each stain's concentration is scaled by 1 ± this and shifted by ± this.
    pub stain: f32,
    /// Added to values in [0, 1].
    pub brightness: f32,
    /// Contrast is 1 ± this.
    pub contrast: f32,
}

/// One patch's random re-staining.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HedJitter {
    pub stain: OdTransform,
    pub tone: Tone,
}

impl HedJitter {
    pub fn random(ranges: &HedJitterRanges, rng: &mut impl Rng) -> HedJitter {
        let mut symmetric = |limit: f32| {
            if limit > 0.0 {
                rng.random_range(-limit..=limit)
            } else {
                0.0
            }
        };
        let scale: [f32; 3] = std::array::from_fn(|_| 1.0 + symmetric(ranges.stain));
        let shift: [f32; 3] = std::array::from_fn(|_| symmetric(ranges.stain));
        let tone = Tone {
            brightness: symmetric(ranges.brightness),
            contrast: 1.0 + symmetric(ranges.contrast),
        };
        HedJitter {
            stain: concentration_jitter(&RUIFROK_JOHNSTON, scale, shift),
            tone,
        }
    }
}

/// The optical-density map of `c' = c ∘ scale + shift` for concentrations `c` in `stains`:
/// `od · stains⁻¹ · diag(scale) · stains + shift · stains`.
pub fn concentration_jitter(stains: &[[f32; 3]; 3], scale: [f32; 3], shift: [f32; 3]) -> OdTransform {
    let mixing = to_matrix(stains);
    let unmix = mixing.try_inverse().unwrap_or_else(Matrix3::identity);
    let scaled = Matrix3::from_diagonal(&nalgebra::Vector3::from_fn(|i, _| f64::from(scale[i])));
    let matrix = unmix * scaled * mixing;
    let offset = OdTransform::linear(*stains).apply(shift);
    OdTransform {
        matrix: from_matrix(&matrix),
        offset,
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::dataset::stain::optical_density::restain_pixels;

    #[test]
    fn deconvolution_finds_each_stain_alone() {
        // A pixel dyed by haematoxylin alone, 0.8 units of it.
        let od = OdTransform::linear(RUIFROK_JOHNSTON).apply([0.8, 0.0, 0.0]);
        let rgb = od.map(|density| super::super::optical_density::value_of(density).round() as u8);
        let [h, e, d] = hed_concentrations(rgb);
        assert!(
            (h - 0.8).abs() < 0.02 && e.abs() < 0.02 && d.abs() < 0.02,
            "{h} {e} {d}"
        );
    }

    #[test]
    fn a_jitter_scales_and_shifts_each_stains_concentration() {
        let jitter = concentration_jitter(&RUIFROK_JOHNSTON, [1.2, 0.9, 1.0], [0.05, -0.02, 0.0]);
        let unmix = OdTransform::linear(unmixing(&RUIFROK_JOHNSTON).unwrap());
        let before = [0.5, 0.3, 0.1];
        let od = OdTransform::linear(RUIFROK_JOHNSTON).apply(before);
        let after = unmix.apply(jitter.apply(od));
        let expected = [0.5 * 1.2 + 0.05, 0.3 * 0.9 - 0.02, 0.1];
        assert!(
            after.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-4),
            "{after:?}"
        );
    }

    #[test]
    fn random_jitters_keep_within_their_ranges_and_pixels_in_range() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let ranges = StainAugment::Strong.ranges().unwrap();
        for _ in 0..100 {
            let jitter = HedJitter::random(&ranges, &mut rng);
            assert!(jitter.tone.brightness.abs() <= 0.15 && (jitter.tone.contrast - 1.0).abs() <= 0.15);
            // Every u8 colour on the grey axis and the extremes stays a u8 colour (no wrap).
            let mut rgb: Vec<u8> = (0..=255u8).flat_map(|v| [v, 255 - v, v / 2]).collect();
            restain_pixels(&mut rgb, &jitter.stain, jitter.tone);
        }
        assert_eq!(StainAugment::None.ranges(), None);
    }
}
