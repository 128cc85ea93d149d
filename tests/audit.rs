//! The audit beyond one confusion matrix, driven as a reader drives it (egui_kittest): label
//! errors found across the whole dataset and confirmed one by one, two runs compared tile by
//! tile, and Review narrowed to the patient with the most missed cancers.

mod common;

use std::path::PathBuf;

use common::harness::wait_for;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use idc_studio::app::{ListKind, StudioApp, View};
use idc_studio::dataset::label_noise::plant_label_flips;
use idc_studio::dataset::{Label, PatchStore};
use idc_studio::model::DeviceChoice;
use idc_studio::review::compare::compare_runs;
use idc_studio::review::label_issues::{LABEL_ISSUES_FILE, label_issues_folder};
use idc_studio::review::reviews::BESIDE_DATASET;
use idc_studio::review::{Cell, ReviewState};
use idc_studio::training::{PredictionRow, RunFolder, TrainConfig};

struct Desk {
    home: tempfile::TempDir,
    data: PathBuf,
    store: PatchStore,
}

/// A small dataset, and settings that know the reader and train on the CPU without
/// augmentation (so a search for label errors takes seconds).
fn desk() -> Desk {
    let home = tempfile::tempdir().unwrap();
    let store = common::datasets::own_demo(&home.path().join("data"), 6, 150);
    let data = store.root().to_path_buf();
    let training = TrainConfig {
        device: DeviceChoice::Cpu,
        augment: false,
        ..TrainConfig::default()
    };
    std::fs::write(
        home.path().join("settings.json"),
        serde_json::json!({ "reader": "ana", "advance_after_judging": false, "training": training })
            .to_string(),
    )
    .unwrap();
    Desk { home, data, store }
}

fn app(desk: &Desk, run: Option<PathBuf>) -> Harness<'static, StudioApp> {
    common::harness::app_at_desk(desk.home.path(), &desk.data, run)
}

fn run_with_predictions(desk: &Desk, name: &str) -> PathBuf {
    let root = desk.home.path().join("runs").join(name);
    common::runs::finished_run_with_predictions(&desk.store, &root);
    root
}

#[test]
fn a_reader_finds_label_errors_without_a_run_and_confirms_one() {
    let desk = desk();
    let planted = plant_label_flips(&desk.store, 0.05, 3).unwrap();
    let mut harness = app(&desk, None);
    harness.get_by_label("Review").click();
    harness.run_steps(3);
    assert_eq!(harness.state().view(), View::Review);
    harness.state_mut().review_mut().label_issues_mut().folds = 3;
    harness.state_mut().review_mut().label_issues_mut().epochs = 2;
    wait_for(&mut harness, "the label errors panel", |app| {
        app.review().label_issues().is_ready()
    });
    // Stopped at once, the search keeps what it finished and offers to go on.
    harness.get_by_label("Find label errors").click();
    harness.run_steps(2);
    harness.get_by_label("Stop").click();
    wait_for(&mut harness, "the search to stop", |app| {
        !app.review().label_issues().is_running()
    });
    wait_for(&mut harness, "the stopped search read back", |app| {
        app.review().label_issues().earlier().is_some()
    });
    harness.get_by_label_contains("A search of 3 folds x 2 epochs stopped after");
    harness.get_by_label("Go on").click();
    wait_for(&mut harness, "the search for label errors", |app| {
        !app.review().label_issues().is_running() && app.review().label_issues().ranked().is_some()
    });
    let ranked = harness.state().review().label_issues().ranked().unwrap().to_vec();
    let folder = label_issues_folder(&desk.data.join(BESIDE_DATASET));
    assert!(
        folder.join(LABEL_ISSUES_FILE).is_file(),
        "kept with the dataset's annotations"
    );
    let suspected: Vec<_> = ranked.iter().filter(|row| row.suspected).collect();
    assert!(!suspected.is_empty());
    let hits = suspected
        .iter()
        .filter(|row| {
            planted
                .iter()
                .any(|flip| (flip.patient.as_str(), flip.x, flip.y) == (row.patient.as_str(), row.x, row.y))
        })
        .count();
    assert!(
        hits as f64 / suspected.len() as f64 > 0.05 * 3.0,
        "{hits} of {} suspects planted",
        suspected.len()
    );
    harness.get_by_label_contains(&format!("{} suspected among", suspected.len()));

    // The suspects are a review list, worst first, with the fold model's probability.
    harness.get_by_label("Review suspected label errors").click();
    harness.run_steps(3);
    let list = harness.state().review().list().unwrap().clone();
    assert_eq!(list.kind, ListKind::SuspectedLabels);
    assert_eq!(list.tiles.len(), suspected.len());
    let (dataset, first) = (harness.state().workspace().dataset.clone().unwrap(), suspected[0]);
    let index = dataset.find(&first.patient, first.x, first.y).unwrap();
    assert_eq!(harness.state().review().current_patch(), Some(index));
    assert_eq!(list.probabilities[&index], first.prob_idc);

    // Confirming the suspicion relabels the patch to the other class, as the reader.
    let given = dataset.store.patch(index).label;
    harness
        .get_by_label(&format!("Confirm: it is {}", given.other().name()))
        .click();
    harness.run_steps(3);
    let judged = harness.state().workspace().annotation_of(index).unwrap().state;
    assert_eq!(judged, ReviewState::relabel(given.other()));
    assert!(
        harness
            .state()
            .workspace()
            .reviewed_among(list.tiles.iter().copied())
            == 1,
        "the list counts the judged tile"
    );
}

/// A second run of `desk` whose verdicts differ from `first`'s on known tiles: every missed
/// cancer of `first` found, and two of its true negatives turned into false alarms.
fn changed_run(desk: &Desk, first: &std::path::Path, name: &str) -> (PathBuf, Vec<PredictionRow>) {
    let root = desk.home.path().join("runs").join(name);
    common::runs::finished_run_with_predictions(&desk.store, &root);
    let run = RunFolder::open(&root).unwrap();
    let before = RunFolder::open(first).unwrap().read_predictions().unwrap();
    let mut negatives = 0;
    let now: Vec<PredictionRow> = before
        .iter()
        .map(|row| {
            let mut row = row.clone();
            if row.label == Label::Idc && row.prob_idc < 0.5 {
                row.prob_idc = 0.8;
            } else if row.label == Label::NonIdc && negatives < 2 {
                negatives += 1;
                row.prob_idc = 0.7;
            }
            row
        })
        .collect();
    run.write_predictions(&now).unwrap();
    (root, before)
}

#[test]
fn two_runs_side_by_side_show_the_tiles_fixed_and_broken() {
    let desk = desk();
    let first = run_with_predictions(&desk, "run-a");
    let (second, before) = changed_run(&desk, &first, "run-b");
    let now = RunFolder::open(&second).unwrap().read_predictions().unwrap();
    let expected = compare_runs(&now, 0.5, &before, 0.5);
    assert!(!expected.fixed.is_empty() && expected.broken.len() == 2);

    let mut harness = app(&desk, Some(second.clone()));
    wait_for(&mut harness, "the run", |app| app.workspace().run.is_some());
    harness.get_by_label("Compare with another run").click();
    harness.run_steps(3);
    let combo = egui::accesskit::Role::ComboBox;
    let start = std::time::Instant::now();
    while harness.query_by_role_and_label(combo, "Against").is_none() {
        assert!(start.elapsed().as_secs() < 30, "the other runs are never listed");
        harness.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    harness.get_by_role_and_label(combo, "Against").click();
    harness.run_steps(2);
    harness.get_by_label("run-a").click();
    let fixed_label = format!("Fixed {}", expected.fixed.len());
    let start = std::time::Instant::now();
    while harness.query_by_label(&fixed_label).is_none() {
        assert!(start.elapsed().as_secs() < 30, "no {fixed_label} button");
        harness.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    harness.get_by_label(&format!("Broken {}", expected.broken.len()));
    harness.get_by_label(&fixed_label).click();
    harness.run_steps(3);
    let dataset = harness.state().workspace().dataset.clone().unwrap();
    let fixed_tiles: Vec<usize> = expected
        .fixed
        .iter()
        .map(|changed| dataset.find(&changed.patient, changed.x, changed.y).unwrap())
        .collect();
    let list = harness.state().review().list().unwrap();
    assert_eq!(list.tiles, fixed_tiles);
    assert!(matches!(&list.kind, ListKind::Fixed { against } if against == "run-a"));
    // A fixed tile was a missed cancer before: it sits among this run's true positives now.
    let run = harness.state().workspace().run.as_ref().unwrap();
    assert!(
        fixed_tiles
            .iter()
            .all(|&tile| run.cell_of(tile, 0.5) == Some(Cell::TruePositive))
    );
    harness.get_by_label("Back to False negatives").click();
    harness.run_steps(3);
    assert!(harness.state().review().list().is_none());
}

#[test]
fn the_patients_table_narrows_review_to_the_patient_with_most_missed() {
    let desk = desk();
    let root = run_with_predictions(&desk, "run-a");
    let mut harness = app(&desk, Some(root));
    wait_for(&mut harness, "the run", |app| app.workspace().run.is_some());
    let all_missed = harness.state().review().tiles().to_vec();
    harness.get_by_label("Patients in this run").click();
    harness.run_steps(3);
    let worst = harness.state().review().patients().results()[0].clone();
    assert!(worst.missed() > 0);
    let sum: usize = harness
        .state()
        .review()
        .patients()
        .results()
        .iter()
        .map(|patient| patient.missed())
        .sum();
    assert_eq!(sum, all_missed.len(), "the table sums to the cell");

    harness.get_by_label(&worst.patient).click();
    harness.run_steps(3);
    let dataset = harness.state().workspace().dataset.clone().unwrap();
    let tiles = harness.state().review().tiles().to_vec();
    assert_eq!(tiles.len(), worst.missed());
    assert!(
        tiles
            .iter()
            .all(|&tile| dataset.store.patient_name(dataset.store.patch(tile)) == worst.patient)
    );
    harness.get_by_label(&format!("Only patient {}", worst.patient));
    harness.get_by_label("All patients").click();
    harness.run_steps(3);
    assert_eq!(harness.state().review().tiles(), &all_missed[..]);
}
