//! Annotations on the command line: a reader's corrections train the next run (relabels apply,
//! unsure patches are left out, the run records both), and scripts export them.

mod common;

use std::path::Path;

use common::binary::{assert_one_line_error, idc_studio, text};
use idc_studio::dataset::Label;
use idc_studio::review::{Annotation, PatchKey, ReviewState, Reviews};

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_readers_corrections_train_the_next_run_and_export_for_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = common::datasets::own_demo(&data, 4, 40);

    // Ana relabels an IDC patch to non-IDC and cannot tell about another.
    let folder = store.root().join(idc_studio::review::reviews::BESIDE_DATASET);
    let (mut reviews, _) = Reviews::open(&folder).unwrap();
    let idc = store
        .patches()
        .iter()
        .position(|patch| patch.label == Label::Idc)
        .unwrap();
    let unsure = store
        .patches()
        .iter()
        .position(|patch| patch.label == Label::NonIdc)
        .unwrap();
    let key = |index: usize| {
        let patch = store.patch(index);
        PatchKey {
            patient: store.patient_name(patch).to_string(),
            x: patch.x,
            y: patch.y,
        }
    };
    for (index, state) in [(idc, ReviewState::RelabelNonIdc), (unsure, ReviewState::Unsure)] {
        let patch = store.patch(index);
        let mut annotation = Annotation::blank(&key(index), patch.path.clone(), patch.label, "ana");
        annotation.state = state;
        annotation.note = "checked at 40x".into();
        reviews.record(annotation).unwrap();
    }

    let run = dir.path().join("run");
    let output = idc_studio(&[
        "train",
        "--data",
        arg(&data),
        "--out",
        arg(&run),
        "--device",
        "cpu",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--labels",
        "reviewed:ana",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("labels       reviewed:ana: 2 reviewed patches"),
        "{}",
        text(&output.stdout)
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["config"]["labels"], "reviewed:ana");
    assert_eq!(config["label_changes"]["relabelled"], 1);
    assert_eq!(config["label_changes"]["left_out"], 1);
    let split = std::fs::read_to_string(run.join("split.csv")).unwrap();
    let row_of = |index: usize| {
        let key = key(index);
        split
            .lines()
            .find(|line| line.starts_with(&format!("{},{},{},", key.patient, key.x, key.y)))
            .map(str::to_string)
    };
    let relabelled = row_of(idc).expect("the relabelled patch is in the split");
    assert!(
        relabelled.split(',').nth(3) == Some("0"),
        "trains as non-IDC: {relabelled}"
    );
    assert_eq!(row_of(unsure), None, "an unsure patch is left out");
    let labels = std::fs::read_to_string(run.join("labels.csv")).unwrap();
    assert_eq!(labels.lines().count(), 3, "{labels}");

    // A resumed run keeps its labels; asking for others is refused by name.
    let output = idc_studio(&[
        "train",
        "--out",
        arg(&run),
        "--resume",
        "--epochs",
        "2",
        "--device",
        "cpu",
        "--labels",
        "dataset",
    ]);
    assert_one_line_error(&output, "--labels (dataset asked, reviewed:ana recorded)");

    // A reader with no annotations is named, with the readers there are.
    let output = idc_studio(&[
        "train",
        "--data",
        arg(&data),
        "--out",
        arg(&dir.path().join("other")),
        "--device",
        "cpu",
        "--labels",
        "reviewed:bo",
    ]);
    assert_one_line_error(&output, "no annotations by \"bo\" (readers: ana)");
    assert!(!dir.path().join("other").exists());

    // The export, for scripts: CSV, or JSON by the file's extension.
    let csv_path = dir.path().join("corrected.csv");
    let output = idc_studio(&["annotations", "export", arg(&data), "--out", arg(&csv_path)]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "patient,x,y,path,dataset_label,reviewed_label,state,flagged,reviewer,run,prob_idc,note,time"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2);
    let idc_key = key(idc);
    assert!(
        rows.iter().any(
            |row| row.starts_with(&format!("{},{},{},", idc_key.patient, idc_key.x, idc_key.y))
                && row.contains(",1,0,relabel_0,false,ana,,,checked at 40x,")
        ),
        "{rows:?}"
    );
    let json_path = dir.path().join("corrected.json");
    let output = idc_studio(&["annotations", "export", arg(&data), "--out", arg(&json_path)]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    let output = idc_studio(&[
        "annotations",
        "export",
        arg(&data),
        "--out",
        arg(&json_path),
        "--reader",
        "bo",
    ]);
    assert_one_line_error(&output, "no annotations by \"bo\"");
}
