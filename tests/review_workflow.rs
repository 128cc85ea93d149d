//! A reader's review session, driven as a person drives it (egui_kittest): annotate a tile in
//! Patients and find it in Review of another run, judge tiles with the keys alone, undo and redo,
//! open the shortcut sheet, and compare two readers. Each test has its own small dataset and
//! runs whose predictions are written directly, so no training is needed.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::harness::wait_for;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use idc_studio::app::{ReviewFilter, StudioApp, View};
use idc_studio::dataset::PatchStore;
use idc_studio::review::{Annotation, Cell, PatchKey, ReviewState, Reviews};

struct Desk {
    home: tempfile::TempDir,
    data: PathBuf,
    store: PatchStore,
}

/// A small dataset of its own, and settings that already know the reader.
fn desk(reader: &str) -> Desk {
    let home = tempfile::tempdir().unwrap();
    let store = common::datasets::own_demo(&home.path().join("data"), 4, 60);
    let data = store.root().to_path_buf();
    std::fs::write(
        home.path().join("settings.json"),
        serde_json::json!({ "reader": reader, "advance_after_judging": true }).to_string(),
    )
    .unwrap();
    Desk { home, data, store }
}

fn run_with_predictions(desk: &Desk, name: &str) -> PathBuf {
    let root = desk.home.path().join("runs").join(name);
    common::runs::finished_run_with_predictions(&desk.store, &root);
    root
}

fn app(desk: &Desk, run: Option<PathBuf>) -> Harness<'static, StudioApp> {
    common::harness::app_at_desk(desk.home.path(), &desk.data, run)
}

fn annotations_folder(desk: &Desk) -> PathBuf {
    desk.data.join(idc_studio::review::reviews::BESIDE_DATASET)
}

fn key_of(store: &PatchStore, index: usize) -> PatchKey {
    let patch = store.patch(index);
    PatchKey {
        patient: store.patient_name(patch).to_string(),
        x: patch.x,
        y: patch.y,
    }
}

/// What is on disk, read as a fresh window would.
fn on_disk(desk: &Desk, reader: &str, index: usize) -> ReviewState {
    let (reviews, warnings) = Reviews::open(&annotations_folder(desk)).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    reviews.book(reader).state(&key_of(&desk.store, index))
}

fn flagged(harness: &Harness<'static, StudioApp>, index: usize) -> bool {
    let annotation = harness.state().workspace().annotation_of(index);
    annotation.is_some_and(|annotation| annotation.flagged)
}

fn press(harness: &mut Harness<'static, StudioApp>, key: egui::Key) {
    harness.key_press(key);
    harness.run_steps(2);
}

#[test]
fn a_tile_annotated_in_patients_shows_in_review_of_another_run() {
    let desk = desk("ana");
    let first = run_with_predictions(&desk, "run-a");
    let second = run_with_predictions(&desk, "run-b");
    let mut harness = app(&desk, Some(first));
    wait_for(&mut harness, "the first run", |app| app.workspace().run.is_some());

    // In Patients: the first patient, a test patch (so Review of either run shows it).
    harness.get_by_label("Patients").click();
    harness.run_steps(2);
    let patient = desk.store.patients()[0].clone();
    harness.get_by_label_contains(&format!("{patient}   ")).click();
    harness.run_steps(3);
    let index = harness
        .state()
        .patients()
        .shown_patches()
        .iter()
        .copied()
        .find(|index| index % 3 == 0)
        .unwrap();
    let patch = desk.store.patch(index).clone();
    let label = patch.label.name();
    harness
        .get_by_label(&format!("patch {patient} x{} y{} {label}", patch.x, patch.y))
        .click();
    harness.run_steps(2);
    harness.get_by_label("Unsure").click();
    harness.run_steps(3);
    assert_eq!(on_disk(&desk, "ana", index), ReviewState::Unsure);
    // The tile wears its judgement, and the patient counts it.
    harness.get_by_label(&format!(
        "patch {patient} x{} y{} {label}, unsure",
        patch.x, patch.y
    ));
    let of_patient = desk
        .store
        .patches()
        .iter()
        .filter(|patch| desk.store.patient_name(patch) == patient)
        .count();
    // In the patient list and above the grid.
    let shown = harness
        .query_all_by_label_contains(&format!("1 of {of_patient} reviewed"))
        .count();
    assert_eq!(shown, 2);

    // Review of the other run shows the same judgement on the same tile.
    harness.state_mut().open_run(second.clone());
    wait_for(&mut harness, "the second run", |app| {
        app.workspace()
            .run
            .as_ref()
            .is_some_and(|run| run.folder.root() == second)
    });
    assert_eq!(harness.state().view(), View::Review);
    let cell = Cell::ALL
        .into_iter()
        .find(|&cell| {
            let run = harness.state().workspace().run.as_ref().unwrap();
            run.review
                .cell_rows(cell, 0.5)
                .iter()
                .any(|&row| run.store_index[row] == Some(index))
        })
        .expect("the patch is a test patch of the second run");
    harness.state_mut().review_mut().select_cell(cell);
    harness.state_mut().review_mut().set_filter(ReviewFilter::Unsure);
    harness.run_steps(3);
    assert_eq!(harness.state().review().tiles(), &[index]);
    assert_eq!(
        harness.state().workspace().annotation_of(index).unwrap().state,
        ReviewState::Unsure
    );
    harness.get_by_label(&format!(
        "patch {patient} x{} y{} {label}, unsure",
        patch.x, patch.y
    ));
}

#[test]
fn a_reader_reviews_with_the_keys_alone_and_undoes() {
    let desk = desk("ana");
    let run = run_with_predictions(&desk, "run-a");
    let mut harness = app(&desk, Some(run));
    wait_for(&mut harness, "the run", |app| app.workspace().run.is_some());
    assert_eq!(harness.state().review().cell(), Cell::FalseNegative);
    let tiles = harness.state().review().tiles().to_vec();
    assert!(tiles.len() >= 5, "{} false negatives", tiles.len());
    let count = tiles.len();

    // A: agree, and on to the next; 0: relabel to non-IDC; N skips one; U: unsure.
    let started = Instant::now();
    press(&mut harness, egui::Key::A);
    assert_eq!(harness.state().review().current_patch(), Some(tiles[1]));
    press(&mut harness, egui::Key::Num0);
    press(&mut harness, egui::Key::ArrowRight);
    press(&mut harness, egui::Key::U);
    let per_key = started.elapsed() / 4;
    eprintln!("keys-only review: {per_key:?} of app time per key (one key per judged tile)");
    assert_eq!(on_disk(&desk, "ana", tiles[0]), ReviewState::Agree);
    assert_eq!(on_disk(&desk, "ana", tiles[1]), ReviewState::RelabelNonIdc);
    assert_eq!(on_disk(&desk, "ana", tiles[2]), ReviewState::Unreviewed);
    assert_eq!(on_disk(&desk, "ana", tiles[3]), ReviewState::Unsure);
    // On the cell's button and above its tiles.
    let shown = harness
        .query_all_by_label_contains(&format!("3 of {count} reviewed"))
        .count();
    assert_eq!(shown, 2);

    // After a judgement the view moves to the next tile without one; N does the same.
    assert_eq!(harness.state().review().current_patch(), Some(tiles[4]));
    press(&mut harness, egui::Key::N);
    let skipped = harness.state().review().current_patch().unwrap();
    assert_ne!(skipped, tiles[4]);
    assert!(!harness.state().workspace().state_of(skipped).is_reviewed());

    // A key held down flags once: its repeats do nothing.
    for repeat in [false, true, true, true] {
        harness.event(egui::Event::Key {
            key: egui::Key::F,
            physical_key: None,
            pressed: true,
            repeat,
            modifiers: egui::Modifiers::NONE,
        });
    }
    harness.run_steps(2);
    assert!(flagged(&harness, skipped));

    // Typing a note never judges: E gives the note the keyboard, Escape takes it back.
    press(&mut harness, egui::Key::E);
    harness
        .get_by_role_and_label(egui::accesskit::Role::MultilineTextInput, "Note")
        .type_text("a0u1 n");
    harness.run_steps(2);
    for key in [egui::Key::A, egui::Key::Num1, egui::Key::U] {
        harness.key_press(key);
        harness.run_steps(1);
    }
    press(&mut harness, egui::Key::Escape);
    let annotation = harness
        .state()
        .workspace()
        .annotation_of(skipped)
        .cloned()
        .unwrap();
    assert_eq!(annotation.note, "a0u1 n");
    assert_eq!(annotation.state, ReviewState::Unreviewed);

    // Undo takes back the note (one step), then the flag; redo puts the flag back. All on disk.
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    harness.run_steps(2);
    assert_eq!(
        harness.state().workspace().annotation_of(skipped).unwrap().note,
        ""
    );
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    harness.run_steps(2);
    assert!(harness.state().workspace().annotation_of(skipped).is_none());
    harness.key_press_modifiers(egui::Modifiers::COMMAND | egui::Modifiers::SHIFT, egui::Key::Z);
    harness.run_steps(2);
    assert!(flagged(&harness, skipped));
    let (reviews, _) = Reviews::open(&annotations_folder(&desk)).unwrap();
    let saved = reviews.book("ana").get(&key_of(&desk.store, skipped)).unwrap();
    assert!(saved.flagged && saved.note.is_empty());
    // Undo reaches back past the flag to the judgements.
    for _ in 0..2 {
        harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
        harness.run_steps(2);
    }
    assert_eq!(on_disk(&desk, "ana", tiles[3]), ReviewState::Unreviewed);

    // "?" opens the sheet of keys, which lists what the buttons' tooltips say.
    press(&mut harness, egui::Key::Questionmark);
    assert!(harness.state().shortcuts_shown());
    harness.get_by_label("Keyboard shortcuts");
    harness.get_by_label("Ctrl+Shift+Z");
    harness.get_by_label("next patch you have not reviewed");
    press(&mut harness, egui::Key::Questionmark);
    assert!(!harness.state().shortcuts_shown());

    // Reopened, Review goes on where the reader stopped.
    let place = harness.state().review().current_patch();
    assert!(harness.state().flush_writes(Duration::from_secs(10)));
    drop(harness);
    let mut again = app(&desk, Some(desk.home.path().join("runs/run-a")));
    wait_for(&mut again, "the run", |app| app.workspace().run.is_some());
    assert_eq!(again.state().review().current_patch(), place);
}

#[test]
fn two_readers_disagree_and_the_readers_panel_shows_it() {
    let desk = desk("ana");
    let run = run_with_predictions(&desk, "run-a");
    let mut harness = app(&desk, Some(run));
    wait_for(&mut harness, "the run", |app| app.workspace().run.is_some());
    let tiles = harness.state().review().tiles().to_vec();
    // Ana judges four false negatives with the keys.
    for key in [egui::Key::A, egui::Key::A, egui::Key::Num0, egui::Key::A] {
        press(&mut harness, key);
    }
    // Bo, in another window, judges the same four: two the same, two not.
    let (mut bo, _) = Reviews::open(&annotations_folder(&desk)).unwrap();
    for (position, state) in [
        ReviewState::Agree,
        ReviewState::RelabelNonIdc,
        ReviewState::RelabelNonIdc,
        ReviewState::Unsure,
    ]
    .into_iter()
    .enumerate()
    {
        let patch = desk.store.patch(tiles[position]);
        let mut annotation = Annotation::blank(
            &key_of(&desk.store, tiles[position]),
            patch.path.clone(),
            patch.label,
            "bo",
        );
        annotation.state = state;
        bo.record(annotation).unwrap();
    }
    wait_for(&mut harness, "Bo's annotations", |app| {
        app.review()
            .readers()
            .agreement()
            .is_some_and(|agreement| agreement.both_judged() == 4)
    });
    let agreement = harness.state().review().readers().agreement().unwrap().clone();
    assert_eq!(agreement.disagreements.len(), 2);
    // Ana: IDC, IDC, non-IDC, IDC; Bo: IDC, non-IDC, non-IDC, unsure.
    // observed 2/4; chance: 0.75*0.25 + 0.25*0.5 = 0.3125; kappa = (0.5-0.3125)/0.6875.
    let kappa = (0.5 - 0.3125) / 0.6875;
    harness.get_by_label(&format!("Cohen's kappa {kappa:.3}"));
    harness.get_by_label("50.0% agreement on 4 patches both judged");
    harness.get_by_label("Show the 2 disagreements").click();
    harness.run_steps(3);
    assert_eq!(harness.state().review().filter(), ReviewFilter::Disagreements);
    assert_eq!(harness.state().review().tiles(), &[tiles[1], tiles[3]]);
    // Scored against Ana's labels, her relabelled false negative is a true negative.
    let before = harness
        .state()
        .workspace()
        .run
        .as_ref()
        .unwrap()
        .review
        .matrix(0.5);
    let combo = egui::accesskit::Role::ComboBox;
    harness.get_by_role_and_label(combo, "Scored against").click();
    harness.run_steps(2);
    harness.get_by_label("ana's reviewed labels").click();
    harness.run_steps(3);
    let run = harness.state().workspace().run.as_ref().unwrap();
    let after = run.review.matrix(0.5);
    assert_eq!((after.fn_, after.tn), (before.fn_ - 1, before.tn + 1));
    harness.get_by_label_contains("scored against ana's reviewed labels");
    // The consensus leaves out the two disputed patches.
    harness.get_by_role_and_label(combo, "Scored against").click();
    harness.run_steps(2);
    harness
        .get_by_label("reviewed labels (all readers' consensus)")
        .click();
    harness.run_steps(3);
    let run = harness.state().workspace().run.as_ref().unwrap();
    assert_eq!(run.left_out, 2);
    harness.get_by_label_contains("(2 left out: unsure or disputed)");

    // Neither reader's file was written by the other.
    let folder = annotations_folder(&desk);
    for (file, reader) in [("ana.jsonl", "\"ana\""), ("bo.jsonl", "\"bo\"")] {
        let text = std::fs::read_to_string(folder.join(file)).unwrap();
        assert!(
            text.lines()
                .all(|line| line.contains(&format!("\"reviewer\":{reader}"))),
            "{text}"
        );
    }
}

#[test]
fn a_damaged_annotations_file_is_refused_by_name_and_kept() {
    let desk = desk("ana");
    let folder = annotations_folder(&desk);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("ana.jsonl"), "{\"set\": 12}\n").unwrap();
    let harness = app(&desk, None);
    let errors: Vec<String> = harness
        .state()
        .workspace()
        .notices
        .iter()
        .filter(|notice| notice.is_error)
        .map(|notice| notice.text.clone())
        .collect();
    assert!(
        errors
            .iter()
            .any(|error| error.contains("ana.jsonl: line 1 is damaged") && error.contains("kept as")),
        "{errors:?}"
    );
    let kept: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("ana.jsonl.unreadable-"))
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        std::fs::read_to_string(folder.join(&kept[0])).unwrap(),
        "{\"set\": 12}\n"
    );
}

#[test]
fn every_button_tile_and_cell_has_a_name_for_screen_readers() {
    use egui::accesskit::Role;
    use egui_kittest::kittest::NodeT;
    let desk = desk("ana");
    let run = run_with_predictions(&desk, "run-a");
    let mut harness = app(&desk, Some(run));
    wait_for(&mut harness, "the run", |app| app.workspace().run.is_some());
    press(&mut harness, egui::Key::A);
    let mut named = 0;
    for role in [
        Role::Button,
        Role::CheckBox,
        Role::ComboBox,
        Role::Image,
        Role::Slider,
    ] {
        for node in harness.query_all_by_role(role) {
            let label = node.accesskit_node().label().unwrap_or_default();
            assert!(!label.trim().is_empty(), "a {role:?} without a name: {node:?}");
            named += 1;
        }
    }
    assert!(named > 40, "{named} named widgets");
    // A cell says what it holds and how far the reader is; a judged tile says its judgement.
    let count = harness.state().review().tiles().len();
    let cell = harness
        .query_all_by_role(Role::Button)
        .filter_map(|node| node.accesskit_node().label())
        .find(|label| label.starts_with("False negatives (FN)"))
        .unwrap();
    assert!(
        cell.ends_with(&format!("% of IDC\n1 of {count} reviewed")),
        "{cell}"
    );
    assert_eq!(
        harness
            .query_all_by_label_contains(", agree with the label")
            .filter(|node| node.accesskit_node().role() == Role::Image)
            .count(),
        1
    );
}

#[test]
fn review_opens_at_the_threshold_saved_with_the_run_and_saves_a_new_one() {
    use idc_studio::training::{RunFolder, SavedThreshold};
    let desk = desk("ana");
    let root = run_with_predictions(&desk, "run-a");
    RunFolder::open(&root)
        .unwrap()
        .write_threshold(&SavedThreshold::now(0.1, Some("bo".into())))
        .unwrap();
    let mut harness = app(&desk, Some(root.clone()));
    wait_for(&mut harness, "the run", |app| app.workspace().run.is_some());
    assert_eq!(harness.state().view(), View::Review);
    assert_eq!(harness.state().review().threshold, 0.1);
    harness.get_by_label("saved with the run");

    // Back to 0.5: the reader settled on it, so it is saved with the run, under their name.
    harness.get_by_label("0.5").click();
    harness.run_steps(3);
    assert!(harness.state().flush_writes(Duration::from_secs(10)));
    let saved = RunFolder::open(&root).unwrap().read_threshold().unwrap().unwrap();
    assert_eq!((saved.threshold, saved.reader.as_deref()), (0.5, Some("ana")));
    harness.get_by_label("saved with the run");
}

#[test]
fn more_like_this_lists_the_most_alike_patches_and_goes_back_to_the_cell() {
    use burn::prelude::*;
    use idc_studio::model::CancerNet;
    let desk = desk("ana");
    let root = run_with_predictions(&desk, "run-a");
    CancerNet::new(&Device::flex())
        .save_file(root.join("model.bpk"))
        .unwrap();
    let mut harness = app(&desk, Some(root.clone()));
    wait_for(&mut harness, "the run", |app| app.workspace().run.is_some());
    let cell_tiles = harness.state().review().tiles().to_vec();
    let start = harness.state().review().current_patch().unwrap();

    harness.get_by_label("More like this").click();
    wait_for(&mut harness, "the patches alike", |app| {
        app.review().alike().is_some()
    });
    let list = harness.state().review().alike().unwrap().clone();
    assert_eq!(list.of, start);
    assert_eq!(list.tiles.len(), 48.min(desk.store.len() - 1));
    assert!(
        !list.tiles.contains(&start),
        "a patch is not listed as like itself"
    );
    assert!(
        list.similarities.windows(2).all(|pair| pair[0] >= pair[1]),
        "most alike first"
    );
    assert_eq!(harness.state().review().tiles(), &list.tiles[..]);
    harness.get_by_label_contains("the 48 most alike in the dataset");
    assert!(
        root.join("embeddings.bin").is_file(),
        "the embeddings are kept with the run"
    );

    harness.get_by_label("Back to False negatives").click();
    harness.run_steps(3);
    assert!(harness.state().review().alike().is_none());
    assert_eq!(harness.state().review().tiles(), &cell_tiles[..]);
    assert_eq!(harness.state().review().current_patch(), Some(start));
}
