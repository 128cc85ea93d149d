//! A reader brings another model's predictions in: a CSV keyed by path and one keyed by patient
//! and position give the same run, bad rows are refused by line with nothing written, embeddings
//! make "More like this" work, and the imported run opens in Review.

mod common;

use std::path::{Path, PathBuf};

use common::binary::{idc_studio, text};
use common::harness::{app_at_desk, wait_for};
use egui_kittest::kittest::Queryable;
use idc_studio::dataset::{Label, PatchStore};
use idc_studio::metrics::Metrics;

/// A made-up model's P(IDC) for patch `index`: mostly right, sometimes confidently wrong, and
/// never exactly on the 0.5 threshold.
fn made_up_prob_idc(store: &PatchStore, index: usize) -> f32 {
    let patch = store.patch(index);
    let wobble = ((index * 7919) % 97) as f32 / 97.0;
    let leaning = if patch.label == Label::Idc { 0.62 } else { 0.12 };
    let wrong = index.is_multiple_of(11);
    let p = if wrong { 0.9 - leaning } else { leaning } + 0.3 * wobble;
    p.clamp(0.01, 0.99) + 0.0013
}

/// The patch split's test part: every fifth patch; the rest train or validate.
fn part_of(index: usize) -> &'static str {
    match index % 10 {
        0 | 5 => "test",
        3 => "validation",
        _ => "train",
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn import(data: &Path, predictions: &Path, runs: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "import-predictions",
        "--data",
        data.to_str().unwrap(),
        "--predictions",
        predictions.to_str().unwrap(),
        "--runs",
        runs.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    idc_studio(&args)
}

fn metrics_of(run: &Path) -> Metrics {
    serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap()
}

struct Imported {
    home: tempfile::TempDir,
    data: PathBuf,
    store: PatchStore,
}

fn dataset() -> Imported {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let store = common::datasets::own_demo(&data, 4, 60);
    Imported { home, data, store }
}

#[test]
fn predictions_keyed_by_path_or_by_patient_and_position_give_the_matrix_computed_directly() {
    let Imported { home, data, store } = dataset();
    let runs = home.path().join("runs");
    let by_path = home.path().join("by_path.csv");
    let by_position = home.path().join("by_position.csv");
    let mut path_rows = String::from("path,prob_idc,part\n");
    // Written as cleanlab writes its pred_probs, in another order, with spaces and upper case.
    let mut position_rows = String::from("Patient, X, Y, pred_probs_0, pred_probs_1, part\n");
    for index in (0..store.len()).rev() {
        let patch = store.patch(index);
        let p = made_up_prob_idc(&store, index);
        path_rows += &format!("{},{p},{}\n", patch.path.display(), part_of(index));
        position_rows += &format!(
            "{}, {}, {}, {}, {p}, {}\n",
            store.patient_name(patch),
            patch.x,
            patch.y,
            1.0 - p,
            part_of(index)
        );
    }
    write(&by_path, &path_rows);
    write(&by_position, &position_rows);
    for (file, name) in [(&by_path, "by-path"), (&by_position, "by-position")] {
        let output = import(&data, file, &runs, &["--name", name]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert!(
            text(&output.stdout).contains("no embeddings given"),
            "{}",
            text(&output.stdout)
        );
    }

    // The matrix at 0.5, counted here from the labels and the made-up probabilities.
    let mut matrix = [[0usize; 2]; 2];
    let test: Vec<usize> = (0..store.len())
        .filter(|&index| part_of(index) == "test")
        .collect();
    for &index in &test {
        let predicted = usize::from(made_up_prob_idc(&store, index) >= 0.5);
        matrix[store.patch(index).label.index()][predicted] += 1;
    }
    assert!(
        matrix[1][0] > 0 && matrix[0][1] > 0,
        "some of each mistake: {matrix:?}"
    );
    let [path_metrics, position_metrics] =
        ["by-path", "by-position"].map(|name| metrics_of(&runs.join(name)));
    assert_eq!(path_metrics.confusion, matrix);
    assert_eq!(position_metrics.confusion, matrix);
    assert_eq!(path_metrics.patches, test.len());
    assert!(path_metrics.calibration.is_some());

    // The run reads as a run: eval scores it, marked as imported, with its parts in split.csv.
    let run = runs.join("by-path");
    let eval = idc_studio(&["eval", run.to_str().unwrap()]);
    assert!(eval.status.success(), "{}", text(&eval.stderr));
    let validation_patches = (0..store.len())
        .filter(|&index| part_of(index) == "validation")
        .count();
    assert!(
        text(&eval.stdout).contains(&format!(
            "temperature scaling (fitted on {validation_patches} validation patches, not applied above)"
        )),
        "{}",
        text(&eval.stdout)
    );
    let split = std::fs::read_to_string(run.join("split.csv")).unwrap();
    assert_eq!(split.lines().count(), store.len() + 1);
    assert_eq!(
        split.lines().filter(|line| line.ends_with(",test")).count(),
        test.len()
    );
    let config = std::fs::read_to_string(run.join("config.json")).unwrap();
    assert!(config.contains("imported (no model)"), "{config}");
    let validation = std::fs::read_to_string(run.join("part_predictions.csv")).unwrap();
    assert_eq!(
        validation
            .lines()
            .filter(|line| line.starts_with("validation,"))
            .count(),
        validation_patches
    );

    // Without embeddings "More like this" says why it cannot.
    let similar = idc_studio(&[
        "similar",
        run.to_str().unwrap(),
        "--patch",
        store.patch(0).path.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(!similar.status.success());
    assert!(
        text(&similar.stderr).contains("imported without embeddings"),
        "{}",
        text(&similar.stderr)
    );
}

#[test]
fn bad_rows_are_named_by_line_and_nothing_is_written() {
    let Imported { home, data, store } = dataset();
    let runs = home.path().join("runs");
    let name = |index: usize| {
        let patch = store.patch(index);
        format!("{},{},{}", store.patient_name(patch), patch.x, patch.y)
    };
    let bad = home.path().join("bad.csv");
    write(
        &bad,
        &format!(
            "patient,x,y,prob_idc\n{}\n{}\nnobody,1,1,0.4\n{},0.2\n{}\n{},1.5\n{},abc\n",
            name(0) + ",0.3",
            name(1) + ",0.7",
            name(0),
            name(2) + ",0.1",
            name(3),
            name(4)
        ),
    );
    let output = import(&data, &bad, &runs, &["--name", "bad"]);
    assert!(!output.status.success());
    let message = text(&output.stderr);
    for expected in [
        "4 of its rows cannot be imported, and nothing was written",
        "line 4: patient nobody x1 y1 is not a patch of the dataset",
        "line 5: the same patch as line 2",
        "line 7: prob_idc 1.5 is not between 0 and 1",
        "line 8: prob_idc 'abc' is not a number",
    ] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
    assert!(!runs.join("bad").exists());
    assert!(
        std::fs::read_dir(&runs).map_or(true, |mut entries| entries.next().is_none()),
        "no half-written folder is left"
    );

    let not_summing = home.path().join("not_summing.csv");
    write(
        &not_summing,
        &format!(
            "patient,x,y,pred_probs_0,pred_probs_1,part\n{},0.3,0.3,test\n{},0.5,0.5,later\n",
            name(0),
            name(1)
        ),
    );
    let output = import(&data, &not_summing, &runs, &[]);
    assert!(!output.status.success());
    for expected in [
        "line 2: pred_probs_0 + pred_probs_1 is 0.6, not 1",
        "line 3: part 'later' is not train, validation or test",
    ] {
        assert!(
            text(&output.stderr).contains(expected),
            "{expected:?} in {}",
            text(&output.stderr)
        );
    }

    let no_probability = home.path().join("no_probability.csv");
    write(&no_probability, &format!("patient,x,y,score\n{},0.4\n", name(0)));
    let output = import(&data, &no_probability, &runs, &[]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains(
            "give `prob_idc`, or `pred_probs_0` and `pred_probs_1` (the columns are: patient, x, y, score)"
        ),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn embeddings_given_with_the_predictions_find_the_patches_alike() {
    let Imported { home, data, store } = dataset();
    let runs = home.path().join("runs");
    let predictions = home.path().join("all.csv");
    let mut rows = String::from("path,prob_idc\n");
    // Two dimensions: the patient's number, and the label: a patch's nearest are its own
    // patient's patches of its label.
    let mut values = Vec::new();
    for index in 0..store.len() {
        let patch = store.patch(index);
        rows += &format!("{},{}\n", patch.path.display(), made_up_prob_idc(&store, index));
        let angle = patch.patient as f32 * 0.7 + patch.label.index() as f32 * 0.2;
        values.extend([angle.cos(), angle.sin(), 0.01 * (index % 5) as f32]);
    }
    write(&predictions, &rows);
    let embeddings = home.path().join("embeddings.npy");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&embeddings).unwrap());
    use npyz::WriterBuilder;
    let mut writer = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[store.len() as u64, 3])
        .writer(&mut file)
        .begin_nd()
        .unwrap();
    writer.extend(values).unwrap();
    writer.finish().unwrap();
    drop(file);

    let output = import(
        &data,
        &predictions,
        &runs,
        &[
            "--name",
            "with-embeddings",
            "--embeddings",
            embeddings.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let run = runs.join("with-embeddings");
    let query = store.patch(0);
    let similar = idc_studio(&[
        "similar",
        run.to_str().unwrap(),
        "--patch",
        query.path.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--count",
        "5",
    ]);
    assert!(similar.status.success(), "{}", text(&similar.stderr));
    let listing = text(&similar.stdout);
    let neighbours: Vec<&str> = listing.lines().skip(1).collect();
    assert_eq!(neighbours.len(), 5, "{listing}");
    let patient = store.patient_name(query);
    let label = query.label.index().to_string();
    for line in neighbours {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!((fields[2], fields[5]), (patient, label.as_str()), "{line}");
    }

    // The map lays every patch out from the imported embeddings, with no model.
    let map_csv = home.path().join("map.csv");
    let map = idc_studio(&[
        "map",
        run.to_str().unwrap(),
        "--out",
        map_csv.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(map.status.success(), "{}", text(&map.stderr));
    assert_eq!(
        std::fs::read_to_string(&map_csv).unwrap().lines().count(),
        store.len() + 1,
        "one row a patch"
    );

    // Rows fewer than the file's: refused, naming both counts.
    let short = home.path().join("short.csv");
    write(&short, &rows.lines().take(11).collect::<Vec<_>>().join("\n"));
    let output = import(
        &data,
        &short,
        &runs,
        &["--name", "short", "--embeddings", embeddings.to_str().unwrap()],
    );
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains(&format!("names 10 of its {} patches", store.len())),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn an_imported_run_opens_in_review_marked_as_imported_with_its_missed_cancers() {
    let Imported { home, data, store } = dataset();
    let predictions = home.path().join("theirs.csv");
    let mut rows = String::from("path,prob_idc,part\n");
    for index in 0..store.len() {
        let patch = store.patch(index);
        rows += &format!(
            "{},{},{}\n",
            patch.path.display(),
            made_up_prob_idc(&store, index),
            part_of(index)
        );
    }
    write(&predictions, &rows);
    let runs = home.path().join("runs");
    let output = import(&data, &predictions, &runs, &["--name", "theirs"]);
    assert!(output.status.success(), "{}", text(&output.stderr));

    let mut harness = app_at_desk(home.path(), &data, Some(runs.join("theirs")));
    wait_for(&mut harness, "the imported run", |app| {
        app.workspace().run.is_some() && !app.is_loading()
    });
    // The run's other readers (its logs, for the Training view) have their moment too.
    for _ in 0..20 {
        harness.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let errors: Vec<String> = harness
        .state()
        .workspace()
        .notices
        .iter()
        .filter(|notice| notice.is_error)
        .map(|notice| notice.text.clone())
        .collect();
    assert!(
        errors.is_empty(),
        "opening an imported run is no error: {errors:?}"
    );
    harness.get_by_label_contains("imported (no model)");
    let missed = (0..store.len())
        .filter(|&index| {
            part_of(index) == "test"
                && store.patch(index).label == Label::Idc
                && made_up_prob_idc(&store, index) < 0.5
        })
        .count();
    let run = harness.state().workspace().run.as_ref().unwrap();
    assert_eq!(run.review.matrix(0.5).fn_, missed);
    assert!(missed > 0);
    // Calibration is shown beside the ROC, with temperature scaling fitted on the validation part.
    harness.get_by_label("Calibration").click();
    harness.run_steps(3);
    harness.get_by_label_contains("Expected calibration error");
    harness.get_by_label_contains("fitted on the validation part");

    // The Run menu offers another import, and a report of the open run.
    harness.get_by_label("Run").click();
    harness.run_steps(2);
    harness.get_by_label("Export report…");
    harness.get_by_label("Import predictions…").click();
    harness.run_steps(3);
    harness.get_by_label_contains("Without `part`, every row is the test part");
    harness.get_by_label("Import");
}

#[test]
fn another_models_out_of_fold_predictions_rank_label_issues_without_training() {
    let Imported { home, data, store } = dataset();
    // Confident and right everywhere but on six patches, where the model is sure of the other
    // class: the labels a reader should look at first.
    let doubted: Vec<usize> = (0..6).map(|n| 5 + n * store.len() / 6).collect();
    let mut rows = String::from("patient,x,y,prob_idc,fold\n");
    for index in 0..store.len() {
        let patch = store.patch(index);
        let idc = patch.label == Label::Idc;
        let sure = if idc != doubted.contains(&index) {
            0.93
        } else {
            0.06
        };
        let p = sure + 0.01 * ((index % 5) as f32);
        rows += &format!(
            "{},{},{},{p},{}\n",
            store.patient_name(patch),
            patch.x,
            patch.y,
            patch.patient % 3
        );
    }
    let predictions = home.path().join("oof.csv");
    write(&predictions, &rows);
    let out = home.path().join("issues");
    let output = idc_studio(&[
        "label-issues",
        "--data",
        data.to_str().unwrap(),
        "--predictions",
        predictions.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(!out.join("fold-0.csv").exists(), "nothing was trained");
    let ranked = std::fs::read_to_string(out.join("label_issues.csv")).unwrap();
    let worst: std::collections::HashSet<(String, String, String)> = ranked
        .lines()
        .skip(1)
        .take(doubted.len())
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (
                fields[0].to_string(),
                fields[1].to_string(),
                fields[2].to_string(),
            )
        })
        .collect();
    let planted: std::collections::HashSet<(String, String, String)> = doubted
        .iter()
        .map(|&index| {
            let patch = store.patch(index);
            (
                store.patient_name(patch).to_string(),
                patch.x.to_string(),
                patch.y.to_string(),
            )
        })
        .collect();
    assert_eq!(worst, planted, "the doubted labels rank first");
    assert!(
        text(&output.stdout).contains("suspected label errors:"),
        "{}",
        text(&output.stdout)
    );

    // Without folds they are not out-of-fold predictions, and are refused.
    let no_folds = home.path().join("no_folds.csv");
    let without_folds: Vec<&str> = rows
        .lines()
        .map(|line| &line[..line.rfind(',').unwrap()])
        .collect();
    write(&no_folds, &without_folds.join("\n"));
    let output = idc_studio(&[
        "label-issues",
        "--data",
        data.to_str().unwrap(),
        "--predictions",
        no_folds.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("has no `fold` column"),
        "{}",
        text(&output.stderr)
    );
}
