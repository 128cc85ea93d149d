//! What two patches' pixels have in common: an exact fingerprint (every byte) and a small
//! description for near-duplicates (the mean colour of each of 5 x 5 blocks), compared by its
//! root-mean-square difference in levels of 255. Block means forgive a little noise or a
//! re-encoding; two different pieces of tissue differ by tens of levels.

use std::hash::{Hash, Hasher};

use rayon::prelude::*;

use crate::dataset::PATCH_SIDE as PATCH_SIZE;
use crate::dataset::PatchStore;
use crate::review::map::neighbours::Coordinates;

/// Blocks across and down.
const BLOCKS: usize = 5;
/// Values of a description: three colours a block.
pub const DESCRIPTION_UNITS: usize = BLOCKS * BLOCKS * 3;

/// A patch's pixels in brief.
pub type Description = Coordinates<DESCRIPTION_UNITS>;

/// A fingerprint of every byte of a patch (equal pixels, equal fingerprints; the reverse is
/// checked byte by byte before two patches are called copies).
pub fn fingerprint(pixels: &[u8]) -> u64 {
    // SipHash with fixed keys: the same patch, the same fingerprint on every run.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    pixels.hash(&mut hasher);
    hasher.finish()
}

/// The mean colour of each block of a 50x50 RGB patch, in levels of 255.
pub fn describe(pixels: &[u8]) -> Description {
    let block = PATCH_SIZE / BLOCKS;
    let mut values = [0f32; DESCRIPTION_UNITS];
    for y in 0..PATCH_SIZE {
        for x in 0..PATCH_SIZE {
            let cell = (y / block) * BLOCKS + x / block;
            for channel in 0..3 {
                values[cell * 3 + channel] += f32::from(pixels[(y * PATCH_SIZE + x) * 3 + channel]);
            }
        }
    }
    let per_block = (block * block) as f32;
    values.iter_mut().for_each(|value| *value /= per_block);
    Coordinates(values)
}

/// The root-mean-square difference, in levels of 255, that a description distance stands for.
pub fn rms_levels(distance: f32) -> f32 {
    distance / (DESCRIPTION_UNITS as f32).sqrt()
}

/// Every patch's fingerprint and description, in store order.
pub fn describe_all(store: &PatchStore) -> (Vec<u64>, Vec<Description>) {
    (0..store.len())
        .into_par_iter()
        .map(|index| {
            let pixels = store.pixels(index);
            (fingerprint(pixels), describe(pixels))
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::PATCH_BYTES;

    #[test]
    fn a_slightly_brighter_copy_is_near_and_other_tissue_is_not() {
        let patch: Vec<u8> = (0..PATCH_BYTES).map(|i| ((i * 37) % 200) as u8).collect();
        let brighter: Vec<u8> = patch.iter().map(|v| v + 2).collect();
        let other: Vec<u8> = (0..PATCH_BYTES).map(|i| ((i / 150) * 5 % 250) as u8).collect();
        use instant_distance::Point;
        let (a, b, c) = (describe(&patch), describe(&brighter), describe(&other));
        assert!((rms_levels(a.distance(&b)) - 2.0).abs() < 1e-3);
        assert!(rms_levels(a.distance(&c)) > 20.0);
        assert_ne!(fingerprint(&patch), fingerprint(&brighter));
        assert_eq!(fingerprint(&patch), fingerprint(&patch.clone()));
    }
}
