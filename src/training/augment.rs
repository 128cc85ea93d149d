//! Turning a stored 50x50 patch into the model's 48x48 input, with the reference's random
//! augmentation for training batches: rotation up to 20 degrees, zoom 5%, shifts of 10%,
//! shear 0.05 degrees (Keras takes shear in degrees), horizontal and vertical flips, and
//! "nearest" fill at the borders. Resizing and augmenting are one bilinear resampling. Beside
//! the recipe's warps, a run may re-stain its training patches at random (HED jitter,
//! `dataset::stain::hed`), so that the model meets the stains of labs it never saw.

use rand::Rng;

use super::config::TrainConfig;
use crate::dataset::PATCH_SIDE;
use crate::dataset::stain::HedJitterRanges;
use crate::model::{INPUT_CHANNELS, INPUT_SIDE};

/// Floats of one model input, channel-first.
pub const INPUT_LEN: usize = INPUT_CHANNELS * INPUT_SIDE * INPUT_SIDE;

/// The augmentation ranges of the reference recipe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AugmentationRanges {
    pub rotation_degrees: f32,
    pub zoom: f32,
    pub shift: f32,
    pub shear_degrees: f32,
    pub flips: bool,
}

impl Default for AugmentationRanges {
    fn default() -> Self {
        Self {
            rotation_degrees: 20.0,
            zoom: 0.05,
            shift: 0.1,
            shear_degrees: 0.05,
            flips: true,
        }
    }
}

/// What a training patch goes through at random: the recipe's warps, a re-staining, or both.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augmentation {
    pub geometry: Option<AugmentationRanges>,
    pub stain: Option<HedJitterRanges>,
}

impl Augmentation {
    /// The reference recipe's: warps, no re-staining.
    pub fn recipe() -> Augmentation {
        Augmentation {
            geometry: Some(AugmentationRanges::default()),
            stain: None,
        }
    }

    /// What a run's settings ask for; `None` when its training patches stay as they are.
    pub fn of(config: &TrainConfig) -> Option<Augmentation> {
        let augmentation = Augmentation {
            geometry: config.augment.then(AugmentationRanges::default),
            stain: config.stain_augment.ranges(),
        };
        (augmentation.geometry.is_some() || augmentation.stain.is_some()).then_some(augmentation)
    }
}

/// Maps an output pixel (in input-image coordinates, origin at the centre) to the point it is
/// sampled from: `[[a, b, tx], [c, d, ty]]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Warp([[f32; 3]; 2]);

impl Warp {
    pub const IDENTITY: Warp = Warp([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);

    /// A random warp within `ranges`, composed as Keras does: rotation, shift, shear, zoom.
    pub fn random(ranges: &AugmentationRanges, rng: &mut impl Rng) -> Warp {
        let symmetric = |rng: &mut dyn rand::RngCore, limit: f32| {
            if limit > 0.0 {
                rng.random_range(-limit..=limit)
            } else {
                0.0
            }
        };
        let theta = symmetric(rng, ranges.rotation_degrees).to_radians();
        let shear = symmetric(rng, ranges.shear_degrees).to_radians();
        let side = INPUT_SIDE as f32;
        let (tx, ty) = (
            symmetric(rng, ranges.shift) * side,
            symmetric(rng, ranges.shift) * side,
        );
        let (zx, zy) = (
            1.0 + symmetric(rng, ranges.zoom),
            1.0 + symmetric(rng, ranges.zoom),
        );
        let (sin, cos) = theta.sin_cos();
        let rotation = [[cos, -sin, 0.0], [sin, cos, 0.0]];
        let shift = [[1.0, 0.0, tx], [0.0, 1.0, ty]];
        let shearing = [[1.0, -shear.sin(), 0.0], [0.0, shear.cos(), 0.0]];
        let zoom = [[zx, 0.0, 0.0], [0.0, zy, 0.0]];
        let mut warp = Warp(compose(compose(compose(rotation, shift), shearing), zoom));
        if ranges.flips {
            // Flipping the output mirrors the point it samples: apply the flip first.
            if rng.random_bool(0.5) {
                warp = Warp(compose(warp.0, [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]));
            }
            if rng.random_bool(0.5) {
                warp = Warp(compose(warp.0, [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]));
            }
        }
        warp
    }
}

/// `a` after `b`: the affine map x -> a(b(x)).
fn compose(a: [[f32; 3]; 2], b: [[f32; 3]; 2]) -> [[f32; 3]; 2] {
    let mut out = [[0.0; 3]; 2];
    for row in 0..2 {
        for column in 0..3 {
            out[row][column] = a[row][0] * b[0][column] + a[row][1] * b[1][column];
        }
        out[row][2] += a[row][2];
    }
    out
}

/// Resamples a stored patch (50x50x3 u8, of which `width` x `height` is real) into `out`
/// (3x48x48 f32 in [0, 1], channel-first) through `warp`.
///
/// The arithmetic is the plain bilinear formula's (`sample_bilinear`, kept with the tests) at
/// each output pixel in the same order, so the same numbers, arranged for speed: the warp's
/// products with the column and row offsets are taken once per column and row, and the floor of
/// a clamped (non-negative) coordinate is a truncating conversion rather than a call to `floorf`
/// (the baseline x86-64 target has no rounding instruction). This runs for every patch of every
/// epoch, validation and test pass.
pub fn render_input(pixels: &[u8], width: u8, height: u8, warp: &Warp, out: &mut [f32]) {
    assert_eq!(out.len(), INPUT_LEN, "an input is 3x48x48 floats");
    let (width, height) = (usize::from(width).max(1), usize::from(height).max(1));
    let grid = SampleGrid::new(width, height, warp);
    let plane = INPUT_SIDE * INPUT_SIDE;
    let (red, rest) = out.split_at_mut(plane);
    let (green, blue) = rest.split_at_mut(plane);
    for row in 0..INPUT_SIDE {
        let (bv, dv) = (grid.b * grid.offsets[row], grid.d * grid.offsets[row]);
        for column in 0..INPUT_SIDE {
            let source_x = (grid.au[column] + bv + grid.tx + grid.half) * grid.scale_x - 0.5;
            let source_y = (grid.cu[column] + dv + grid.ty + grid.half) * grid.scale_y - 0.5;
            let [r, g, b] = grid.sample(pixels, source_x, source_y);
            let at = row * INPUT_SIDE + column;
            red[at] = r;
            green[at] = g;
            blue[at] = b;
        }
    }
}

/// What [`render_input`] needs at every output pixel, computed once per patch.
struct SampleGrid {
    /// `a * u` and `c * u` for each column's offset `u` from the centre.
    au: [f32; INPUT_SIDE],
    cu: [f32; INPUT_SIDE],
    /// Each row's (and column's) offset from the centre, `index + 0.5 - 24`.
    offsets: [f32; INPUT_SIDE],
    b: f32,
    d: f32,
    tx: f32,
    ty: f32,
    half: f32,
    scale_x: f32,
    scale_y: f32,
    /// The largest pixel coordinate inside the true area, and as a float.
    last_x: u32,
    last_y: u32,
    last_xf: f32,
    last_yf: f32,
}

impl SampleGrid {
    fn new(width: usize, height: usize, warp: &Warp) -> Self {
        let half = INPUT_SIDE as f32 / 2.0;
        let [[a, b, tx], [c, d, ty]] = warp.0;
        let offsets: [f32; INPUT_SIDE] = std::array::from_fn(|index| index as f32 + 0.5 - half);
        Self {
            au: offsets.map(|u| a * u),
            cu: offsets.map(|u| c * u),
            offsets,
            b,
            d,
            tx,
            ty,
            half,
            // Input-image pixels to patch pixels: the true area is stretched to 48x48.
            scale_x: width as f32 / INPUT_SIDE as f32,
            scale_y: height as f32 / INPUT_SIDE as f32,
            last_x: (width - 1) as u32,
            last_y: (height - 1) as u32,
            last_xf: (width - 1) as f32,
            last_yf: (height - 1) as f32,
        }
    }

    /// The bilinear sample at (x, y); points outside the true area take the nearest edge pixel.
    #[inline(always)]
    fn sample(&self, pixels: &[u8], x: f32, y: f32) -> [f32; 3] {
        let x = x.clamp(0.0, self.last_xf);
        let y = y.clamp(0.0, self.last_yf);
        // x, y >= 0 (or NaN, which both forms send to 0): truncation is the floor.
        let (x0, y0) = (x as u32, y as u32);
        let (x1, y1) = ((x0 + 1).min(self.last_x), (y0 + 1).min(self.last_y));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let (gx, gy) = (1.0 - fx, 1.0 - fy);
        let texel = |px: u32, py: u32| -> [u8; 3] {
            let at = (py as usize * PATCH_SIDE + px as usize) * 3;
            pixels[at..at + 3].try_into().expect("three channels")
        };
        let (p00, p10, p01, p11) = (texel(x0, y0), texel(x1, y0), texel(x0, y1), texel(x1, y1));
        std::array::from_fn(|channel| {
            let top = f32::from(p00[channel]) * gx + f32::from(p10[channel]) * fx;
            let bottom = f32::from(p01[channel]) * gx + f32::from(p11[channel]) * fx;
            (top * gy + bottom * fy) / 255.0
        })
    }
}

/// Bilinear sample; points outside the true area take the nearest edge pixel. The plain form
/// of [`SampleGrid::sample`], kept as its specification (tests).
#[cfg(test)]
fn sample_bilinear(pixels: &[u8], width: usize, height: usize, x: f32, y: f32) -> [f32; 3] {
    let x = x.clamp(0.0, (width - 1) as f32);
    let y = y.clamp(0.0, (height - 1) as f32);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(width - 1), (y0 + 1).min(height - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let at = |px: usize, py: usize, channel: usize| f32::from(pixels[(py * PATCH_SIDE + px) * 3 + channel]);
    let mut rgb = [0.0; 3];
    for (channel, value) in rgb.iter_mut().enumerate() {
        let top = at(x0, y0, channel) * (1.0 - fx) + at(x1, y0, channel) * fx;
        let bottom = at(x0, y1, channel) * (1.0 - fx) + at(x1, y1, channel) * fx;
        *value = (top * (1.0 - fy) + bottom * fy) / 255.0;
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::PATCH_BYTES;
    use rand::SeedableRng;

    fn gradient_patch() -> Vec<u8> {
        let mut pixels = vec![0u8; PATCH_BYTES];
        for y in 0..PATCH_SIDE {
            for x in 0..PATCH_SIDE {
                let at = (y * PATCH_SIDE + x) * 3;
                pixels[at] = (x * 5) as u8;
                pixels[at + 1] = (y * 5) as u8;
                pixels[at + 2] = 128;
            }
        }
        pixels
    }

    /// The resampling written plainly: every output pixel's source point and bilinear sample.
    fn render_plainly(pixels: &[u8], width: u8, height: u8, warp: &Warp) -> Vec<f32> {
        let (width, height) = (usize::from(width).max(1), usize::from(height).max(1));
        let half = INPUT_SIDE as f32 / 2.0;
        let (scale_x, scale_y) = (
            width as f32 / INPUT_SIDE as f32,
            height as f32 / INPUT_SIDE as f32,
        );
        let [[a, b, tx], [c, d, ty]] = warp.0;
        let plane = INPUT_SIDE * INPUT_SIDE;
        let mut out = vec![0.0; INPUT_LEN];
        for row in 0..INPUT_SIDE {
            let v = row as f32 + 0.5 - half;
            for column in 0..INPUT_SIDE {
                let u = column as f32 + 0.5 - half;
                let source_x = (a * u + b * v + tx + half) * scale_x - 0.5;
                let source_y = (c * u + d * v + ty + half) * scale_y - 0.5;
                let rgb = sample_bilinear(pixels, width, height, source_x, source_y);
                for (channel, value) in rgb.into_iter().enumerate() {
                    out[channel * plane + row * INPUT_SIDE + column] = value;
                }
            }
        }
        out
    }

    #[test]
    fn the_fast_resampling_gives_the_plain_formulas_numbers_bit_for_bit() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let pixels: Vec<u8> = (0..PATCH_BYTES).map(|_| rng.random()).collect();
        let ranges = AugmentationRanges::default();
        // Whole patches and edge patches down to one pixel, each with and without a warp, and
        // warps that reach far outside the patch (clamped to its edges).
        let far = Warp([[1.3, -0.4, 30.0], [0.5, 0.9, -41.0]]);
        for (width, height) in [(50, 50), (20, 50), (50, 7), (1, 1), (0, 3), (33, 49)] {
            for warp in [
                Warp::IDENTITY,
                far,
                Warp::random(&ranges, &mut rng),
                Warp::random(&ranges, &mut rng),
            ] {
                let mut fast = vec![f32::NAN; INPUT_LEN];
                render_input(&pixels, width, height, &warp, &mut fast);
                let plain = render_plainly(&pixels, width, height, &warp);
                let same = fast.iter().zip(&plain).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{width}x{height} through {warp:?}");
            }
        }
    }

    #[test]
    fn identity_resizes_50_to_48_keeping_orientation() {
        let mut out = vec![0.0; INPUT_LEN];
        render_input(&gradient_patch(), 50, 50, &Warp::IDENTITY, &mut out);
        let plane = INPUT_SIDE * INPUT_SIDE;
        // Red grows left to right, green top to bottom, blue is flat.
        assert!(out[0] < 0.02 && out[INPUT_SIDE - 1] > 0.93);
        assert!(out[plane] < 0.02 && out[plane + plane - 1] > 0.93);
        assert!(
            out[2 * plane..]
                .iter()
                .all(|&blue| (blue - 128.0 / 255.0).abs() < 1e-5)
        );
    }

    #[test]
    fn an_edge_patch_is_stretched_from_its_true_area_only() {
        let mut pixels = vec![255u8; PATCH_BYTES]; // padding
        for y in 0..PATCH_SIDE {
            for x in 0..20 {
                pixels[(y * PATCH_SIDE + x) * 3..(y * PATCH_SIDE + x) * 3 + 3].copy_from_slice(&[10, 20, 30]);
            }
        }
        let mut out = vec![0.0; INPUT_LEN];
        render_input(&pixels, 20, 50, &Warp::IDENTITY, &mut out);
        assert!(
            out[..INPUT_SIDE * INPUT_SIDE]
                .iter()
                .all(|&red| (red - 10.0 / 255.0).abs() < 1e-5)
        );
    }

    #[test]
    fn random_warps_stay_within_the_reference_ranges() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let ranges = AugmentationRanges::default();
        let mut flipped = [false; 2];
        for _ in 0..200 {
            let Warp([[a, b, tx], [c, d, ty]]) = Warp::random(&ranges, &mut rng);
            // Rotation, zoom and shear keep each row's length near 1; shifts stay within 10%.
            assert!(((a * a + b * b).sqrt() - 1.0).abs() < 0.06);
            assert!(((c * c + d * d).sqrt() - 1.0).abs() < 0.06);
            // The shift (at most 10% of 48 pixels each way) is carried through the rotation.
            assert!((tx * tx + ty * ty).sqrt() <= 4.8 * std::f32::consts::SQRT_2 + 1e-4);
            flipped[0] |= a < -0.9;
            flipped[1] |= d < -0.9;
        }
        assert!(flipped[0] && flipped[1], "both flips occur");
    }
}
