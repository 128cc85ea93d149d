//! Reading and decoding one patch file into the store's fixed 50x50 RGB slot. A file costs at
//! most what a 50x50 patch can: it is checked to be a regular file of a bounded size before it
//! is read, and its PNG header before its pixels are decoded.

use std::io::Read;
use std::path::Path;

use image::ImageDecoder as _;
use image::ImageEncoder as _;

use super::scan::SkipReason;
use super::{PATCH_BYTES, PATCH_SIDE};

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
/// What the store holds outside an edge patch's true area: slide background.
const PADDING_VALUE: u8 = 255;
/// The largest file read as a patch. A 50x50 PNG of 16-bit RGBA stored uncompressed is some
/// 21 KB; 1 MiB leaves room for any ancillary chunks a scanner writes, and stops a huge file
/// named `.png` from being read whole.
pub const MAX_PATCH_FILE_BYTES: u64 = 1 << 20;
/// The most the PNG decoder may allocate for one patch (a 50x50 image needs 20 KB at most).
const MAX_DECODE_ALLOCATION: u64 = 4 << 20;

/// Reads the patch file at `path` into `slot`, as [`decode_patch`] decodes it. A FIFO, device or
/// socket with a `.png` name is skipped without being read (reading it would wait forever), and
/// so is a file larger than [`MAX_PATCH_FILE_BYTES`].
pub fn read_patch_file(path: &Path, slot: &mut [u8]) -> Result<(u8, u8), SkipReason> {
    let unreadable = |err: std::io::Error| SkipReason::Unreadable(err.to_string());
    let kind = std::fs::metadata(path).map_err(unreadable)?.file_type();
    if !kind.is_file() {
        return Err(SkipReason::NotAFile);
    }
    let file = open_without_waiting(path).map_err(unreadable)?;
    // Checked again on the open file: it may have been replaced since.
    let metadata = file.metadata().map_err(unreadable)?;
    if !metadata.is_file() {
        return Err(SkipReason::NotAFile);
    }
    if metadata.len() > MAX_PATCH_FILE_BYTES {
        return Err(SkipReason::TooBig {
            bytes: metadata.len(),
        });
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    // Bounded even if the file grows while it is read.
    file.take(MAX_PATCH_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_PATCH_FILE_BYTES {
        return Err(SkipReason::TooBig {
            bytes: bytes.len() as u64,
        });
    }
    decode_patch(&bytes, slot)
}

/// Opens for reading; on Unix without blocking, so a FIFO swapped in after the check above
/// cannot hang the reader.
fn open_without_waiting(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

/// Decodes PNG bytes into `slot` (50x50x3, row-major), converting grayscale, alpha and 16-bit
/// images to 8-bit RGB. Patches smaller than 50x50 are padded; their true size is returned.
/// The header's dimensions are checked before any pixel is decoded: a small file that declares
/// a huge image costs nothing.
pub fn decode_patch(bytes: &[u8], slot: &mut [u8]) -> Result<(u8, u8), SkipReason> {
    debug_assert_eq!(slot.len(), PATCH_BYTES);
    if bytes.is_empty() {
        return Err(SkipReason::Empty);
    }
    if !bytes.starts_with(PNG_SIGNATURE) {
        return Err(SkipReason::NotPng);
    }
    // The declared size comes first, from the header itself: the decoder refuses a huge image
    // under its allocation limit with a generic error, and the reader deserves the real reason.
    if let Some((width, height)) = declared_dimensions(bytes)
        && (width as usize > PATCH_SIDE || height as usize > PATCH_SIDE)
    {
        return Err(SkipReason::TooLarge { width, height });
    }
    let corrupt = |err: image::ImageError| SkipReason::Corrupt(err.to_string());
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODE_ALLOCATION);
    let decoder =
        image::codecs::png::PngDecoder::with_limits(std::io::Cursor::new(bytes), limits).map_err(corrupt)?;
    // The decoder reads the same header as `declared_dimensions`, so the size is checked.
    let (width, height) = decoder.dimensions();
    let (width, height) = (width as usize, height as usize);
    if width == 0 || height == 0 {
        return Err(SkipReason::Corrupt("image has no pixels".into()));
    }
    let image = image::DynamicImage::from_decoder(decoder).map_err(corrupt)?;
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

/// The width and height a PNG's first chunk declares, when that chunk is a header.
fn declared_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let header = bytes.get(8..24)?;
    if &header[4..8] != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(header[8..12].try_into().ok()?);
    let height = u32::from_be_bytes(header[12..16].try_into().ok()?);
    Some((width, height))
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
