//! Macenko et al. (2009) stain normalisation: a slide's haematoxylin and eosin vectors are
//! found as the extreme angles of its tissue pixels' optical densities in the plane of their
//! two main directions, and its stain concentrations are mapped onto a reference stain.
//! Estimated once per patient from all its patches (one patch holds too few pixels of each
//! stain, and an estimate per patch would flicker from tile to tile).

use nalgebra::{Matrix2x3, Matrix3, SymmetricEigen, Vector3};
use serde::{Deserialize, Serialize};

use super::hed::from_matrix;
use super::optical_density::OdTransform;

/// Pixels whose mean optical density is below this are glass or nearly so: left out of the
/// estimate (Macenko's beta). Macenko drops a pixel below it in any one channel, which also
/// drops pale eosin, whose red absorbs little, and tilts the eosin found towards haematoxylin.
pub const TISSUE_DENSITY: f32 = 0.15;

/// Whether a pixel's optical densities are tissue rather than glass.
pub fn is_tissue(density: &[f32; 3]) -> bool {
    density.iter().sum::<f32>() >= 3.0 * TISSUE_DENSITY
}
/// The percentile of angles (and its complement) taken as each stain's direction: robust to a
/// few odd pixels (Macenko's alpha).
const ANGLE_PERCENTILE: f64 = 1.0;
/// The percentile of each stain's concentration, among the pixels where it leads, taken as its
/// maximum.
const MAX_PERCENTILE: f64 = 99.0;
/// Fewer pixels led by a stain than this: its maximum is taken over all tissue instead.
const MIN_DOMINATED_PIXELS: usize = 50;
/// Fewer tissue pixels than this give no estimate.
pub const MIN_TISSUE_PIXELS: usize = 500;

/// A slide's stain: its haematoxylin and eosin vectors (unit optical densities, R, G, B) and
/// the 99th percentile of each one's concentration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MacenkoStain {
    pub haematoxylin: [f32; 3],
    pub eosin: [f32; 3],
    pub max_concentrations: [f32; 2],
}

/// The reference every patient is mapped to: the stain vectors and maxima used by Macenko's
/// reference implementation and the libraries after it.
pub const REFERENCE_STAIN: MacenkoStain = MacenkoStain {
    haematoxylin: [0.5626, 0.7201, 0.4062],
    eosin: [0.2159, 0.8012, 0.5581],
    max_concentrations: [1.9705, 1.0308],
};

/// Why no stain could be estimated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MacenkoError {
    #[error(
        "too little tissue to estimate its stain: {0} tissue pixels, at least {MIN_TISSUE_PIXELS} needed"
    )]
    TooLittleTissue(usize),
    #[error("its tissue shows one colour only: no two stains can be told apart")]
    OneColour,
}

/// Estimates a stain from pixels' optical densities (glass among them is skipped here).
pub fn estimate_stain(densities: &[[f32; 3]]) -> Result<MacenkoStain, MacenkoError> {
    let tissue: Vec<Vector3<f64>> = densities
        .iter()
        .filter(|od| is_tissue(od))
        .map(|od| Vector3::new(f64::from(od[0]), f64::from(od[1]), f64::from(od[2])))
        .collect();
    if tissue.len() < MIN_TISSUE_PIXELS {
        return Err(MacenkoError::TooLittleTissue(tissue.len()));
    }
    let count = tissue.len() as f64;
    let mean = tissue.iter().sum::<Vector3<f64>>() / count;
    let covariance = tissue
        .iter()
        .map(|od| (od - mean) * (od - mean).transpose())
        .sum::<Matrix3<f64>>()
        / (count - 1.0);
    let eigen = SymmetricEigen::new(covariance);
    let mut order = [0, 1, 2];
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    // Densities are positive: point both main directions into the positive octant.
    let direction = |index: usize| {
        let vector: Vector3<f64> = eigen.eigenvectors.column(index).into();
        if vector.sum() < 0.0 { -vector } else { vector }
    };
    let (first, second) = (direction(order[0]), direction(order[1]));
    let mut angles: Vec<f64> = tissue
        .iter()
        .map(|od| od.dot(&second).atan2(od.dot(&first)))
        .collect();
    angles.sort_by(f64::total_cmp);
    let (low, high) = (
        percentile(&angles, ANGLE_PERCENTILE),
        percentile(&angles, 100.0 - ANGLE_PERCENTILE),
    );
    let along = |angle: f64| {
        let vector = first * angle.cos() + second * angle.sin();
        let vector = if vector.sum() < 0.0 { -vector } else { vector };
        vector.normalize()
    };
    let (a, b) = (along(low), along(high));
    if a.dot(&b) > (2.0f64).to_radians().cos() {
        return Err(MacenkoError::OneColour);
    }
    // Haematoxylin is the bluer stain: it absorbs more red than eosin does.
    let (haematoxylin, eosin) = if a[0] > b[0] { (a, b) } else { (b, a) };
    let stains = Matrix2x3::from_rows(&[haematoxylin.transpose(), eosin.transpose()]);
    let unmix = pseudo_inverse(&stains).ok_or(MacenkoError::OneColour)?;
    // Each stain's maximum among the pixels it dominates: over all tissue, a slide with few
    // nuclei would put haematoxylin's 99th percentile in its stroma, and normalising would then
    // darken every nucleus of it as if it were crowded with tumour.
    let (mut dominated, mut all): ([Vec<f64>; 2], [Vec<f64>; 2]) = Default::default();
    for od in &tissue {
        let c = od.transpose() * unmix;
        let leading = usize::from(c[1] > c[0]);
        dominated[leading].push(c[leading]);
        all[0].push(c[0]);
        all[1].push(c[1]);
    }
    let max_concentrations: [f32; 2] = std::array::from_fn(|stain| {
        let values = if dominated[stain].len() >= MIN_DOMINATED_PIXELS {
            &mut dominated[stain]
        } else {
            &mut all[stain]
        };
        values.sort_by(f64::total_cmp);
        percentile(values, MAX_PERCENTILE).max(1e-3) as f32
    });
    let as_f32 = |v: Vector3<f64>| [v[0] as f32, v[1] as f32, v[2] as f32];
    Ok(MacenkoStain {
        haematoxylin: as_f32(haematoxylin),
        eosin: as_f32(eosin),
        max_concentrations,
    })
}

/// `od · pinv(stains)` gives concentrations: the 3x2 least-squares inverse of two stain rows.
fn pseudo_inverse(stains: &Matrix2x3<f64>) -> Option<nalgebra::Matrix3x2<f64>> {
    let gram = stains * stains.transpose();
    gram.try_inverse().map(|inverse| stains.transpose() * inverse)
}

/// The value at `percent` of sorted `values` (nearest rank).
fn percentile(sorted: &[f64], percent: f64) -> f64 {
    let rank = (percent / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

impl MacenkoStain {
    /// The optical-density map that re-stains this stain's tissue as `target`: concentrations
    /// by least squares, each scaled to the target's maximum, recomposed with the target's
    /// vectors. What neither stain explains (the residual) is dropped, as Macenko does.
    pub fn normalising_transform(&self, target: &MacenkoStain) -> OdTransform {
        let rows = |stain: &MacenkoStain| {
            let [h, e] = [stain.haematoxylin, stain.eosin].map(|v| v.map(f64::from));
            Matrix2x3::new(h[0], h[1], h[2], e[0], e[1], e[2])
        };
        let Some(unmix) = pseudo_inverse(&rows(self)) else {
            return OdTransform::IDENTITY;
        };
        let scale = nalgebra::Matrix2::from_diagonal(&nalgebra::Vector2::new(
            f64::from(target.max_concentrations[0] / self.max_concentrations[0]),
            f64::from(target.max_concentrations[1] / self.max_concentrations[1]),
        ));
        let matrix: Matrix3<f64> = unmix * scale * rows(target);
        OdTransform::linear(from_matrix(&matrix))
    }
}

/// The stain matrix (rows H, E and their cross product) of a Macenko estimate, as a
/// deconvolution takes it.
pub fn stain_rows(stain: &MacenkoStain) -> [[f32; 3]; 3] {
    let vector = |v: [f32; 3]| Vector3::from(v.map(f64::from));
    let residual = vector(stain.haematoxylin).cross(&vector(stain.eosin)).normalize();
    [
        stain.haematoxylin,
        stain.eosin,
        [0, 1, 2].map(|k| residual[k] as f32),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tissue pixels of two stains in every mixture, as densities under `stain`'s vectors.
    fn tissue(stain: &MacenkoStain) -> Vec<[f32; 3]> {
        let mut pixels = Vec::new();
        for i in 0..40 {
            for j in 0..40 {
                let (h, e) = (
                    stain.max_concentrations[0] * i as f32 / 39.0,
                    stain.max_concentrations[1] * j as f32 / 39.0,
                );
                pixels.push(std::array::from_fn(|k| {
                    h * stain.haematoxylin[k] + e * stain.eosin[k] + 0.16
                }));
            }
        }
        pixels
    }

    #[test]
    fn finds_the_two_stains_that_made_the_tissue() {
        let found = estimate_stain(&tissue(&REFERENCE_STAIN)).unwrap();
        let cosine = |a: [f32; 3], b: [f32; 3]| {
            let norm = |v: [f32; 3]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
            a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / (norm(a) * norm(b))
        };
        assert!(
            cosine(found.haematoxylin, REFERENCE_STAIN.haematoxylin) > 0.99,
            "{found:?}"
        );
        assert!(cosine(found.eosin, REFERENCE_STAIN.eosin) > 0.99, "{found:?}");
    }

    #[test]
    fn glass_alone_gives_no_estimate() {
        let glass = vec![[0.02, 0.03, 0.01]; 5_000];
        assert_eq!(estimate_stain(&glass), Err(MacenkoError::TooLittleTissue(0)));
        let one_colour = vec![[0.5, 0.7, 0.4]; 5_000];
        assert_eq!(estimate_stain(&one_colour), Err(MacenkoError::OneColour));
    }

    #[test]
    fn a_stain_maps_onto_itself_as_the_identity_on_its_plane() {
        let map = REFERENCE_STAIN.normalising_transform(&REFERENCE_STAIN);
        let od: [f32; 3] =
            std::array::from_fn(|k| 0.7 * REFERENCE_STAIN.haematoxylin[k] + 0.4 * REFERENCE_STAIN.eosin[k]);
        let back = map.apply(od);
        assert!(
            od.iter().zip(back).all(|(a, b)| (a - b).abs() < 1e-4),
            "{od:?} {back:?}"
        );
        let rows = stain_rows(&REFERENCE_STAIN);
        assert!((rows[2].iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
    }
}
