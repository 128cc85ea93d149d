//! How each demo patient's slide was stained and scanned: the labs differ, as real ones do.
//!
//! A slide is painted in one canonical haematoxylin and eosin, then re-stained as its lab and
//! batch would have it: each stain's colour turned by a few degrees in optical density, its
//! amount scaled, the whole scan a little darker or lighter, and a little out of focus. With
//! strong variation, patients come from three labs, most from the first and some from two
//! whose stains are far from it, so a model trained on the others meets a stain it never saw.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::dataset::stain::hed::unmixing;
use crate::dataset::stain::optical_density::optical_density;
use crate::dataset::stain::{OdTransform, Tone, restain_pixels};

/// How much the demo patients' stains differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StainVariation {
    /// Every patient stained and scanned alike.
    None,
    /// One lab, each slide its own batch: colours a few degrees apart, amounts within 15%.
    #[default]
    Mild,
    /// Three labs, two of them far from the first: colours up to 16 degrees apart, amounts
    /// from 60% to 150%, darker and lighter scans, some out of focus.
    Strong,
}

impl StainVariation {
    pub fn name(self) -> &'static str {
        match self {
            StainVariation::None => "none",
            StainVariation::Mild => "mild",
            StainVariation::Strong => "strong",
        }
    }
}

/// The canonical stains a slide is painted in (RGB in [0, 1]); dataset/demo mixes them.
pub const CANONICAL_HAEMATOXYLIN: [f32; 3] = [0.35, 0.20, 0.50];
pub const CANONICAL_EOSIN: [f32; 3] = [0.93, 0.62, 0.78];

/// One patient's stain and scan, drawn at random and written to `demo_stains.csv` so that the
/// truth is known to whoever measures the stain tools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabStain {
    pub patient: String,
    /// 0: the common lab; 1 and 2: the far ones (strong variation only).
    pub lab: u8,
    /// How far each stain's colour is turned from the canonical one, in degrees of optical
    /// density direction.
    pub haematoxylin_turn_degrees: f32,
    pub eosin_turn_degrees: f32,
    /// How much of each stain, against the canonical amount.
    pub haematoxylin_amount: f32,
    pub eosin_amount: f32,
    /// The scanner's light: 1 is the canonical white, less is a darker scan.
    pub illumination: f32,
    /// Gaussian blur, in pixels (0: in focus).
    pub blur_sigma: f32,
    #[serde(skip)]
    turn_axes: [[f32; 3]; 2],
}

/// A lab's or batch's departure from the canonical stain.
struct Departure {
    turn_degrees: [f32; 2],
    amount: [f32; 2],
    illumination: f32,
}

impl LabStain {
    /// Patient `patient`'s stain under `variation`, drawn from `seed` alone (the slide's
    /// tissue comes from other draws, so the three variations share their tissue and labels).
    pub fn draw(patient: &str, variation: StainVariation, seed: u64) -> LabStain {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x57a1_7ed0);
        let turn_axes = [random_unit(&mut rng), random_unit(&mut rng)];
        let (lab, lab_departure, batch_turn, batch_amount, illumination, blur) = match variation {
            StainVariation::None => (0, None, 0.0, 0.0, (1.0, 1.0), 0.0),
            StainVariation::Mild => (0, None, 4.0, 0.15, (0.94, 1.0), 0.5),
            StainVariation::Strong => {
                let lab = match rng.random_range(0.0..1.0f32) {
                    share if share < 0.7 => 0,
                    share if share < 0.85 => 1,
                    _ => 2,
                };
                (lab, Some(far_lab(lab)), 4.0, 0.15, (0.85, 1.0), 1.0)
            }
        };
        let mut symmetric = |limit: f32| {
            if limit > 0.0 {
                rng.random_range(-limit..=limit)
            } else {
                0.0
            }
        };
        let batch = Departure {
            turn_degrees: [symmetric(batch_turn), symmetric(batch_turn)],
            amount: [1.0 + symmetric(batch_amount), 1.0 + symmetric(batch_amount)],
            illumination: 1.0,
        };
        let lab_departure = lab_departure.unwrap_or(Departure {
            turn_degrees: [0.0; 2],
            amount: [1.0; 2],
            illumination: 1.0,
        });
        let scan = if illumination.0 < illumination.1 {
            rng.random_range(illumination.0..=illumination.1)
        } else {
            illumination.0
        };
        let blur_sigma = if blur > 0.0 {
            rng.random_range(0.0..=blur)
        } else {
            0.0
        };
        LabStain {
            patient: patient.to_string(),
            lab,
            haematoxylin_turn_degrees: lab_departure.turn_degrees[0] + batch.turn_degrees[0],
            eosin_turn_degrees: lab_departure.turn_degrees[1] + batch.turn_degrees[1],
            haematoxylin_amount: lab_departure.amount[0] * batch.amount[0],
            eosin_amount: lab_departure.amount[1] * batch.amount[1],
            illumination: lab_departure.illumination * batch.illumination * scan,
            blur_sigma,
            turn_axes,
        }
    }

    /// The re-staining of a canonically painted slide as this lab's.
    pub fn transform(&self) -> OdTransform {
        let canonical = canonical_stains();
        let mut turned = canonical;
        turned[0] = turn(canonical[0], self.turn_axes[0], self.haematoxylin_turn_degrees);
        turned[1] = turn(canonical[1], self.turn_axes[1], self.eosin_turn_degrees);
        // Concentrations in the canonical stains, scaled, recomposed in the turned ones.
        let unmix = unmixing(&canonical).map_or(OdTransform::IDENTITY, OdTransform::linear);
        let amounts = OdTransform::linear([
            [self.haematoxylin_amount, 0.0, 0.0],
            [0.0, self.eosin_amount, 0.0],
            [0.0, 0.0, 1.0],
        ]);
        let mut transform = unmix.then(&amounts).then(&OdTransform::linear(turned));
        // Less light through the glass adds the same density to every channel.
        let dimmer = -self.illumination.ln();
        transform.offset = transform.offset.map(|offset| offset + dimmer);
        transform
    }

    /// Re-stains a canonically painted slide (packed RGB, `width` wide) as this lab's, blur
    /// first (focus is the scanner's, before its light and the stain's colour reach the pixel).
    pub fn apply(&self, slide: &mut [u8], width: usize) {
        if self.blur_sigma > 0.05 {
            blur(slide, width, self.blur_sigma);
        }
        let transform = self.transform();
        if transform != OdTransform::IDENTITY {
            restain_pixels(slide, &transform, Tone::UNCHANGED);
        }
    }
}

/// The two far labs of strong variation: lab 1 bluer and heavier in haematoxylin, lab 2 pinker,
/// paler and scanned darker.
fn far_lab(lab: u8) -> Departure {
    match lab {
        1 => Departure {
            turn_degrees: [12.0, -8.0],
            amount: [1.45, 0.8],
            illumination: 0.97,
        },
        2 => Departure {
            turn_degrees: [-10.0, 12.0],
            amount: [0.65, 1.4],
            illumination: 0.9,
        },
        _ => Departure {
            turn_degrees: [0.0; 2],
            amount: [1.0; 2],
            illumination: 1.0,
        },
    }
}

/// The canonical stain matrix: rows the unit optical densities of the canonical haematoxylin
/// and eosin, and a third direction orthogonal to both (what neither explains).
fn canonical_stains() -> [[f32; 3]; 3] {
    let unit_density =
        |rgb: [f32; 3]| normalise(rgb.map(|value| optical_density((value * 255.0).round() as u8)));
    let (h, e) = (
        unit_density(CANONICAL_HAEMATOXYLIN),
        unit_density(CANONICAL_EOSIN),
    );
    [h, e, normalise(cross(h, e))]
}

/// `vector` turned by `degrees` towards `axis` (made orthogonal to it), kept a unit vector.
fn turn(vector: [f32; 3], axis: [f32; 3], degrees: f32) -> [f32; 3] {
    let along = dot(axis, vector);
    let orthogonal = normalise([0, 1, 2].map(|k| axis[k] - along * vector[k]));
    let (sin, cos) = degrees.to_radians().sin_cos();
    normalise([0, 1, 2].map(|k| vector[k] * cos + orthogonal[k] * sin))
}

fn random_unit(rng: &mut ChaCha8Rng) -> [f32; 3] {
    loop {
        let v: [f32; 3] = std::array::from_fn(|_| rng.random_range(-1.0..1.0f32));
        let norm = dot(v, v).sqrt();
        if norm > 0.2 && norm <= 1.0 {
            return v.map(|x| x / norm);
        }
    }
}

fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn normalise(v: [f32; 3]) -> [f32; 3] {
    let norm = dot(v, v).sqrt().max(1e-9);
    v.map(|x| x / norm)
}

/// A separable Gaussian blur of packed RGB, edges clamped.
fn blur(rgb: &mut [u8], width: usize, sigma: f32) {
    let radius = (sigma * 3.0).ceil() as isize;
    let weights: Vec<f32> = (-radius..=radius)
        .map(|offset| (-(offset * offset) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = weights.iter().sum();
    let height = rgb.len() / 3 / width;
    let pass = |source: &[u8], horizontal: bool| -> Vec<u8> {
        let mut out = vec![0u8; source.len()];
        for y in 0..height {
            for x in 0..width {
                for channel in 0..3 {
                    let mut sum = 0.0;
                    for (weight, offset) in weights.iter().zip(-radius..=radius) {
                        let (sx, sy) = if horizontal {
                            ((x as isize + offset).clamp(0, width as isize - 1) as usize, y)
                        } else {
                            (x, (y as isize + offset).clamp(0, height as isize - 1) as usize)
                        };
                        sum += weight * f32::from(source[(sy * width + sx) * 3 + channel]);
                    }
                    out[(y * width + x) * 3 + channel] = (sum / total).round() as u8;
                }
            }
        }
        out
    };
    let across = pass(rgb, true);
    let down = pass(&across, false);
    rgb.copy_from_slice(&down);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_variation_every_patient_is_stained_alike() {
        for seed in 0..5 {
            let stain = LabStain::draw("8001", StainVariation::None, seed);
            let transform = stain.transform();
            let od = [0.6, 0.9, 0.4];
            let back = transform.apply(od);
            assert!(od.iter().zip(back).all(|(a, b)| (a - b).abs() < 1e-4), "{back:?}");
            assert_eq!(stain.blur_sigma, 0.0);
        }
    }

    #[test]
    fn strong_variation_draws_far_labs_and_mild_does_not() {
        let labs: Vec<u8> = (0..60)
            .map(|seed| LabStain::draw("8001", StainVariation::Strong, seed).lab)
            .collect();
        assert!(labs.iter().filter(|&&lab| lab == 0).count() > 30);
        assert!(labs.contains(&1) && labs.contains(&2), "{labs:?}");
        for seed in 0..60 {
            let mild = LabStain::draw("8001", StainVariation::Mild, seed);
            assert_eq!(mild.lab, 0);
            assert!(mild.haematoxylin_turn_degrees.abs() <= 4.0);
            assert!((mild.eosin_amount - 1.0).abs() <= 0.15 + 1e-6);
        }
    }

    #[test]
    fn a_turned_stain_is_the_angle_away() {
        let v = normalise([0.6, 0.7, 0.4]);
        let turned = turn(v, normalise([1.0, 0.0, 0.0]), 10.0);
        assert!((dot(v, turned).acos().to_degrees() - 10.0).abs() < 0.01);
    }
}
