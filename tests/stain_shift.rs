//! Training through stain shift: on a demo whose patients come from labs that stain unlike each
//! other, with labels flipped on purpose, the models that never saw a far lab's patient fail on
//! it, `label-issues` says so and keeps its ranking of label errors honest, and stain
//! normalisation lifts the worst patient. (Stain augmentation's effect is measured in
//! docs/stain.md: it sharpens the ranking but does not reach the farthest lab.)

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use idc_studio::dataset::demo::lab_stain::LabStain;
use idc_studio::dataset::demo::{DEMO_STAINS_FILE, DemoConfig, StainVariation, generate_demo_dataset};
use idc_studio::dataset::label_noise::plant_label_flips;
use idc_studio::dataset::scan_dataset;
use idc_studio::dataset::stain::{PatientStains, StainAugment, StainNormalisation};
use idc_studio::model::DeviceChoice;
use idc_studio::review::label_issues::{rank_label_issues, score_detection};
use idc_studio::review::unlike_patients::{PatientScores, note_stains, patient_scores};
use idc_studio::training::TrainConfig;
use idc_studio::training::cross_validation::{CrossValidationJob, OutOfFoldRow, cross_validate};

const FOLDS: usize = 4;
const EPOCHS: usize = 3;

/// A strong-variation demo with 4% of its labels flipped: the flipped patches, and the patients
/// of the far labs.
fn shifted_demo(folder: &std::path::Path) -> (HashSet<(String, u32, u32)>, HashSet<String>) {
    let config = DemoConfig {
        patients: 12,
        patches_per_patient: 150,
        seed: 11,
        stain_variation: StainVariation::Strong,
    };
    generate_demo_dataset(folder, &config).unwrap();
    let far: HashSet<String> = csv::Reader::from_path(folder.join(DEMO_STAINS_FILE))
        .unwrap()
        .deserialize::<LabStain>()
        .map(Result::unwrap)
        .filter(|stain| stain.lab != 0)
        .map(|stain| stain.patient)
        .collect();
    let (store, _) = scan_dataset(folder, &|_| {}).unwrap();
    let planted = plant_label_flips(&store, 0.04, 7)
        .unwrap()
        .into_iter()
        .map(|flip| (flip.patient, flip.x, flip.y))
        .collect();
    (planted, far)
}

/// Out-of-fold predictions of every patch with this stain handling.
fn out_of_fold(
    data: &std::path::Path,
    stain_augment: StainAugment,
    normalize_stain: StainNormalisation,
) -> Vec<OutOfFoldRow> {
    let (store, _) = scan_dataset(data, &|_| {}).unwrap();
    let out = tempfile::tempdir().unwrap();
    let stains = tempfile::tempdir().unwrap();
    let job = CrossValidationJob {
        store: Arc::new(store),
        folds: FOLDS,
        config: TrainConfig {
            epochs: EPOCHS,
            device: DeviceChoice::Cpu,
            augment: false,
            stain_augment,
            normalize_stain,
            ..TrainConfig::default()
        },
        out_dir: out.path().to_path_buf(),
        stain_folder: Some(stains.path().to_path_buf()),
    };
    cross_validate(&job, &mut |_| {}, &AtomicBool::new(false)).unwrap()
}

fn worst(patients: &[PatientScores]) -> &PatientScores {
    &patients[0]
}

fn median_accuracy(patients: &[PatientScores]) -> f64 {
    let mut accuracies: Vec<f64> = patients.iter().map(|patient| patient.accuracy).collect();
    accuracies.sort_by(f64::total_cmp);
    accuracies[accuracies.len() / 2]
}

#[test]
fn the_far_labs_fail_plain_training_are_named_and_stain_normalisation_lifts_them() {
    let data = tempfile::tempdir().unwrap();
    let (planted, far) = shifted_demo(data.path());
    assert!(!far.is_empty(), "the demo has patients from the far labs");

    // Without stain handling: a far lab's patient is among the worst, named unlike the others,
    // and the stain map says its stain is the cause.
    let plain = out_of_fold(data.path(), StainAugment::None, StainNormalisation::None);
    let mut patients = patient_scores(&plain);
    let (store, _) = scan_dataset(data.path(), &|_| {}).unwrap();
    let stains = PatientStains::estimate(&store, None, &|_, _| {}, &AtomicBool::new(false)).unwrap();
    note_stains(&mut patients, &stains);
    let named: Vec<&PatientScores> = patients.iter().filter(|patient| patient.unlike_others).collect();
    eprintln!(
        "no stain handling: worst {} at {:.3}, median {:.3}; unlike the others {:?}; far labs {far:?}",
        worst(&patients).patient,
        worst(&patients).accuracy,
        median_accuracy(&patients),
        named
            .iter()
            .map(|patient| (&patient.patient, patient.accuracy, patient.stain_unusual))
            .collect::<Vec<_>>()
    );
    let named_far: Vec<&&PatientScores> = named
        .iter()
        .filter(|patient| far.contains(&patient.patient))
        .collect();
    assert!(!named_far.is_empty(), "label-issues names a shifted patient");
    assert!(
        named_far
            .iter()
            .all(|patient| patient.stain_unusual == Some(true)),
        "and says its stain is unusual"
    );
    assert!(
        named
            .iter()
            .filter(|patient| patient.stain_unusual == Some(true))
            .all(|patient| far.contains(&patient.patient)),
        "no patient of the common lab is blamed on its stain"
    );

    // Their patches do not flood the ranking of label errors.
    let ranked = rank_label_issues(&plain);
    let score = score_detection(&ranked, |row| {
        planted.contains(&(row.patient.clone(), row.x, row.y))
    });
    eprintln!("no stain handling: {score:?}");
    assert!(
        score.worst_n_precision > 0.5,
        "worst-N precision {:.3}",
        score.worst_n_precision
    );
    assert!(
        score.suspected_precision > 10.0 * score.random_precision,
        "suspected precision {:.3} against {:.3} by chance",
        score.suspected_precision,
        score.random_precision
    );

    // Mapping every patient onto one reference stain lifts the worst patient by a wide margin.
    let normalised = patient_scores(&out_of_fold(
        data.path(),
        StainAugment::None,
        StainNormalisation::Macenko,
    ));
    eprintln!(
        "Macenko: worst {} at {:.3}, median {:.3}",
        worst(&normalised).patient,
        worst(&normalised).accuracy,
        median_accuracy(&normalised)
    );
    assert!(
        worst(&normalised).accuracy > worst(&patients).accuracy + 0.1,
        "worst patient {:.3} normalised, against {:.3} without",
        worst(&normalised).accuracy,
        worst(&patients).accuracy
    );
}
