//! The desktop app driven like a person drives it (egui_kittest): open the demo dataset, pick a
//! patient, look at the slide, train, watch the plots, review the false negatives with the
//! keyboard, annotate, find the annotation beside the dataset, and train on it.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use idc_studio::app::{LaunchOptions, Phase, StudioApp, View};
use idc_studio::review::Cell;

/// A fresh app whose settings, runs and demo dataset live in `home`.
fn app_in(home: &Path, restore_last: bool) -> Harness<'static, StudioApp> {
    let options = LaunchOptions {
        settings_path: Some(home.join("settings.json")),
        runs_folder: Some(home.join("runs")),
        demo_dir: Some(common::datasets::small_demo().root.clone()),
        restore_last,
        ..LaunchOptions::default()
    };
    let app = StudioApp::new(options).unwrap();
    Harness::builder()
        .with_size([1500.0, 950.0])
        .build_ui_state(|ui, app: &mut StudioApp| app.show(ui), app)
}

/// Runs frames until `done` holds, as a person waits for the app; fails after `limit`.
fn wait_for(
    harness: &mut Harness<'static, StudioApp>,
    what: &str,
    limit: Duration,
    done: impl Fn(&StudioApp) -> bool,
) {
    let start = Instant::now();
    while !done(harness.state()) {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    harness.run_steps(3);
}

fn open_demo(harness: &mut Harness<'static, StudioApp>) {
    harness.run_steps(2);
    harness.get_by_label("Use demo dataset").click();
    wait_for(harness, "the demo dataset", Duration::from_secs(60), |app| {
        app.workspace().dataset.is_some() && !app.is_loading()
    });
}

/// The folder of the run open in the app.
fn open_run_folder(harness: &Harness<'static, StudioApp>) -> PathBuf {
    let run = harness.state().workspace().run.as_ref().unwrap();
    run.folder.root().to_path_buf()
}

fn patient_names() -> Vec<String> {
    common::datasets::small_demo().store.patients().to_vec()
}

#[test]
fn a_person_opens_the_demo_picks_a_patient_and_sees_the_slide() {
    let home = tempfile::tempdir().unwrap();
    let mut harness = app_in(home.path(), false);
    open_demo(&mut harness);
    assert_eq!(harness.state().view(), View::Patients);
    harness.get_by_label("6 patients");

    let patient = &patient_names()[2];
    harness.get_by_label_contains(&format!("{patient}   ")).click();
    harness.run_steps(3);
    let store = &common::datasets::small_demo().store;
    let of_patient = store
        .patches()
        .iter()
        .filter(|patch| store.patient_name(patch) == patient)
        .count();
    let shown = harness.state().patients().shown_patches().to_vec();
    assert_eq!(
        shown.len(),
        of_patient,
        "all of the patient's patches are in the grid"
    );
    let tiles = harness
        .query_all_by_label_contains(&format!("patch {patient} "))
        .count();
    assert!(
        tiles > 10,
        "the grid shows the patient's tiles ({tiles} on screen)"
    );

    // Only IDC tiles once filtered.
    harness.get_by_label("IDC only").click();
    harness.run_steps(3);
    let idc = harness.state().patients().shown_patches().to_vec();
    assert!(!idc.is_empty() && idc.len() < of_patient);
    assert!(
        idc.iter()
            .all(|&index| store.patch(index).label == idc_studio::dataset::Label::Idc)
    );

    // A click on a tile shows it large with its position.
    let first = store.patch(idc[0]);
    harness
        .get_by_label(&format!("patch {patient} x{} y{} IDC", first.x, first.y))
        .click();
    harness.run_steps(3);
    assert_eq!(harness.state().patients().selected_patch(), Some(idc[0]));
    harness.get_by_label(&format!("x {}, y {}", first.x, first.y));

    harness.get_by_label("Show on slide").click();
    wait_for(&mut harness, "the slide", Duration::from_secs(30), |app| {
        app.patients().slide_is_ready()
    });
    harness.get_by_label("IDC regions (ground truth)");

    // The dataset is remembered: the next launch reopens it by itself.
    assert!(harness.state().flush_writes(Duration::from_secs(10)));
    drop(harness);
    let settings = std::fs::read_to_string(home.path().join("settings.json")).unwrap();
    assert!(
        settings.contains(&common::datasets::small_demo().root.display().to_string()),
        "{settings}"
    );
    let mut again = app_in(home.path(), true);
    wait_for(
        &mut again,
        "the last dataset to reopen",
        Duration::from_secs(60),
        |app| app.workspace().dataset.is_some() && !app.is_loading(),
    );
}

#[test]
fn a_person_trains_reviews_the_false_negatives_and_annotates_them() {
    let home = tempfile::tempdir().unwrap();
    let mut harness = app_in(home.path(), false);
    open_demo(&mut harness);

    harness.get_by_label("Training").click();
    harness.run_steps(2);
    // The form as a person would set it for a quick look: one short epoch on the CPU.
    {
        let form = harness.state_mut().training_mut().form_mut();
        form.epochs = 1;
        form.batch_size = 16;
        form.device = idc_studio::model::DeviceChoice::Cpu;
    }
    harness.get_by_label("Start training").click();
    wait_for(
        &mut harness,
        "live training batches",
        Duration::from_secs(120),
        |app| app.training().monitor().batch_reports >= 3,
    );
    let plotted = harness.state().training().monitor().train_loss.points().len();
    assert!(
        plotted >= 3,
        "the loss plot grows batch by batch ({plotted} points)"
    );
    harness.get_by_label_contains("images/s");

    wait_for(
        &mut harness,
        "the finished run in Review",
        Duration::from_secs(300),
        |app| app.view() == View::Review && app.workspace().run.is_some(),
    );
    assert!(matches!(
        harness.state().training().monitor().phase,
        Phase::Finished { .. }
    ));
    let run_dir = open_run_folder(&harness);
    assert!(run_dir.starts_with(home.path().join("runs")));
    harness.get_by_label_contains("True positives (TP)");
    harness.get_by_label("ROC AUC");

    // At threshold 1 every IDC patch is missed: the false-negative cell holds them all.
    harness
        .get_by_role_and_label(egui::accesskit::Role::Slider, "Threshold")
        .set_value_accesskit(1.0);
    harness.run_steps(3);
    let run = harness.state().workspace().run.as_ref().unwrap();
    let idc_in_test = run
        .review
        .rows()
        .iter()
        .filter(|row| row.label == idc_studio::dataset::Label::Idc)
        .count();
    assert!(idc_in_test >= 2, "the test part has IDC patches");
    harness.get_by_label_contains("True negatives (TN)").click();
    harness.run_steps(2);
    assert_eq!(harness.state().review().cell(), Cell::TrueNegative);
    harness.get_by_label_contains("False negatives (FN)").click();
    harness.run_steps(3);
    assert_eq!(harness.state().review().cell(), Cell::FalseNegative);
    assert_eq!(harness.state().review().tiles().len(), idc_in_test);

    // Arrow keys step through the cell, the large view following.
    let tiles = harness.state().review().tiles().to_vec();
    assert_eq!(harness.state().review().current_patch(), Some(tiles[0]));
    harness.key_press(egui::Key::ArrowRight);
    harness.run_steps(2);
    assert_eq!(harness.state().review().current_patch(), Some(tiles[1]));
    harness.get_by_label(&format!("2 of {}", tiles.len()));
    harness.key_press(egui::Key::ArrowLeft);
    harness.key_press(egui::Key::ArrowRight);
    harness.run_steps(2);
    assert_eq!(harness.state().review().current_patch(), Some(tiles[1]));

    // Annotate the tile. The app asks who is reading, once; the flag waits for the name.
    let store = &harness
        .state()
        .workspace()
        .dataset
        .as_ref()
        .unwrap()
        .store
        .clone();
    let patch = store.patch(tiles[1]).clone();
    let image_before = std::fs::read(&patch.path).unwrap();
    harness.get_by_label("Flag").click();
    harness.run_steps(2);
    let name = harness.get_by_label("Your name");
    name.focus();
    name.type_text("Dr Ana");
    harness.run_steps(1);
    harness.get_by_label("Start reading").click();
    harness.run_steps(2);
    // The flag asked for before the name is applied once it is given, not dropped.
    assert!(
        harness
            .state()
            .workspace()
            .annotation_of(tiles[1])
            .is_some_and(|annotation| annotation.flagged),
        "the first click counts"
    );
    let note = harness.get_by_role_and_label(egui::accesskit::Role::MultilineTextInput, "Note");
    note.click();
    harness.run_steps(1);
    let note = harness.get_by_role_and_label(egui::accesskit::Role::MultilineTextInput, "Note");
    note.type_text("looks like stroma, not carcinoma");
    harness.run_steps(3);
    harness.get_by_label("Relabel 0").click();
    harness.run_steps(3);

    // The annotation is on disk beside the dataset, in Dr Ana's own file, with what she saw.
    let dataset_root = store.root().to_path_buf();
    let folder = dataset_root.join(idc_studio::review::reviews::BESIDE_DATASET);
    assert!(folder.join("Dr_Ana.jsonl").is_file());
    let (reviews, warnings) = idc_studio::review::Reviews::open(&folder).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let key = idc_studio::review::PatchKey {
        patient: store.patient_name(&patch).to_string(),
        x: patch.x,
        y: patch.y,
    };
    let saved = reviews.book("Dr Ana").get(&key).cloned().unwrap();
    assert_eq!(saved.state, idc_studio::review::ReviewState::RelabelNonIdc);
    assert!(saved.flagged);
    assert_eq!(saved.note, "looks like stroma, not carcinoma");
    assert_eq!(saved.reviewer, "Dr Ana");
    let run_name = run_dir.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(saved.run.as_deref(), Some(run_name.as_str()));
    assert!(saved.prob_idc.is_some_and(|prob| prob < 1.0));
    assert_eq!(
        std::fs::read(&patch.path).unwrap(),
        image_before,
        "a relabel never touches the image"
    );

    // Only the relabelled tiles, then the cell's progress.
    harness
        .state_mut()
        .review_mut()
        .set_filter(idc_studio::app::ReviewFilter::Relabelled);
    harness.run_steps(3);
    assert_eq!(harness.state().review().tiles(), &[tiles[1]]);
    harness.get_by_label_contains(&format!("1 of {} reviewed", tiles.len()));

    // "Open on slide" takes the tile to its patient's slide, where its badge shows.
    harness.get_by_label("Open on slide").click();
    harness.run_steps(3);
    assert_eq!(harness.state().view(), View::Patients);
    assert_eq!(harness.state().patients().selected_patch(), Some(tiles[1]));
    // The "Patches" tab (the list's "Patches" sort comes first).
    harness.query_all_by_label("Patches").last().unwrap().click();
    harness.run_steps(3);
    harness.get_by_label(&format!(
        "patch {} x{} y{} IDC, relabel to non-IDC (0), flagged",
        key.patient, patch.x, patch.y
    ));

    // The next run trains on the reviewed labels: the relabel counts, and the patch has its
    // new label.
    harness.get_by_label("Training").click();
    harness.run_steps(2);
    harness.state_mut().training_mut().form_mut().labels = idc_studio::dataset::LabelSource::Reviewed {
        reader: Some("Dr Ana".into()),
    };
    harness.get_by_label("Start training").click();
    wait_for(
        &mut harness,
        "the second run in Review",
        Duration::from_secs(300),
        |app| {
            app.view() == View::Review
                && app
                    .workspace()
                    .run
                    .as_ref()
                    .is_some_and(|run| run.folder.root() != run_dir)
        },
    );
    let second = open_run_folder(&harness);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(second.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["config"]["labels"], "reviewed:Dr Ana");
    assert_eq!(config["label_changes"]["relabelled"], 1);
    assert_eq!(config["label_changes"]["left_out"], 0);
    let split = std::fs::read_to_string(second.join("split.csv")).unwrap();
    let row = split
        .lines()
        .find(|line| line.starts_with(&format!("{},{},{},", key.patient, patch.x, patch.y)))
        .unwrap();
    assert!(
        row.starts_with(&format!("{},{},{},0,", key.patient, patch.x, patch.y)),
        "{row}"
    );

    // Reopening the first run brings the annotation back, in Review of any run.
    assert!(harness.state().flush_writes(Duration::from_secs(10)));
    let mut again = app_in(home.path(), false);
    again.state_mut().open_run(run_dir.clone());
    wait_for(&mut again, "the run to reopen", Duration::from_secs(60), |app| {
        app.workspace().run.is_some() && !app.is_loading()
    });
    let annotation = again
        .state()
        .workspace()
        .annotation_of(tiles[1])
        .cloned()
        .unwrap();
    assert_eq!(annotation.note, "looks like stroma, not carcinoma");
}

#[test]
fn a_run_folder_that_is_not_a_run_is_reported_by_name() {
    let home = tempfile::tempdir().unwrap();
    let mut harness = app_in(home.path(), false);
    let bogus: PathBuf = home.path().join("not-a-run");
    std::fs::create_dir_all(&bogus).unwrap();
    harness.state_mut().open_run(bogus.clone());
    harness.run_steps(3);
    let notice = harness.state().workspace().notices.last().cloned().unwrap();
    assert!(notice.is_error && notice.text.contains("not-a-run"), "{notice:?}");
    harness.get_by_label_contains("not a run folder");
}

#[test]
fn a_run_whose_dataset_is_gone_is_reported_once_and_let_go() {
    let home = tempfile::tempdir().unwrap();
    let run = home.path().join("run-gone");
    let folder = idc_studio::training::RunFolder::new(&run);
    folder.create().unwrap();
    let gone = home.path().join("deleted-dataset");
    folder.write_info(&common::runs::run_info(&gone)).unwrap();
    let mut harness = app_in(home.path(), false);
    harness.state_mut().open_run(run);
    harness.run_steps(2);
    wait_for(&mut harness, "the failed open", Duration::from_secs(30), |app| {
        !app.is_loading()
    });
    harness.run_steps(5);
    let errors: Vec<_> = harness
        .state()
        .workspace()
        .notices
        .iter()
        .filter(|notice| notice.is_error)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].text.contains("deleted-dataset"), "{errors:?}");
    assert!(harness.state().workspace().run.is_none());
}

#[test]
fn the_help_menu_keeps_every_message_and_says_where_things_live() {
    let home = tempfile::tempdir().unwrap();
    let mut harness = app_in(home.path(), false);
    wait_for(
        &mut harness,
        "the device probe",
        Duration::from_secs(120),
        |app| app.training().found_device().is_some(),
    );
    // Without a GPU driver the app says it will train on the CPU, and why.
    let no_gpu = idc_studio::model::device::why_no_gpu();
    let said = harness.state().workspace().notices.iter().any(|notice| {
        notice
            .text
            .starts_with("No GPU was found, so training will run on the CPU")
    });
    assert_eq!(said, no_gpu.is_some(), "{no_gpu:?}");

    // Two messages later, the panel still has the first.
    harness.state_mut().open_run(home.path().join("no-such-run"));
    harness.run_steps(3);
    // The status bar's button opens the panel (Help > Messages does too).
    harness.get_by_label_contains("Messages (").click();
    harness.run_steps(2);
    let count = harness.state().workspace().notices.len();
    assert!(count >= 1);
    harness.get_by_label_contains("since the app started, newest first");
    // In the panel and in the status bar.
    assert_eq!(harness.query_all_by_label_contains("no-such-run").count(), 2);
    harness.get_by_label_contains("Messages (").click();
    harness.run_steps(2);

    harness.get_by_label("Help").click();
    harness.run_steps(2);
    harness.get_by_label("About idc-studio").click();
    harness.run_steps(2);
    harness.get_by_label(&format!("idc-studio {}", env!("CARGO_PKG_VERSION")));
    harness.get_by_label("Device");
    harness.get_by_label(&home.path().join("runs").display().to_string());
    harness.get_by_label(&home.path().join("settings.json").display().to_string());
    harness.get_by_label("Logs");

    // View > Theme: dark, remembered.
    harness.get_by_label("View").click();
    harness.run_steps(2);
    harness.get_by_label("dark").click();
    harness.run_steps(2);
    assert_eq!(
        harness.state().workspace().settings.theme,
        idc_studio::app::Theme::Dark
    );
    assert_eq!(harness.ctx.theme(), egui::Theme::Dark);
    assert!(harness.state().flush_writes(Duration::from_secs(10)));
    let saved = std::fs::read_to_string(home.path().join("settings.json")).unwrap();
    assert!(saved.contains("\"theme\": \"dark\""), "{saved}");
}
