//! A patient's slide rebuilt from its patches' coordinates: where each patch sits, which patch
//! covers a point, a patch's neighbours, and the whole slide as one (downsampled) RGB image.

use std::collections::HashMap;

use super::{PATCH_SIDE, PatchStore};

/// Light grey where the slide had no exported patch (background glass, or tissue left out).
const BACKGROUND_RGB: [u8; 3] = [236, 236, 236];

/// The patches of one patient, placed on their slide.
#[derive(Debug, Clone)]
pub struct SlideLayout {
    patient: u32,
    /// Store indices of the patient's patches.
    patches: Vec<usize>,
    /// Top-left corner of the bounding box of all patches, in slide pixels.
    origin: (u32, u32),
    /// Size of the bounding box, in slide pixels.
    size: (u32, u32),
    by_corner: HashMap<(u32, u32), usize>,
}

/// The slide as RGBA pixels, `scale` slide pixels per image pixel along each side.
#[derive(Debug, Clone, PartialEq)]
pub struct SlideImage {
    pub width: usize,
    pub height: usize,
    pub scale: u32,
    pub rgba: Vec<u8>,
}

impl SlideLayout {
    pub fn new(store: &PatchStore, patient: u32) -> Self {
        let patches: Vec<usize> = (0..store.len())
            .filter(|&index| store.patch(index).patient == patient)
            .collect();
        let mut min = (u32::MAX, u32::MAX);
        let mut max = (0, 0);
        let mut by_corner = HashMap::with_capacity(patches.len());
        for &index in &patches {
            let patch = store.patch(index);
            min = (min.0.min(patch.x), min.1.min(patch.y));
            max = (
                max.0.max(patch.x + u32::from(patch.width)),
                max.1.max(patch.y + u32::from(patch.height)),
            );
            by_corner.insert((patch.x, patch.y), index);
        }
        if patches.is_empty() {
            min = (0, 0);
        }
        Self {
            patient,
            patches,
            origin: min,
            size: (max.0.saturating_sub(min.0), max.1.saturating_sub(min.1)),
            by_corner,
        }
    }

    pub fn patient(&self) -> u32 {
        self.patient
    }

    /// Store indices of the patient's patches, in store order.
    pub fn patches(&self) -> &[usize] {
        &self.patches
    }

    pub fn origin(&self) -> (u32, u32) {
        self.origin
    }

    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// The patch whose area holds the slide point (x, y), if any.
    pub fn patch_at(&self, store: &PatchStore, x: u32, y: u32) -> Option<usize> {
        // A linear search: one patient has a few thousand patches at most, and this runs per click.
        self.patches.iter().copied().find(|&index| {
            let patch = store.patch(index);
            x >= patch.x
                && y >= patch.y
                && x < patch.x + u32::from(patch.width)
                && y < patch.y + u32::from(patch.height)
        })
    }

    /// The patches around `index` on the slide, row by row: a `(2 * radius + 1)` square with
    /// `index` in the middle and `None` where the slide has no patch.
    pub fn neighbours(&self, store: &PatchStore, index: usize, radius: u32) -> Vec<Option<usize>> {
        let patch = store.patch(index);
        let side = PATCH_SIDE as i64;
        let radius = i64::from(radius);
        let mut around = Vec::new();
        for row in -radius..=radius {
            for column in -radius..=radius {
                let x = i64::from(patch.x) + column * side;
                let y = i64::from(patch.y) + row * side;
                let found = (x >= 0 && y >= 0)
                    .then(|| self.by_corner.get(&(x as u32, y as u32)).copied())
                    .flatten();
                around.push(found);
            }
        }
        around
    }

    /// The slide as one image whose longer side is at most `max_side` pixels (a whole-pixel
    /// downsampling: each image pixel averages a `scale` x `scale` block of the slide).
    pub fn render(&self, store: &PatchStore, max_side: usize) -> SlideImage {
        let longer = self.size.0.max(self.size.1).max(1) as usize;
        let scale = longer.div_ceil(max_side.max(1)).max(1) as u32;
        let width = (self.size.0.div_ceil(scale) as usize).max(1);
        let height = (self.size.1.div_ceil(scale) as usize).max(1);
        let mut sums = vec![0u32; width * height * 3];
        let mut counts = vec![0u32; width * height];
        for &index in &self.patches {
            let patch = store.patch(index);
            let pixels = store.pixels(index);
            for py in 0..usize::from(patch.height) {
                let slide_y = (patch.y - self.origin.1) as usize + py;
                let row = slide_y / scale as usize;
                for px in 0..usize::from(patch.width) {
                    let slide_x = (patch.x - self.origin.0) as usize + px;
                    let cell = row * width + slide_x / scale as usize;
                    let source = (py * PATCH_SIDE + px) * 3;
                    for channel in 0..3 {
                        sums[cell * 3 + channel] += u32::from(pixels[source + channel]);
                    }
                    counts[cell] += 1;
                }
            }
        }
        let mut rgba = Vec::with_capacity(width * height * 4);
        for (cell, &count) in counts.iter().enumerate() {
            for channel in 0..3 {
                let mean = sums[cell * 3 + channel].checked_div(count);
                rgba.push(mean.map_or(BACKGROUND_RGB[channel], |mean| mean as u8));
            }
            rgba.push(255);
        }
        SlideImage {
            width,
            height,
            scale,
            rgba,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::dataset::{Label, PATCH_BYTES, Patch};

    /// Patient 0: three full patches in an L at (100,100), (150,100), (100,150), one a flat
    /// colour each; patient 1: one patch elsewhere.
    fn store() -> PatchStore {
        let mut patches = Vec::new();
        let mut pixels = Vec::new();
        for (patient, x, y, value) in [
            (0, 100, 100, 10u8),
            (0, 150, 100, 20),
            (0, 100, 150, 30),
            (1, 0, 0, 40),
        ] {
            patches.push(Patch {
                patient,
                x,
                y,
                label: Label::NonIdc,
                width: 50,
                height: 50,
                path: PathBuf::from(format!("{patient}-{x}-{y}.png")),
            });
            pixels.extend(std::iter::repeat_n(value, PATCH_BYTES));
        }
        PatchStore::new(
            PathBuf::from("/data"),
            false,
            vec!["a".into(), "b".into()],
            patches,
            pixels,
        )
    }

    #[test]
    fn a_slide_is_rebuilt_where_its_patches_sit() {
        let store = store();
        let layout = SlideLayout::new(&store, 0);
        assert_eq!(layout.patches(), &[0, 1, 2]);
        assert_eq!((layout.origin(), layout.size()), ((100, 100), (100, 100)));
        assert_eq!(layout.patch_at(&store, 160, 120), Some(1));
        assert_eq!(layout.patch_at(&store, 160, 160), None);

        let full = layout.render(&store, 1000);
        assert_eq!((full.width, full.height, full.scale), (100, 100, 1));
        let pixel = |image: &SlideImage, x: usize, y: usize| image.rgba[(y * image.width + x) * 4];
        assert_eq!(pixel(&full, 10, 10), 10);
        assert_eq!(pixel(&full, 60, 10), 20);
        assert_eq!(pixel(&full, 10, 60), 30);
        assert_eq!(pixel(&full, 60, 60), BACKGROUND_RGB[0]);

        let small = layout.render(&store, 10);
        assert_eq!((small.width, small.height, small.scale), (10, 10, 10));
        assert_eq!(pixel(&small, 1, 1), 10);
    }

    #[test]
    fn neighbours_are_the_patches_around_on_the_same_slide() {
        let store = store();
        let layout = SlideLayout::new(&store, 0);
        let around = layout.neighbours(&store, 0, 1);
        assert_eq!(
            around,
            vec![None, None, None, None, Some(0), Some(1), None, Some(2), None]
        );
    }

    #[test]
    fn a_slide_spanning_the_largest_coordinates_renders_small() {
        use crate::dataset::filename::MAX_COORDINATE;
        let mut patches = Vec::new();
        for (x, y) in [(0, 0), (MAX_COORDINATE, MAX_COORDINATE)] {
            patches.push(Patch {
                patient: 0,
                x,
                y,
                label: Label::Idc,
                width: 50,
                height: 50,
                path: PathBuf::from(format!("{x}-{y}.png")),
            });
        }
        let store = PatchStore::new(
            PathBuf::from("/data"),
            false,
            vec!["a".into()],
            patches,
            vec![90; 2 * PATCH_BYTES],
        );
        let layout = SlideLayout::new(&store, 0);
        assert_eq!(layout.size(), (MAX_COORDINATE + 50, MAX_COORDINATE + 50));
        let image = layout.render(&store, 4096);
        assert!(image.width <= 4096 && image.height <= 4096);
        assert_eq!(
            layout.patch_at(&store, MAX_COORDINATE + 49, MAX_COORDINATE),
            Some(1)
        );
    }
}
