//! Duplicates and leaks: copies planted in a demo dataset (one under the other label, copies
//! across patients, a slightly brighter copy) are all found, and a split by patch leaks the
//! test part into training where a split by patient does not.

mod common;

use std::path::{Path, PathBuf};

use common::binary::{idc_studio, text};
use idc_studio::dataset::split::{Split, SplitKind, SplitPart};
use idc_studio::dataset::{PatchStore, scan_dataset};
use idc_studio::review::duplicates::{PixelSearch, find_duplicates, split_leak};

/// Writes `pixels` (50x50 RGB) as patient `patient`'s patch at new coordinates with `label`.
fn plant(data: &Path, patient: &str, slot: u32, label: usize, pixels: &[u8]) -> PathBuf {
    let folder = data.join(patient).join(label.to_string());
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join(format!("{patient}_idx5_x9{slot:05}_y9{slot:05}_class{label}.png"));
    image::RgbImage::from_raw(50, 50, pixels.to_vec())
        .unwrap()
        .save(&path)
        .unwrap();
    path
}

fn scan(data: &Path) -> PatchStore {
    scan_dataset(data, &|_| {}).unwrap().0
}

#[test]
fn planted_copies_are_found_and_a_patch_split_leaks_where_a_patient_split_does_not() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let original = common::datasets::own_demo(&data, 5, 80);
    let patients: Vec<String> = original.patients().to_vec();
    let first_of = |patient: usize| {
        (0..original.len())
            .find(|&index| {
                original.patch(index).patient as usize == patient && original.patch(index).width == 50
            })
            .unwrap()
    };
    // 1. A copy of a patch under the other label: a label conflict.
    let conflicted = first_of(0) + 3;
    let other_label = 1 - original.patch(conflicted).label.index();
    plant(&data, &patients[0], 1, other_label, original.pixels(conflicted));
    // 2. A copy of one patch of each patient in every other patient, under the same label:
    //    whichever patient the split tests on holds copies of training patches.
    let mut slot = 10;
    for from in 0..patients.len() {
        let source = first_of(from);
        for name in patients
            .iter()
            .enumerate()
            .filter(|(to, _)| *to != from)
            .map(|(_, name)| name)
        {
            slot += 1;
            plant(
                &data,
                name,
                slot,
                original.patch(source).label.index(),
                original.pixels(source),
            );
        }
    }
    // 3. A copy three levels brighter: a near-duplicate, not an exact one.
    let brightened = first_of(1) + 7;
    let brighter: Vec<u8> = original
        .pixels(brightened)
        .iter()
        .map(|v| v.saturating_add(3))
        .collect();
    plant(
        &data,
        &patients[2],
        99,
        original.patch(brightened).label.index(),
        &brighter,
    );

    let store = scan(&data);
    let search = PixelSearch::new(&store);
    let found = find_duplicates(&store, &search);

    // Exactly the planted groups: the conflict pair, and one group of five a patient.
    let mut sizes: Vec<usize> = found.exact.iter().map(Vec::len).collect();
    sizes.sort();
    assert_eq!(sizes, vec![2, 5, 5, 5, 5, 5], "{:?}", found.exact);
    let conflicts = found.label_conflicts(&store);
    assert_eq!(conflicts.len(), 1);
    let conflict_patient = store.patch(conflicts[0][0]).patient as usize;
    assert_eq!(store.patients()[conflict_patient], patients[0]);
    let find = |patient: &str, x: u32, y: u32| {
        (0..store.len())
            .find(|&i| {
                store.patient_name(store.patch(i)) == patient
                    && store.patch(i).x == x
                    && store.patch(i).y == y
            })
            .unwrap()
    };
    let source = original.patch(brightened);
    let (a, b) = (
        find(&patients[1], source.x, source.y),
        find(&patients[2], 900099, 900099),
    );
    let pair = found
        .near
        .iter()
        .find(|pair| (pair.a, pair.b) == (a.min(b), a.max(b)));
    let pair = pair.unwrap_or_else(|| {
        panic!(
            "the brighter copy is a near-duplicate: {:?}",
            &found.near[..found.near.len().min(5)]
        )
    });
    assert!(pair.rms_levels > 0.5 && pair.rms_levels <= 3.0, "{pair:?}");

    // The leak of each split: counted against the patches the split really put in training.
    for kind in [SplitKind::Patient, SplitKind::Patch] {
        let split = Split::new(&store, kind, 42);
        let leak = split_leak(&store, &split, format!("{kind:?}"), &search);
        let train = split.indices(SplitPart::Train);
        let test = split.indices(SplitPart::Test);
        let copied = test
            .iter()
            .filter(|&&t| train.iter().any(|&r| store.pixels(r) == store.pixels(t)))
            .count();
        assert_eq!(leak.test_patches, test.len());
        assert_eq!(leak.exact_copy_in_training, Some(copied), "{kind:?}");
        if kind == SplitKind::Patient {
            assert!(
                copied >= 4,
                "the test patient holds copies of training patches: {copied}"
            );
            assert_eq!(leak.nearest_same_patient, 0, "no patient on both sides");
        } else {
            // Were the nearest training patch drawn at random, it would be of the same patient
            // this often; a patch split does far better, as tiles of one slide look alike.
            let patient_share = |part: &[usize], patient: u32| {
                part.iter()
                    .filter(|&&i| store.patch(i).patient == patient)
                    .count() as f64
                    / part.len() as f64
            };
            let chance: f64 = (0..store.patients().len() as u32)
                .map(|patient| patient_share(&test, patient) * patient_share(&train, patient))
                .sum();
            assert!(
                leak.share(leak.nearest_same_patient) > 1.5 * chance,
                "by patch, test patches' nearest training patch is from their own slide more than by chance ({chance:.2}): {leak:?}"
            );
        }
    }

    // The command line says the same.
    let output = idc_studio(&[
        "duplicates",
        "--data",
        data.to_str().unwrap(),
        "--out",
        home.path().join("pairs.csv").to_str().unwrap(),
    ]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(
        stdout.contains("identical patches: 6 groups (27 patches); 1 groups given both labels"),
        "{stdout}"
    );
    assert!(
        stdout.contains("by patient, seed 42") && stdout.contains("by patch, seed 42"),
        "{stdout}"
    );
    let pairs = std::fs::read_to_string(home.path().join("pairs.csv")).unwrap();
    assert_eq!(
        pairs.lines().filter(|line| line.starts_with("exact,")).count(),
        1 + 5 * 4,
        "{pairs}"
    );
}
