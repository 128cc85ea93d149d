//! The scanner and the PNG reader fed a few thousand mutated PNGs and names: nothing panics,
//! memory stays bounded, and every file is either used or skipped with its reason. A test
//! binary of its own, so that the process's peak memory is the scan's alone.

mod common;

use std::collections::BTreeMap;

use common::png::{png_bytes, png_chunk, write};
use idc_studio::dataset::decode::decode_patch;
use idc_studio::dataset::{PATCH_BYTES, parse_patch_name, scan_dataset};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FILES: usize = 3000;

/// Valid patches of every colour type and depth the reader converts, and edge sizes.
fn seeds() -> Vec<Vec<u8>> {
    vec![
        common::png::rgb_png(50, 50, [200, 120, 180]),
        common::png::rgb_png(30, 50, [90, 40, 120]),
        png_bytes(image::GrayImage::from_pixel(50, 50, image::Luma([7])).into()),
        png_bytes(image::RgbaImage::from_pixel(50, 50, image::Rgba([1, 2, 3, 4])).into()),
        png_bytes(
            image::ImageBuffer::<image::Rgb<u16>, _>::from_pixel(50, 12, image::Rgb([65535, 0, 9])).into(),
        ),
    ]
}

/// One of several kinds of damage, some of them crafted to pass the checksums.
fn mutate(rng: &mut ChaCha8Rng, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    match rng.random_range(0..6) {
        // Random bytes flipped anywhere, the signature included.
        0 => {
            for _ in 0..rng.random_range(1..8) {
                let at = rng.random_range(0..bytes.len());
                bytes[at] ^= rng.random::<u8>() | 1;
            }
        }
        // Cut short.
        1 => bytes.truncate(rng.random_range(0..bytes.len())),
        // A header that declares other dimensions (up to the format's limit), checksum right.
        2 => {
            let width = rng.random_range(0..=u32::MAX >> 1);
            let height = if rng.random_bool(0.5) {
                rng.random_range(0..=60)
            } else {
                rng.random_range(0..=u32::MAX >> 1)
            };
            let mut header = bytes[16..29].to_vec();
            header[..4].copy_from_slice(&width.to_be_bytes());
            header[4..8].copy_from_slice(&height.to_be_bytes());
            let chunk = png_chunk(b"IHDR", &header);
            bytes.splice(8..33, chunk);
        }
        // A large ancillary chunk inserted after the header.
        3 => {
            let size = rng.random_range(0..200_000);
            let filler = vec![b'x'; size];
            bytes.splice(33..33, png_chunk(b"tEXt", &filler));
        }
        // Random bytes after the signature.
        4 => {
            let len = rng.random_range(0..4096);
            bytes.truncate(8);
            bytes.extend((0..len).map(|_| rng.random::<u8>()));
        }
        // Left as it is.
        _ => {}
    }
    bytes
}

/// A patch name, sometimes damaged: characters replaced, parts dropped, numbers out of range.
fn mutate_name(rng: &mut ChaCha8Rng, index: usize, label: u8) -> String {
    let x = if rng.random_bool(0.1) {
        rng.random::<u64>().to_string()
    } else {
        (index * 50 + 1).to_string()
    };
    let mut name = format!("9000_idx5_x{x}_y{}_class{label}.png", rng.random_range(0..5000));
    if rng.random_bool(0.3) {
        let replacements = ['_', 'x', 'y', '0', '-', 'é', ' ', 'ß', '9'];
        let mut chars: Vec<char> = name.chars().collect();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..chars.len());
            chars[at] = replacements[rng.random_range(0..replacements.len())];
        }
        name = chars.into_iter().collect();
    }
    // Never a hidden file or a path: those are not patch candidates.
    if name.starts_with('.') {
        name.insert(0, 'a');
    }
    name
}

/// Peak resident memory of this process, in MB, where the system says (Linux).
fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[test]
fn mutated_pngs_and_names_are_each_used_or_skipped_with_a_reason_in_bounded_memory() {
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    let seeds = seeds();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let mut written = std::collections::BTreeSet::new();
    let mut slot = vec![0u8; PATCH_BYTES];
    for index in 0..FILES {
        let label = rng.random_range(0..2u8);
        let name = mutate_name(&mut rng, index, label);
        let seed = &seeds[rng.random_range(0..seeds.len())];
        let bytes = mutate(&mut rng, seed);
        // The reader alone, on the same bytes: an answer, never a panic.
        let _ = decode_patch(&bytes, &mut slot);
        let path = root.join("9000").join(label.to_string()).join(&name);
        write(&path, &bytes);
        written.insert(path);
    }
    let before = peak_memory_mb();
    let (store, report) = scan_dataset(&root, &|_| {}).expect("some files are usable");
    let after = peak_memory_mb();

    // Every file written is accounted for, once.
    let used: Vec<_> = store.patches().iter().map(|patch| patch.path.clone()).collect();
    let skipped: Vec<_> = report
        .skipped
        .iter()
        .map(|skipped| skipped.path.clone())
        .collect();
    let mut seen: Vec<_> = used.iter().chain(&skipped).cloned().collect();
    seen.sort();
    let mut expected: Vec<_> = written.into_iter().collect();
    expected.sort();
    assert_eq!(seen.len(), expected.len(), "each file used or skipped once");
    assert_eq!(seen, expected);
    for skip in &report.skipped {
        assert!(!skip.reason.to_string().is_empty());
    }
    let kinds: BTreeMap<&str, usize> = report.skipped_by_kind();
    eprintln!(
        "{} used, {} skipped {kinds:?}; peak memory {before:?} MB before the scan, {after:?} MB after",
        store.len(),
        report.skipped.len()
    );
    assert!(store.len() > FILES / 10, "most unmutated files are used");
    assert!(kinds.contains_key("larger than 50x50") && kinds.contains_key("truncated or corrupt"));
    if let Some(after) = after {
        // A decoded 60,000-pixel-wide patch alone would take gigabytes.
        assert!(after < 400.0, "peak memory {after:.0} MB");
    }

    // Names alone: parsed or refused, never a panic, never a coordinate past the bound.
    for _ in 0..5000 {
        let index = rng.random_range(0..100_000);
        let name = mutate_name(&mut rng, index, 1);
        if let Ok(parsed) = parse_patch_name(&name) {
            assert!(parsed.x <= idc_studio::dataset::filename::MAX_COORDINATE);
            assert!(parsed.y <= idc_studio::dataset::filename::MAX_COORDINATE);
        }
    }
}
