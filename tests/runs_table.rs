//! The runs of a folder side by side in the Training view, as a person compares them (egui_kittest):
//! the settings that differ, sorting by a score, and the validation curves of ticked runs laid
//! over each other. The runs' files are written directly, so no training is needed.

mod common;

use std::path::Path;
use std::time::Instant;

use common::harness::wait_for;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use idc_studio::app::{LaunchOptions, StudioApp};
use idc_studio::dataset::PatchStore;
use idc_studio::metrics::Metrics;
use idc_studio::training::{EpochMetrics, RunFolder, list_runs};

/// A finished run named `name` whose test AUC is `auc`, trained for `epochs` epochs.
fn finished_run(store: &PatchStore, root: &Path, epochs: usize, auc: f64) {
    common::runs::finished_run_with_predictions(store, root);
    let run = RunFolder::open(root).unwrap();
    let mut info = run.read_info().unwrap();
    info.config.epochs = epochs;
    info.device = Some("CPU (burn flex, 2 threads)".into());
    run.write_info(&info).unwrap();
    let log: Vec<EpochMetrics> = (1..=epochs)
        .map(|epoch| EpochMetrics {
            epoch,
            train_loss: 0.5 / epoch as f64,
            train_accuracy: 0.8,
            validation_loss: 0.6 / epoch as f64,
            validation_accuracy: 0.7 + 0.01 * epoch as f64,
            images_per_sec: 1000.0,
            seconds: 30.0,
        })
        .collect();
    run.write_epochs(&log).unwrap();
    let mut metrics = Metrics::from_probabilities(
        &[
            idc_studio::dataset::Label::Idc,
            idc_studio::dataset::Label::NonIdc,
        ],
        &[0.9, 0.1],
        0.5,
    );
    metrics.roc_auc = Some(auc);
    run.write_metrics(&metrics).unwrap();
}

fn app(home: &Path, data: &Path) -> Harness<'static, StudioApp> {
    let options = LaunchOptions {
        data: Some(data.to_path_buf()),
        settings_path: Some(home.join("settings.json")),
        runs_folder: Some(home.join("runs")),
        ..LaunchOptions::default()
    };
    let app = StudioApp::new(options).unwrap();
    Harness::builder()
        .with_size([1500.0, 1100.0])
        .build_ui_state(|ui, app: &mut StudioApp| app.show(ui), app)
}

#[test]
fn runs_side_by_side_sort_by_auc_and_overlay_their_curves() {
    let home = tempfile::tempdir().unwrap();
    let store = common::datasets::own_demo(&home.path().join("data"), 3, 40);
    let runs = home.path().join("runs");
    finished_run(&store, &runs.join("run-20261201-090000"), 3, 0.91);
    finished_run(&store, &runs.join("run-20261202-090000"), 5, 0.97);
    finished_run(&store, &runs.join("run-20261203-090000"), 4, 0.85);

    let mut harness = app(home.path(), store.root());
    harness.get_by_label("Training").click();
    wait_for(&mut harness, "the dataset and the runs", |app| {
        app.workspace().dataset.is_some() && !app.is_loading() && app.training().runs().len() == 3
    });

    // No run's curves are open yet: the plots' place says what will show there, not empty axes.
    harness.get_by_label_contains("Loss and accuracy plot here");

    // Only the epochs differ between these runs, so only they are shown, with each run's own.
    harness.get_by_label("epochs=5");
    harness.get_by_label("epochs=3");
    assert!(
        harness.query_by_label_contains("seed=").is_none(),
        "settings alike are hidden"
    );
    harness.get_by_label("Only settings that differ").click();
    harness.run_steps(2);
    assert!(harness.query_all_by_label_contains("seed=42").count() == 3);

    // Sorted by AUC, best first.
    harness.get_by_label("AUC").click();
    harness.run_steps(2);
    let top = |harness: &Harness<'static, StudioApp>, name: &str| harness.get_by_label(name).rect().top();
    let order = [
        top(&harness, "run-20261202-090000"),
        top(&harness, "run-20261201-090000"),
        top(&harness, "run-20261203-090000"),
    ];
    assert!(
        order[0] < order[1] && order[1] < order[2],
        "AUC 0.97, 0.91, 0.85 from the top: {order:?}"
    );
    harness.get_by_label("0.970");

    // Two runs ticked: their validation curves overlay, each named in the legend.
    harness.get_by_label("compare run-20261201-090000").click();
    harness.get_by_label("compare run-20261203-090000").click();
    harness.run_steps(3);
    harness.get_by_label("Validation curves of 2 runs");
}

#[test]
fn a_folder_of_fifty_runs_is_listed_and_drawn() {
    let home = tempfile::tempdir().unwrap();
    let store = common::datasets::own_demo(&home.path().join("data"), 3, 40);
    let runs = home.path().join("runs");
    for day in 0..50 {
        finished_run(
            &store,
            &runs.join(format!("run-202611{:02}-{:06}", 1 + day % 28, day)),
            1 + day % 7,
            0.8,
        );
    }
    let started = Instant::now();
    let listed = list_runs(&runs);
    let list_time = started.elapsed();
    assert_eq!(listed.len(), 50);

    let mut harness = app(home.path(), store.root());
    harness.get_by_label("Training").click();
    let started = Instant::now();
    wait_for(&mut harness, "the dataset and the runs", |app| {
        app.workspace().dataset.is_some() && !app.is_loading() && app.training().runs().len() == 50
    });
    // Newest first; the rows below the table's height are drawn as it scrolls.
    harness.get_by_label("run-20261128-000027");
    eprintln!(
        "50 runs: listed in {:.1} ms, listed and drawn in the app in {:.1} ms",
        list_time.as_secs_f64() * 1e3,
        started.elapsed().as_secs_f64() * 1e3
    );
}
