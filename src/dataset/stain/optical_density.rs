//! Optical density (Beer-Lambert): how much of the light each channel lost in the tissue. Stains
//! add up in optical density, not in RGB, so every stain operation here (deconvolution, jitter,
//! normalisation, a lab's re-staining) is one linear map of a pixel's three optical densities,
//! [`OdTransform`], and two of them compose into one.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::dataset::PATCH_SIDE;

/// The optical density of a channel value: -ln((v + 1) / 256), so white (255) absorbs nothing
/// and black stays finite.
pub fn optical_density(value: u8) -> f32 {
    -((f32::from(value) + 1.0) / 256.0).ln()
}

/// The channel value (unrounded, unclamped) that lets through `density`: the inverse of
/// [`optical_density`].
pub fn value_of(density: f32) -> f32 {
    256.0 * (-density).exp() - 1.0
}

/// [`optical_density`] of every u8, computed once: a pixel's three logarithms become lookups.
static DENSITY_OF: LazyLock<[f32; 256]> =
    LazyLock::new(|| std::array::from_fn(|value| optical_density(value as u8)));

/// A pixel's optical densities (R, G, B).
pub fn densities(rgb: [u8; 3]) -> [f32; 3] {
    let table = &*DENSITY_OF;
    rgb.map(|value| table[usize::from(value)])
}

/// A linear map of optical densities, `od' = od · matrix + offset`, with `od` a row vector
/// (R, G, B). A stain matrix's rows are the stains' densities per unit of concentration, so
/// concentrations `c` give `od = c · stains`, and every change of stains is such a map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OdTransform {
    pub matrix: [[f32; 3]; 3],
    pub offset: [f32; 3],
}

impl OdTransform {
    pub const IDENTITY: OdTransform = OdTransform {
        matrix: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        offset: [0.0; 3],
    };

    /// The map `od · matrix` (no offset).
    pub fn linear(matrix: [[f32; 3]; 3]) -> OdTransform {
        OdTransform {
            matrix,
            offset: [0.0; 3],
        }
    }

    pub fn apply(&self, od: [f32; 3]) -> [f32; 3] {
        let m = &self.matrix;
        std::array::from_fn(|j| od[0] * m[0][j] + od[1] * m[1][j] + od[2] * m[2][j] + self.offset[j])
    }

    /// This map, then `next`: one map.
    pub fn then(&self, next: &OdTransform) -> OdTransform {
        let matrix = std::array::from_fn(|i| {
            std::array::from_fn(|j| (0..3).map(|k| self.matrix[i][k] * next.matrix[k][j]).sum())
        });
        let offset = next.apply(self.offset);
        OdTransform { matrix, offset }
    }
}

/// Brightness and contrast of the re-stained values, taken in [0, 1]: `(v - 0.5) · contrast +
/// 0.5 + brightness`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tone {
    pub brightness: f32,
    pub contrast: f32,
}

impl Tone {
    pub const UNCHANGED: Tone = Tone {
        brightness: 0.0,
        contrast: 1.0,
    };
}

/// Re-stains packed RGB pixels in place through `stain`, then `tone`.
pub fn restain_pixels(rgb: &mut [u8], stain: &OdTransform, tone: Tone) {
    // (v / 255 - 0.5) · contrast + 0.5 + brightness, in channel values.
    let scale = tone.contrast;
    let shift = 255.0 * (0.5 - 0.5 * tone.contrast + tone.brightness);
    for pixel in rgb.chunks_exact_mut(3) {
        let od = stain.apply(densities([pixel[0], pixel[1], pixel[2]]));
        for (channel, density) in pixel.iter_mut().zip(od) {
            *channel = (value_of(density) * scale + shift).round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// Re-stains a stored patch (50x50x3, of which `width` x `height` is real) into `out`: the true
/// area through `stain` and `tone`, the padding copied as it is.
pub fn restain_patch(pixels: &[u8], width: u8, height: u8, stain: &OdTransform, tone: Tone, out: &mut [u8]) {
    out.copy_from_slice(pixels);
    let row_bytes = usize::from(width).min(PATCH_SIDE) * 3;
    for row in out.chunks_exact_mut(PATCH_SIDE * 3).take(usize::from(height)) {
        restain_pixels(&mut row[..row_bytes], stain, tone);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::PATCH_BYTES;

    #[test]
    fn white_absorbs_nothing_and_every_value_comes_back() {
        assert_eq!(optical_density(255), 0.0);
        for value in 0..=255u8 {
            assert_eq!(value_of(optical_density(value)).round() as u8, value);
        }
        let mut rgb: Vec<u8> = (0..=255u8).collect::<Vec<_>>().repeat(3);
        let before = rgb.clone();
        restain_pixels(&mut rgb, &OdTransform::IDENTITY, Tone::UNCHANGED);
        assert_eq!(rgb, before, "the identity re-stains nothing");
    }

    #[test]
    fn two_maps_compose_into_one() {
        let a = OdTransform {
            matrix: [[1.1, 0.2, 0.0], [0.0, 0.9, 0.1], [0.3, 0.0, 1.0]],
            offset: [0.05, -0.02, 0.0],
        };
        let b = OdTransform {
            matrix: [[0.8, 0.0, 0.1], [0.1, 1.2, 0.0], [0.0, 0.2, 0.7]],
            offset: [0.0, 0.1, -0.03],
        };
        let od = [0.4, 0.9, 0.2];
        let (once, twice) = (a.then(&b).apply(od), b.apply(a.apply(od)));
        assert!(
            once.iter().zip(twice).all(|(x, y)| (x - y).abs() < 1e-6),
            "{once:?} {twice:?}"
        );
    }

    #[test]
    fn a_patch_is_restained_in_its_true_area_only() {
        let pixels = vec![200u8; PATCH_BYTES];
        let mut out = vec![0u8; PATCH_BYTES];
        let darker = OdTransform {
            offset: [0.5; 3],
            ..OdTransform::IDENTITY
        };
        restain_patch(&pixels, 20, 30, &darker, Tone::UNCHANGED, &mut out);
        let at = |x: usize, y: usize| out[(y * PATCH_SIDE + x) * 3];
        assert!(at(0, 0) < 130 && at(19, 29) < 130, "{}", at(0, 0));
        assert_eq!((at(20, 0), at(0, 30)), (200, 200), "padding untouched");
    }
}
