//! A patch as a PNG inside the report: a `data:` URL, so the one HTML file needs nothing beside
//! it and opens the same when mailed.

use base64::Engine;
use image::ImageEncoder;

use crate::dataset::PATCH_SIDE;
use crate::dataset::PatchStore;

/// Patch `index` at its true size (edge patches are smaller than 50x50), as a PNG data URL.
pub fn tile_data_url(store: &PatchStore, index: usize) -> String {
    let patch = store.patch(index);
    let (width, height) = (u32::from(patch.width), u32::from(patch.height));
    let pixels = store.pixels(index);
    let mut cropped = Vec::with_capacity((width * height * 3) as usize);
    for row in 0..height as usize {
        let start = row * PATCH_SIDE * 3;
        cropped.extend_from_slice(&pixels[start..start + width as usize * 3]);
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&cropped, width, height, image::ExtendedColorType::Rgb8)
        .expect("a patch's pixels encode as a PNG in memory");
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}
