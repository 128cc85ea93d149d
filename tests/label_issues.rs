//! Label errors across a whole dataset: patient folds predict every patch out of sample, and
//! confident learning ranks the labels. Measured on planted errors: labels flipped on purpose in
//! the synthetic demo data, so the right answers are known.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use common::binary::{idc_studio, text};
use idc_studio::dataset::demo::{DemoConfig, generate_demo_dataset};
use idc_studio::dataset::label_noise::plant_label_flips;
use idc_studio::dataset::scan_dataset;
use idc_studio::model::DeviceChoice;
use idc_studio::review::label_issues::{rank_label_issues, score_detection};
use idc_studio::training::TrainConfig;
use idc_studio::training::cross_validation::{CrossValidationJob, FoldEvent, cross_validate};

/// A demo dataset with 4% of its labels flipped, and the flipped patches.
fn noisy_demo(folder: &std::path::Path) -> HashSet<(String, u32, u32)> {
    let config = DemoConfig {
        patients: 8,
        patches_per_patient: 150,
        seed: 11,
        ..DemoConfig::default()
    };
    generate_demo_dataset(folder, &config).unwrap();
    let (store, _) = scan_dataset(folder, &|_| {}).unwrap();
    plant_label_flips(&store, 0.04, 7)
        .unwrap()
        .into_iter()
        .map(|flip| (flip.patient, flip.x, flip.y))
        .collect()
}

#[test]
fn suspected_labels_are_mostly_the_planted_errors() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let planted = noisy_demo(data.path());
    let (store, _) = scan_dataset(data.path(), &|_| {}).unwrap();
    let job = CrossValidationJob {
        store: Arc::new(store),
        folds: 4,
        config: TrainConfig {
            epochs: 3,
            device: DeviceChoice::Cpu,
            augment: false,
            ..TrainConfig::default()
        },
        out_dir: out.path().to_path_buf(),
        stain_folder: None,
    };
    let mut events = Vec::new();
    let rows = cross_validate(&job, &mut |event| events.push(event), &AtomicBool::new(false)).unwrap();
    assert_eq!(rows.len(), job.store.len(), "every patch predicted once");
    assert!(rows.iter().all(|row| row.fold < 4));

    let ranked = rank_label_issues(&rows);
    let score = score_detection(&ranked, |row| {
        planted.contains(&(row.patient.clone(), row.x, row.y))
    });
    eprintln!("{score:?}");
    assert_eq!(score.planted, planted.len());
    // Random picks would be right 4% of the time.
    assert!(
        score.suspected_precision > 10.0 * score.random_precision,
        "suspected precision {:.3} against {:.3} by chance",
        score.suspected_precision,
        score.random_precision
    );
    assert!(
        score.suspected_recall > 0.5,
        "recall {:.3}",
        score.suspected_recall
    );
    assert!(
        score.worst_n_precision > 0.5,
        "worst-N precision {:.3}",
        score.worst_n_precision
    );

    // Run again on the same folder: every fold is kept, none retrained, the same numbers.
    let mut again = Vec::new();
    let rerun = cross_validate(&job, &mut |event| again.push(event), &AtomicBool::new(false)).unwrap();
    assert_eq!(rerun, rows);
    assert!(
        again.iter().all(|event| matches!(event, FoldEvent::Kept { .. })),
        "{again:?}"
    );
}

#[test]
fn the_command_writes_both_files_and_scores_planted_errors() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let planted = noisy_demo(data.path());
    let output = idc_studio(&[
        "label-issues",
        "--data",
        data.path().to_str().unwrap(),
        "--folds",
        "2",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--no-augment",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    assert!(stdout.contains("fold 2/2: done in"), "{stdout}");
    assert!(
        stdout.contains(&format!("against the {} planted label errors", planted.len())),
        "{stdout}"
    );
    // The patients the models fail on as a whole are named, or none is, at the end.
    assert!(stdout.contains("unlike the others"), "{stdout}");
    let out_of_fold = std::fs::read_to_string(out.path().join("out_of_fold.csv")).unwrap();
    assert!(out_of_fold.starts_with("patient,x,y,path,label,prob_idc,fold\n"));
    let issues = std::fs::read_to_string(out.path().join("label_issues.csv")).unwrap();
    assert!(issues.starts_with(
        "patient,x,y,path,label,prob_idc,label_quality,patient_threshold,suspected,unlike_others,given_label,pred_probs_0,pred_probs_1\n"
    ));
    assert_eq!(issues.lines().count(), out_of_fold.lines().count());
    let patients = std::fs::read_to_string(out.path().join("patients.csv")).unwrap();
    assert!(patients.starts_with(
        "patient,patches,idc,accuracy,sensitivity,specificity,auc,mean_prob_idc,unlike_others,stain_unusual\n"
    ));
    assert_eq!(patients.lines().count(), 1 + 8, "a row a patient");
}
