//! "More like this" from the command line: a patch's nearest neighbours by the run's model,
//! where a copy of the patch filed under another name must come up as the most alike.

mod common;

use common::binary::{idc_studio, text};

#[test]
fn a_patchs_neighbours_include_its_duplicate_and_are_cached_with_the_run() {
    let home = tempfile::tempdir().unwrap();
    let store = common::datasets::own_demo(&home.path().join("data"), 3, 60);
    // A copy of one patch under coordinates no other patch has: a duplicate, as scanners make.
    let original = store.patch(17);
    let patient = store.patient_name(original).to_string();
    let copy_name = format!(
        "{patient}_idx5_x999000_y999000_class{}.png",
        original.label.index()
    );
    let copy = original.path.with_file_name(&copy_name);
    std::fs::copy(&original.path, &copy).unwrap();

    // A model trained briefly: an untrained one maps most patches to one direction.
    let run_dir = home.path().join("runs/run-a");
    let trained = idc_studio(&[
        "train",
        "--data",
        store.root().to_str().unwrap(),
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--out",
        run_dir.to_str().unwrap(),
    ]);
    assert!(trained.status.success(), "{}", text(&trained.stderr));

    let similar = || {
        idc_studio(&[
            "similar",
            run_dir.to_str().unwrap(),
            "--patch",
            original.path.to_str().unwrap(),
            "--count",
            "5",
            "--device",
            "cpu",
        ])
    };
    let output = similar();
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    let rows: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 5, "{stdout}");
    let duplicate = rows
        .iter()
        .find(|row| row.ends_with(&copy_name))
        .unwrap_or_else(|| panic!("the copy is not among the neighbours:\n{stdout}"));
    let similarity: f32 = duplicate.split(',').nth(1).unwrap().parse().unwrap();
    assert!(similarity > 0.9999, "a copy has the same embedding: {duplicate}");
    assert!(run_dir.join("embeddings.bin").is_file(), "cached with the run");

    // Asked again, the cached embeddings give the same answer.
    let again = similar();
    assert_eq!(text(&again.stdout), stdout);
}
