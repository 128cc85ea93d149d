//! Scanning a folder in the IDC layout: what is counted, what is skipped and why.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::png::{png_bytes, rgb_png, write};
use idc_studio::dataset::scan::ScanError;
use idc_studio::dataset::{Label, NESTED_COPY_FOLDER, SkipReason, scan_dataset};

/// A Kaggle-like tree: two patients, the nested duplicate copy, an edge patch, and one file of
/// every kind of bad input.
fn build_tree(root: &Path) {
    let p = root.join("8863");
    write(
        &p.join("0/8863_idx5_x1_y1_class0.png"),
        &rgb_png(50, 50, [200, 120, 180]),
    );
    write(
        &p.join("0/8863_idx5_x51_y1_class0.png"),
        &rgb_png(30, 50, [210, 130, 190]),
    ); // edge
    write(
        &p.join("1/8863_idx5_x101_y1_class1.png"),
        &rgb_png(50, 50, [90, 40, 120]),
    );
    let deep_gray = image::ImageBuffer::<image::Luma<u16>, _>::from_pixel(50, 50, image::Luma([30000]));
    write(
        &p.join("1/8863_idx5_x151_y1_class1.png"),
        &png_bytes(deep_gray.into()),
    );
    // Bad input, one of each.
    write(
        &p.join("0/8863_idx5_x201_y1_class1.png"),
        &rgb_png(50, 50, [0, 0, 0]),
    ); // label mismatch
    write(&p.join("0/notes.txt"), b"seen under the microscope");
    write(
        &p.join("0/8863_idx5_x211_y1_class0.png"),
        b"\xff\xd8\xff\xe0 a JPEG in disguise",
    );
    let good = rgb_png(50, 50, [1, 2, 3]);
    write(
        &p.join("0/8863_idx5_x251_y1_class0.png"),
        &good[..good.len() - 20],
    ); // truncated
    write(&p.join("0/8863_idx5_x301_y1_class0.png"), b""); // empty
    write(&p.join("0/8863_x351_y1_class0.png"), &good); // bad name
    write(
        &p.join("0/8863_idx5_x401_y1_class0.png"),
        &rgb_png(64, 64, [5, 5, 5]),
    ); // too large
    write(&p.join("0/9999_idx5_x451_y1_class0.png"), &good); // another patient's name
    write(&p.join("1/8863_idx5_x1_y1_class1.png"), &good); // same (patient, x, y) again
    write(&p.join("0/.DS_Store"), b"finder litter");
    let rgba = image::RgbaImage::from_pixel(50, 50, image::Rgba([100, 50, 150, 128]));
    write(
        &root.join("10253/1/10253_idx5_x1_y1_class1.png"),
        &png_bytes(rgba.into()),
    );
    write(&root.join("README.txt"), b"IDC dataset");
    // The archive's nested copy of the same patients.
    let nested = root.join(NESTED_COPY_FOLDER);
    write(&nested.join("8863/0/8863_idx5_x1_y1_class0.png"), &good);
    write(&nested.join("10253/1/10253_idx5_x1_y1_class1.png"), &good);
}

#[test]
fn a_scan_counts_each_patch_once_and_says_why_each_bad_file_was_skipped() {
    let dir = tempfile::tempdir().unwrap();
    build_tree(dir.path());
    let (store, report) = scan_dataset(dir.path(), &|_| {}).unwrap();

    assert_eq!(report.patients, 2);
    assert_eq!(report.patches, 5);
    assert_eq!(report.class_counts, [2, 3]);
    assert_eq!(report.edge_patches, 1);
    assert_eq!(
        report.nested_copies_skipped,
        vec![dir.path().join(NESTED_COPY_FOLDER)]
    );
    let expected: BTreeMap<&str, usize> = [
        ("duplicate", 1),
        ("empty file", 1),
        ("bad name", 1),
        ("label mismatch", 1),
        ("larger than 50x50", 1),
        ("not a PNG", 2),
        ("patient mismatch", 1),
        ("truncated or corrupt", 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(report.skipped_by_kind(), expected);
    let reason_of = |name: &str| {
        report
            .skipped
            .iter()
            .find(|file| file.path.file_name().unwrap() == name)
            .map(|file| file.reason.to_string())
            .unwrap()
    };
    assert_eq!(
        reason_of("8863_idx5_x201_y1_class1.png"),
        "label mismatch: folder says class 0, name says class 1"
    );
    assert_eq!(
        reason_of("8863_idx5_x401_y1_class0.png"),
        "larger than 50x50: 64x64"
    );
    assert_eq!(reason_of("8863_x351_y1_class0.png"), "bad name: no _idx5 part");
    assert!(reason_of("8863_idx5_x1_y1_class1.png").starts_with("duplicate of "));

    // Store contents: pixels, true sizes and conversions.
    assert_eq!(store.len(), 5);
    assert_eq!(store.pixel_bytes(), 5 * 50 * 50 * 3);
    let find = |x: u32, patient: &str| {
        (0..store.len())
            .find(|&i| store.patch(i).x == x && store.patient_name(store.patch(i)) == patient)
            .unwrap()
    };
    let edge = store.patch(find(51, "8863"));
    assert_eq!((edge.width, edge.height, edge.label), (30, 50, Label::NonIdc));
    assert_eq!(&store.pixels(find(151, "8863"))[..3], &[117, 117, 117]); // 16-bit gray 30000
    assert_eq!(&store.pixels(find(1, "10253"))[..3], &[100, 50, 150]); // alpha dropped
}

#[test]
fn the_folder_above_the_dataset_scans_the_same() {
    let dir = tempfile::tempdir().unwrap();
    build_tree(&dir.path().join("archive"));
    let (_, report) = scan_dataset(dir.path(), &|_| {}).unwrap();
    assert_eq!((report.patients, report.patches, report.skipped.len()), (2, 5, 9));
}

#[test]
fn a_nested_copy_alone_is_the_dataset() {
    // Only the inner folder was extracted: nothing beside it, so it is walked.
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join(NESTED_COPY_FOLDER);
    write(
        &inner.join("8863/0/8863_idx5_x1_y1_class0.png"),
        &rgb_png(50, 50, [9, 9, 9]),
    );
    let (_, report) = scan_dataset(dir.path(), &|_| {}).unwrap();
    assert_eq!(report.patches, 1);
    assert!(report.nested_copies_skipped.is_empty());
}

#[test]
fn missing_or_empty_folders_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder");
    let err = scan_dataset(&missing, &|_| {}).unwrap_err();
    assert!(matches!(err, ScanError::Missing(_)));
    assert_eq!(err.to_string(), format!("{}: no such folder", missing.display()));

    write(&dir.path().join("8863/0/readme.txt"), b"no images here");
    let err = scan_dataset(dir.path(), &|_| {}).unwrap_err();
    assert!(
        err.to_string()
            .contains("no usable patch found (1 files skipped)"),
        "{err}"
    );

    let file = dir.path().join("8863/0/readme.txt");
    assert!(matches!(
        scan_dataset(&file, &|_| {}),
        Err(ScanError::NotAFolder(_))
    ));
}

#[test]
fn skip_reasons_read_as_sentences() {
    let reason = SkipReason::PatientMismatch {
        folder: "8863".into(),
        name: "9999".into(),
    };
    assert_eq!(
        reason.to_string(),
        "patient mismatch: folder says patient 8863, name says patient 9999"
    );
}
