//! The demo dataset and the splits: what a user relies on before any training.

mod common;

use std::collections::HashSet;

use common::datasets::small_demo;
use idc_studio::dataset::demo::{DemoConfig, ensure_demo_dataset, generate_demo_dataset};
use idc_studio::dataset::{
    Label, SYNTHETIC_MARKER_FILE, Split, SplitKind, SplitPart, parse_patch_name, scan_dataset,
};

#[test]
fn the_demo_dataset_is_real_pngs_in_the_idc_layout_and_marked_synthetic() {
    let demo = small_demo();
    let store = &demo.store;
    assert!(store.is_synthetic());
    assert!(demo.root.join(SYNTHETIC_MARKER_FILE).is_file());
    assert_eq!(store.patients().len(), 6);
    assert!((400..1100).contains(&store.len()), "{} patches", store.len());
    let [_, idc] = store.class_counts();
    let share = idc as f64 / store.len() as f64;
    assert!((0.1..0.5).contains(&share), "IDC share {share}");
    for patch in store.patches() {
        // Names parse, folders agree, coordinates sit on the 50-pixel grid from 1.
        let name = parse_patch_name(&patch.path.file_name().unwrap().to_string_lossy()).unwrap();
        assert_eq!(name.label, patch.label);
        assert_eq!(patch.x % 50, 1);
        assert_eq!(patch.y % 50, 1);
        let folder = patch
            .path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(folder, patch.label.index().to_string());
    }
}

#[test]
fn the_demo_dataset_is_the_same_for_the_same_seed() {
    let dir = tempfile::tempdir().unwrap();
    let config = DemoConfig {
        patients: 2,
        patches_per_patient: 40,
        seed: 5,
        ..DemoConfig::default()
    };
    let first = generate_demo_dataset(&dir.path().join("a"), &config).unwrap();
    let second = generate_demo_dataset(&dir.path().join("b"), &config).unwrap();
    assert_eq!(
        (first.patches, first.idc_patches),
        (second.patches, second.idc_patches)
    );
    let (a, _) = scan_dataset(&dir.path().join("a"), &|_| {}).unwrap();
    let (b, _) = scan_dataset(&dir.path().join("b"), &|_| {}).unwrap();
    assert_eq!(a.len(), b.len());
    for index in 0..a.len() {
        assert_eq!(a.pixels(index), b.pixels(index));
    }
}

#[test]
fn every_demo_slide_can_be_rebuilt_and_shows_idc_as_regions() {
    let store = &small_demo().store;
    let mut edge_patches = 0;
    for (patient, summary) in store.patient_summaries().iter().enumerate() {
        let tiles: HashSet<(u32, u32)> = store
            .patches()
            .iter()
            .filter(|patch| patch.patient as usize == patient)
            .map(|patch| (patch.x, patch.y))
            .collect();
        assert_eq!(
            tiles.len(),
            summary.patches,
            "no two patches of a patient share a place"
        );
        // IDC tiles are not scattered: most have an IDC neighbour.
        let idc: HashSet<(u32, u32)> = store
            .patches()
            .iter()
            .filter(|patch| patch.patient as usize == patient && patch.label == Label::Idc)
            .map(|patch| (patch.x, patch.y))
            .collect();
        let with_neighbour = idc
            .iter()
            .filter(|&&(x, y)| {
                [(50i64, 0i64), (-50, 0), (0, 50), (0, -50)]
                    .iter()
                    .any(|&(dx, dy)| idc.contains(&((x as i64 + dx) as u32, (y as i64 + dy) as u32)))
            })
            .count();
        if idc.len() >= 4 {
            assert!(
                with_neighbour * 10 >= idc.len() * 8,
                "patient {}: IDC is contiguous",
                summary.patient
            );
        }
        edge_patches += store
            .patches()
            .iter()
            .filter(|patch| patch.patient as usize == patient && (patch.width < 50 || patch.height < 50))
            .count();
    }
    assert!(edge_patches > 0, "some slides end in edge patches");
}

#[test]
fn ensure_demo_dataset_generates_once_and_never_writes_into_a_users_folder() {
    let dir = tempfile::tempdir().unwrap();
    let config = DemoConfig {
        patients: 1,
        patches_per_patient: 20,
        seed: 1,
        ..DemoConfig::default()
    };
    let demo = dir.path().join("demo");
    assert!(ensure_demo_dataset(&demo, &config).unwrap().is_some());
    assert!(
        ensure_demo_dataset(&demo, &config).unwrap().is_none(),
        "second call reuses it"
    );

    let users = dir.path().join("my-slides");
    common::png::write(&users.join("keep.txt"), b"mine");
    let err = ensure_demo_dataset(&users, &config).unwrap_err();
    assert!(err.to_string().contains("folder is not empty"), "{err}");
    assert_eq!(std::fs::read_dir(&users).unwrap().count(), 1);
}

fn parts_of(split: &Split, len: usize) -> [Vec<usize>; 3] {
    let parts = [SplitPart::Train, SplitPart::Validation, SplitPart::Test].map(|part| split.indices(part));
    let mut all: Vec<usize> = parts.iter().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..len).collect::<Vec<_>>(),
        "every patch in exactly one part"
    );
    parts
}

#[test]
fn a_patient_split_keeps_each_patient_in_one_part() {
    let store = &small_demo().store;
    let split = Split::new(store, SplitKind::Patient, 42);
    let [train, validation, test] = parts_of(&split, store.len());
    let patients_of =
        |indices: &[usize]| -> HashSet<u32> { indices.iter().map(|&i| store.patch(i).patient).collect() };
    let (a, b, c) = (patients_of(&train), patients_of(&validation), patients_of(&test));
    assert!(a.is_disjoint(&b) && a.is_disjoint(&c) && b.is_disjoint(&c));
    assert!(!test.is_empty() && !train.is_empty());
    assert_eq!(
        split,
        Split::new(store, SplitKind::Patient, 42),
        "deterministic from the seed"
    );
    assert_ne!(split, Split::new(store, SplitKind::Patient, 43));
}

#[test]
fn a_patch_split_holds_out_20_percent_then_10_percent_stratified() {
    let store = &small_demo().store;
    let split = Split::new(store, SplitKind::Patch, 42);
    let [train, validation, test] = parts_of(&split, store.len());
    let [zeros, ones] = store.class_counts();
    let count = |indices: &[usize], label| indices.iter().filter(|&&i| store.patch(i).label == label).count();
    for (label, total) in [(Label::NonIdc, zeros), (Label::Idc, ones)] {
        let test_share = count(&test, label) as f64 / total as f64;
        assert!(
            (test_share - 0.2).abs() < 0.01,
            "{label:?} test share {test_share}"
        );
        let rest = total - count(&test, label);
        let validation_share = count(&validation, label) as f64 / rest as f64;
        assert!(
            (validation_share - 0.1).abs() < 0.01,
            "{label:?} validation share {validation_share}"
        );
    }
    assert_eq!(train.len() + validation.len() + test.len(), store.len());
}

#[test]
fn a_saved_split_loads_back_onto_the_same_patches() {
    let store = &small_demo().store;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("split.csv");
    let split = Split::new(store, SplitKind::Patient, 3);
    split.save(store, &path).unwrap();
    let loaded = Split::load(store, SplitKind::Patient, 3, &path).unwrap();
    assert_eq!(loaded, split);

    // A split from another dataset is refused, naming the file.
    let other = "patient,x,y,label,part\n1,1,1,0,train\n";
    std::fs::write(&path, other).unwrap();
    let err = Split::load(store, SplitKind::Patient, 3, &path).unwrap_err();
    assert!(
        err.to_string()
            .contains("1 patches of the saved split are not in the dataset"),
        "{err}"
    );
}
