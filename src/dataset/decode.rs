//! Decoding one patch file into the store's fixed 50x50 RGB slot.

use image::ImageEncoder as _;

use super::scan::SkipReason;
use super::{PATCH_BYTES, PATCH_SIDE};

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
/// What the store holds outside an edge patch's true area: slide background.
const PADDING_VALUE: u8 = 255;

/// Decodes PNG bytes into `slot` (50x50x3, row-major), converting grayscale, alpha and 16-bit
/// images to 8-bit RGB. Patches smaller than 50x50 are padded; their true size is returned.
pub fn decode_patch(bytes: &[u8], slot: &mut [u8]) -> Result<(u8, u8), SkipReason> {
    debug_assert_eq!(slot.len(), PATCH_BYTES);
    if bytes.is_empty() {
        return Err(SkipReason::Empty);
    }
    if !bytes.starts_with(PNG_SIGNATURE) {
        return Err(SkipReason::NotPng);
    }
    let image = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
        .map_err(|err| SkipReason::Corrupt(err.to_string()))?;
    let (width, height) = (image.width() as usize, image.height() as usize);
    if width > PATCH_SIDE || height > PATCH_SIDE {
        return Err(SkipReason::TooLarge {
            width: image.width(),
            height: image.height(),
        });
    }
    if width == 0 || height == 0 {
        return Err(SkipReason::Corrupt("image has no pixels".into()));
    }
    let rgb = image.into_rgb8();
    let source = rgb.as_raw();
    if width < PATCH_SIDE || height < PATCH_SIDE {
        slot.fill(PADDING_VALUE);
    }
    for row in 0..height {
        let from = &source[row * width * 3..(row + 1) * width * 3];
        slot[row * PATCH_SIDE * 3..row * PATCH_SIDE * 3 + width * 3].copy_from_slice(from);
    }
    Ok((width as u8, height as u8))
}

/// Encodes an RGB image as PNG bytes.
pub fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, image::ImageError> {
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes).write_image(
        rgb,
        width,
        height,
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_of(image: image::DynamicImage) -> Vec<u8> {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
        bytes.into_inner()
    }

    #[test]
    fn converts_grayscale_rgba_and_16_bit_to_rgb() {
        let mut slot = vec![0u8; PATCH_BYTES];
        let gray = image::GrayImage::from_pixel(50, 50, image::Luma([7]));
        assert_eq!(decode_patch(&png_of(gray.into()), &mut slot), Ok((50, 50)));
        assert_eq!(&slot[..3], &[7, 7, 7]);

        let rgba = image::RgbaImage::from_pixel(50, 50, image::Rgba([200, 100, 50, 10]));
        assert_eq!(decode_patch(&png_of(rgba.into()), &mut slot), Ok((50, 50)));
        assert_eq!(&slot[..3], &[200, 100, 50]);

        let deep =
            image::ImageBuffer::<image::Rgb<u16>, _>::from_pixel(50, 50, image::Rgb([65535, 0, 32896]));
        assert_eq!(decode_patch(&png_of(deep.into()), &mut slot), Ok((50, 50)));
        assert_eq!(&slot[..3], &[255, 0, 128]);
    }

    #[test]
    fn pads_an_edge_patch_and_keeps_its_true_size() {
        let mut slot = vec![0u8; PATCH_BYTES];
        let edge = image::RgbImage::from_pixel(30, 50, image::Rgb([1, 2, 3]));
        assert_eq!(decode_patch(&png_of(edge.into()), &mut slot), Ok((30, 50)));
        assert_eq!(&slot[29 * 3..30 * 3], &[1, 2, 3]);
        assert_eq!(&slot[30 * 3..31 * 3], &[255, 255, 255]);
    }

    #[test]
    fn refuses_what_is_not_a_usable_patch() {
        let mut slot = vec![0u8; PATCH_BYTES];
        assert_eq!(decode_patch(b"", &mut slot), Err(SkipReason::Empty));
        assert_eq!(decode_patch(b"GIF89a....", &mut slot), Err(SkipReason::NotPng));
        let big = png_of(image::RgbImage::new(64, 50).into());
        assert_eq!(
            decode_patch(&big, &mut slot),
            Err(SkipReason::TooLarge {
                width: 64,
                height: 50
            })
        );
        let good = png_of(image::RgbImage::new(50, 50).into());
        let truncated = &good[..good.len() / 2];
        assert!(matches!(
            decode_patch(truncated, &mut slot),
            Err(SkipReason::Corrupt(_))
        ));
    }
}
