//! Files a scan or `predict` must survive without hanging, without spending more than a patch
//! is worth, and without passing over anything in silence: a huge image in a small file, a huge
//! file, a FIFO, names that are not UTF-8, coordinates at the integer limit, a linked folder.

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use common::png::{png_chunk, rgb_png, write};
use idc_studio::dataset::{SkipReason, scan_dataset};

/// A valid PNG of one pixel whose header claims `width` x `height`.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let real = rgb_png(1, 1, [1, 2, 3]);
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    let mut bytes = real[..8].to_vec();
    bytes.extend(png_chunk(b"IHDR", &header));
    bytes.extend_from_slice(&real[8 + 25..]); // the rest of the one-pixel file
    bytes
}

/// Scans on a thread of its own: a hang fails the test rather than blocking it forever.
fn scan_within_a_minute(root: &Path) -> idc_studio::dataset::ScanReport {
    let (sender, receiver) = mpsc::channel();
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        let _ = sender.send(scan_dataset(&root, &|_| {}).map(|(_, report)| report));
    });
    receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("the scan finishes")
        .expect("the scan succeeds")
}

fn reason_of<'a>(report: &'a idc_studio::dataset::ScanReport, path: &Path) -> &'a SkipReason {
    &report
        .skipped
        .iter()
        .find(|skipped| skipped.path.ends_with(path))
        .unwrap_or_else(|| panic!("{} not skipped: {:?}", path.display(), report.skipped))
        .reason
}

#[test]
fn each_hostile_file_is_skipped_with_its_reason_and_the_rest_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let good = rgb_png(50, 50, [200, 120, 180]);
    write(&root.join("8863/0/8863_idx5_x1_y1_class0.png"), &good);
    write(&root.join("8863/1/8863_idx5_x51_y1_class1.png"), &good);

    let huge_image = Path::new("8863/0/8863_idx5_x101_y1_class0.png");
    write(&root.join(huge_image), &png_declaring(60_000, 60_000));
    let huge_file = Path::new("8863/0/8863_idx5_x151_y1_class0.png");
    let mut padded = good.clone();
    padded.resize(3 << 20, 0);
    write(&root.join(huge_file), &padded);
    let far = Path::new("8863/0/8863_idx5_x4294967295_y1_class0.png");
    write(&root.join(far), &good);

    let report = scan_within_a_minute(&root);
    assert_eq!(report.patches, 2, "{:?}", report.skipped);
    assert_eq!(
        reason_of(&report, huge_image),
        &SkipReason::TooLarge {
            width: 60_000,
            height: 60_000
        }
    );
    assert_eq!(
        reason_of(&report, huge_file),
        &SkipReason::TooBig { bytes: 3 << 20 }
    );
    assert!(
        reason_of(&report, far)
            .to_string()
            .contains("too large (at most 1000000)"),
        "{}",
        reason_of(&report, far)
    );
}

#[cfg(unix)]
#[test]
fn fifos_odd_names_and_linked_folders_are_named_not_hung_on_or_passed_over() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let good = rgb_png(50, 50, [200, 120, 180]);
    write(&root.join("8863/0/8863_idx5_x1_y1_class0.png"), &good);
    write(&root.join("8863/1/8863_idx5_x51_y1_class1.png"), &good);

    let fifo = root.join("8863/0/8863_idx5_x201_y1_class0.png");
    make_fifo(&fifo);
    // A patient folder and a file whose names are not UTF-8 (Latin-1 bytes).
    let odd_patient = root.join(OsStr::from_bytes(b"p\xe9"));
    let odd_folder_file = odd_patient.join("0/pe_idx5_x1_y1_class0.png");
    write(&odd_folder_file, &good);
    let odd_file = root
        .join("8863/0")
        .join(OsStr::from_bytes(b"8863_idx5_x\xe9_y1_class0.png"));
    write(&odd_file, &good);
    // A patient folder that is a link to one elsewhere.
    let elsewhere = dir.path().join("elsewhere/10253");
    write(&elsewhere.join("1/10253_idx5_x1_y1_class1.png"), &good);
    std::os::unix::fs::symlink(&elsewhere, root.join("10253")).unwrap();

    let report = scan_within_a_minute(&root);
    assert_eq!(report.patches, 2, "{:?}", report.skipped);
    assert_eq!(reason_of(&report, &fifo), &SkipReason::NotAFile);
    for odd in [&odd_folder_file, &odd_file] {
        assert!(
            reason_of(&report, odd).to_string().contains("not valid UTF-8"),
            "{}",
            reason_of(&report, odd)
        );
    }
    assert_eq!(reason_of(&report, &root.join("10253")), &SkipReason::LinkedFolder);

    // `predict` names the FIFO and returns, with the good file predicted: a run is needed.
    let run = train_tiny_run(dir.path());
    let good_file = root.join("8863/0/8863_idx5_x1_y1_class0.png");
    let mut child = common::binary::idc_studio_command(&[
        "predict",
        run.to_str().unwrap(),
        good_file.to_str().unwrap(),
        fifo.to_str().unwrap(),
        "--device",
        "cpu",
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("predict hung on a FIFO");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    common::binary::assert_one_line_error(&output, "not a regular file");
    assert_eq!(
        common::binary::text(&output.stdout).lines().count(),
        2,
        "header and the good file"
    );
}

#[cfg(unix)]
fn make_fifo(path: &Path) {
    let name = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0);
}

/// A one-epoch run on a small demo dataset.
fn train_tiny_run(dir: &Path) -> PathBuf {
    let data = &common::datasets::small_demo().root;
    let run = dir.join("run");
    let output = common::binary::idc_studio(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        common::binary::text(&output.stderr)
    );
    run
}
