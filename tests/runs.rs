//! Run folders as a careful user meets them on the command line: two trainings never share a
//! folder, a resumed run is the run it was, a start that cannot succeed writes nothing, and a
//! damaged results file is named rather than trusted.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::binary::{assert_one_line_error, idc_studio, idc_studio_command, text};
use idc_studio::dataset::demo::{DemoConfig, generate_demo_dataset};

/// A demo dataset of `patients` patients in `dir/data`.
fn demo(dir: &Path, patients: usize, patches_per_patient: usize) -> PathBuf {
    let root = dir.join("data");
    let config = DemoConfig {
        patients,
        patches_per_patient,
        seed: 5,
        ..DemoConfig::default()
    };
    generate_demo_dataset(&root, &config).unwrap();
    root
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Waits until `path` exists (a running training's progress), failing after two minutes.
fn wait_for(path: &Path) {
    let started = Instant::now();
    while !path.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn train_args<'a>(data: &'a Path, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train", "--data", arg(data), "--out", arg(out), "--device", "cpu"];
    args.extend_from_slice(extra);
    args
}

#[test]
fn two_trainings_into_one_folder_never_merge() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path(), 4, 200);
    let run = dir.path().join("run");
    let mut first = idc_studio_command(&train_args(&data, &run, &["--epochs", "40"]))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&run.join("config.json"));

    let second = idc_studio(&train_args(&data, &run, &["--epochs", "1", "--seed", "7"]));
    assert_one_line_error(&second, "another training is writing into this run folder");
    let resumed = idc_studio(&["train", "--resume", "--out", arg(&run), "--device", "cpu"]);
    assert_one_line_error(&resumed, "another training is writing into this run folder");

    // Killed once it has finished an epoch: the folder is one run, the first one's.
    wait_for(&run.join("epochs.csv"));
    first.kill().unwrap();
    first.wait().unwrap();
    let config = std::fs::read_to_string(run.join("config.json")).unwrap();
    assert!(config.contains("\"seed\": 42"), "{config}");
    let again = idc_studio(&train_args(&data, &run, &["--epochs", "1", "--seed", "7"]));
    assert_one_line_error(&again, "already holds a run");
}

#[test]
fn a_resumed_run_keeps_its_settings_and_matches_the_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path(), 6, 400);
    let settings = ["--epochs", "2", "--batch-size", "16", "--seed", "5"];

    let whole = dir.path().join("whole");
    let output = idc_studio(&train_args(&data, &whole, &settings));
    assert!(output.status.success(), "{}", text(&output.stderr));

    // The same run killed in its second epoch (or as its first is being saved).
    let killed = dir.path().join("killed");
    let mut child = idc_studio_command(&train_args(&data, &killed, &settings))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The committed checkpoint, not epochs.csv: the log is written just before the commit,
    // and a kill between the two rightly resumes from the start, which is not what is tested.
    wait_for(&killed.join("checkpoint").join("latest.json"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !killed.join("predictions.csv").exists(),
        "killed before it finished"
    );

    // A setting other than the epochs or the device is refused by name.
    let output = idc_studio(&["train", "--resume", "--out", arg(&killed), "--batch-size", "32"]);
    assert_one_line_error(&output, "--batch-size (32 asked, 16 recorded)");

    // Without --epochs it trains to the recorded 2, not to the default 40.
    let output = idc_studio(&["train", "--resume", "--out", arg(&killed)]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(stdout.contains("of 2\n"), "{stdout}");
    assert_eq!(
        std::fs::read(whole.join("predictions.csv")).unwrap(),
        std::fs::read(killed.join("predictions.csv")).unwrap(),
        "the resumed run predicts exactly as the uninterrupted one"
    );
    // The saved models hold the same weights (their files differ only in per-process
    // parameter ids), so they give every patch the same probability.
    assert!(
        model_outputs(&whole, &data) == model_outputs(&killed, &data),
        "the resumed run saved the same best model"
    );

    // A finished run asked for nothing more says so.
    let output = idc_studio(&["train", "--resume", "--out", arg(&killed)]);
    assert_one_line_error(&output, "the run has finished 2 epochs; ask for more");
    // The refused request changed nothing: the run still records its 2 epochs.
    let config = std::fs::read_to_string(killed.join("config.json")).unwrap();
    assert!(config.contains("\"epochs\": 2"), "{config}");

    // Killed after its last epoch, while its results were being written: resuming writes them.
    std::fs::remove_file(killed.join("metrics.json")).unwrap();
    let output = idc_studio(&["train", "--resume", "--out", arg(&killed)]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(killed.join("metrics.json").exists());
    assert_eq!(
        std::fs::read(whole.join("predictions.csv")).unwrap(),
        std::fs::read(killed.join("predictions.csv")).unwrap()
    );
}

#[test]
fn a_start_that_cannot_succeed_writes_nothing_and_a_failed_one_can_be_retried() {
    let dir = tempfile::tempdir().unwrap();
    let one_patient = demo(&dir.path().join("one"), 1, 100);
    let run = dir.path().join("run");
    let output = idc_studio(&train_args(&one_patient, &run, &["--epochs", "1"]));
    assert_one_line_error(
        &output,
        "part would be empty: a split by patient needs at least 3 patients",
    );
    assert!(!run.exists(), "a refused start creates no folder");

    let two_patches = dir.path().join("two");
    let patch = common::png::rgb_png(50, 50, [200, 120, 180]);
    common::png::write(&two_patches.join("8863/0/8863_idx5_x1_y1_class0.png"), &patch);
    common::png::write(&two_patches.join("8863/1/8863_idx5_x51_y1_class1.png"), &patch);
    let output = idc_studio(&train_args(&two_patches, &run, &["--split", "patch"]));
    assert_one_line_error(&output, "part would be empty");
    assert!(!run.exists());

    let data = demo(dir.path(), 4, 100);
    let output = idc_studio(&train_args(&data, &run, &["--batch-size", "100000"]));
    assert_one_line_error(&output, "fewer than one batch of 100000");
    assert!(!run.exists());

    // Without --out, nothing is made in the default runs folder by a refused start.
    let share = dir.path().join("share");
    for _ in 0..2 {
        let output = idc_studio_command(&[
            "train",
            "--data",
            arg(&data),
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--batch-size",
            "100000",
        ])
        .env("XDG_DATA_HOME", &share)
        .output()
        .unwrap();
        assert_one_line_error(&output, "fewer than one batch");
    }
    assert!(
        !share.join("idc-studio/runs").exists(),
        "refused before any folder is made"
    );

    // A loss that becomes NaN fails the run before its first epoch...
    let output = idc_studio(&train_args(
        &data,
        &run,
        &["--epochs", "1", "--learning-rate", "1e38"],
    ));
    assert_one_line_error(&output, "became");
    assert!(run.join("config.json").exists());
    // ...and the same command with a sane setting starts it again in place.
    let output = idc_studio(&train_args(&data, &run, &["--epochs", "1"]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(run.join("predictions.csv").exists());
    let config = std::fs::read_to_string(run.join("config.json")).unwrap();
    assert!(config.contains("\"learning_rate\": 0.01"), "{config}");
}

#[test]
fn damaged_results_are_named_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path(), 4, 100);
    let run = dir.path().join("run");
    let output = idc_studio(&train_args(&data, &run, &["--epochs", "1"]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let predictions = run.join("predictions.csv");
    let config = run.join("config.json");
    let original_predictions = std::fs::read_to_string(&predictions).unwrap();
    let original_config = std::fs::read_to_string(&config).unwrap();

    // predict never writes over the run's own results.
    let png = data.join("SYNTHETIC_DEMO_DATA.txt");
    let output = idc_studio(&[
        "predict",
        arg(&run),
        arg(&png),
        "--out",
        arg(&predictions),
        "--device",
        "cpu",
    ]);
    assert_one_line_error(&output, "that is the run's own file");
    assert_eq!(
        std::fs::read_to_string(&predictions).unwrap(),
        original_predictions
    );

    // A label other than 0 or 1, a probability beyond 1.
    let mut lines: Vec<String> = original_predictions.lines().map(String::from).collect();
    let first_row = lines[1].clone();
    let fields: Vec<&str> = first_row.split(',').collect();
    let with = |label: &str, prob: &str| {
        let mut row = fields.clone();
        let n = row.len();
        row[n - 2] = label;
        row[n - 1] = prob;
        row.join(",")
    };
    for (row, needle) in [
        (with("7", "0.5"), "line 2: label 7 is not 0 or 1"),
        (with("1", "1.5"), "line 2: probability 1.5 is not between 0 and 1"),
        (with("1", "NaN"), "line 2: probability NaN is not between 0 and 1"),
    ] {
        lines[1] = row;
        std::fs::write(&predictions, lines.join("\n") + "\n").unwrap();
        assert_one_line_error(
            &idc_studio(&["eval", arg(&run)]),
            &format!("{}: {needle}", predictions.display()),
        );
    }
    std::fs::write(&predictions, &original_predictions).unwrap();

    // Settings that would panic the trainer, train silently or break the model.
    for (from, to, needle) in [
        (
            "\"batch_size\": 32",
            "\"batch_size\": 0",
            "batch size must be at least 1",
        ),
        (
            "\"learning_rate\": 0.01",
            "\"learning_rate\": -0.01",
            "learning rate -0.01 must be a positive number",
        ),
        (
            "\"epsilon\": 0.001",
            "\"epsilon\": 0.0",
            "batch-norm epsilon 0 must be a small positive number",
        ),
    ] {
        assert!(original_config.contains(from), "{original_config}");
        std::fs::write(&config, original_config.replace(from, to)).unwrap();
        for command in [
            vec!["eval", arg(&run)],
            vec!["train", "--resume", "--out", arg(&run), "--epochs", "2"],
        ] {
            let output = idc_studio(&command);
            assert_one_line_error(
                &output,
                &format!("{}: invalid settings: {needle}", config.display()),
            );
        }
    }
    std::fs::write(&config, &original_config).unwrap();

    // A model file damaged in its data (its last values made NaN) is named, never scored.
    let model = run.join("model.bpk");
    let mut bytes = std::fs::read(&model).unwrap();
    let n = bytes.len();
    bytes[n - 4096..].fill(0xff);
    std::fs::write(&model, bytes).unwrap();
    let patch = common::datasets::first_patch_file(&data);
    let output = idc_studio(&["predict", arg(&run), arg(&patch), "--device", "cpu"]);
    assert_one_line_error(&output, "the model file is damaged");
    assert!(
        text(&output.stdout).lines().count() <= 1,
        "no probability printed"
    );
}

#[test]
fn demo_data_never_writes_into_a_users_folder() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("slides");
    let patch = users.join("8863/0/8863_idx5_x1_y1_class0.png");
    common::png::write(&patch, b"the user's own patch");
    let output = idc_studio(&["demo-data", arg(&users), "--patients", "2"]);
    assert_one_line_error(&output, "folder is not empty and holds no demo dataset");
    assert_eq!(std::fs::read(&patch).unwrap(), b"the user's own patch");
    assert!(!users.join("SYNTHETIC_DEMO_DATA.txt").exists());

    let output = idc_studio(&["demo-data", arg(&dir.path().join("many")), "--patients", "9001"]);
    assert_one_line_error(&output, "names at most 9000 patients, 9001 asked");
}

/// The probabilities a run's `model.bpk` gives every patch of `data`, as `predict` writes them.
fn model_outputs(run: &Path, data: &Path) -> Vec<u8> {
    let output = idc_studio(&["predict", arg(run), arg(data), "--device", "cpu"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    output.stdout
}

#[test]
fn eval_by_patient_lists_each_patients_misses_and_sums_back_to_the_runs_matrix() {
    let home = tempfile::tempdir().unwrap();
    let store = common::datasets::own_demo(&home.path().join("data"), 4, 60);
    let run = home.path().join("runs/run-a");
    common::runs::finished_run_with_predictions(&store, &run);
    let output = idc_studio(&["eval", arg(&run), "--by-patient"]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));

    let number_after = |prefix: &str| -> Vec<usize> {
        let line = stdout.lines().find(|line| line.starts_with(prefix)).unwrap();
        line[prefix.len()..]
            .split_whitespace()
            .take(2)
            .map(|n| n.parse().unwrap())
            .collect()
    };
    let (tn_fp, fn_tp) = (number_after("  truth 0 non-IDC"), number_after("  truth 1 IDC"));
    let table: Vec<Vec<usize>> = stdout
        .lines()
        .skip_while(|line| !line.starts_with("patient "))
        .skip(1)
        .take_while(|line| !line.starts_with("missed cancers in"))
        .map(|line| {
            line.split_whitespace()
                .skip(1)
                .take(4)
                .map(|n| n.parse().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(table.len(), 4, "one line a patient:\n{stdout}");
    let column = |i: usize| table.iter().map(|row| row[i]).sum::<usize>();
    assert_eq!(
        column(0),
        tn_fp[0] + tn_fp[1] + fn_tp[0] + fn_tp[1],
        "test patches"
    );
    assert_eq!(column(1), fn_tp[0] + fn_tp[1], "IDC patches");
    assert_eq!(column(2), fn_tp[0], "missed cancers");
    assert_eq!(column(3), tn_fp[1], "false alarms");
    let missed: Vec<usize> = table.iter().map(|row| row[2]).collect();
    assert!(
        missed.windows(2).all(|pair| pair[0] >= pair[1]),
        "most missed first: {missed:?}"
    );
}

#[test]
fn eval_uses_the_threshold_saved_with_the_run_unless_given_one() {
    use idc_studio::training::{RunFolder, SavedThreshold};
    let home = tempfile::tempdir().unwrap();
    let store = common::datasets::own_demo(&home.path().join("data"), 3, 60);
    let run = home.path().join("runs/run-a");
    common::runs::finished_run_with_predictions(&store, &run);
    let missed_at = |args: &[&str]| -> (String, String) {
        let output = idc_studio(args);
        let stdout = text(&output.stdout);
        assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
        let threshold = stdout
            .lines()
            .find(|l| l.starts_with("threshold "))
            .unwrap()
            .to_string();
        let missed = stdout
            .lines()
            .find(|l| l.starts_with("  truth 1 IDC"))
            .unwrap()
            .to_string();
        (threshold, missed)
    };
    let (default, missed_at_half) = missed_at(&["eval", arg(&run)]);
    assert!(default.contains("0.500 (the default"), "{default}");

    // The fixture's missed cancers score 0.10-0.16: at 0.10 most are caught.
    RunFolder::open(&run)
        .unwrap()
        .write_threshold(&SavedThreshold::now(0.1, Some("ana".into())))
        .unwrap();
    let (saved, missed_at_saved) = missed_at(&["eval", arg(&run)]);
    assert_eq!(saved, "threshold 0.100 (saved with the run by ana)");
    assert_ne!(
        missed_at_saved, missed_at_half,
        "the saved threshold changes the matrix"
    );

    let (given, missed_given) = missed_at(&["eval", arg(&run), "--threshold", "0.5"]);
    assert_eq!(given, "threshold 0.500 (given)");
    assert_eq!(missed_given, missed_at_half);

    std::fs::write(run.join("threshold.json"), r#"{"threshold": 7.0}"#).unwrap();
    let output = idc_studio(&["eval", arg(&run)]);
    assert_one_line_error(&output, "threshold.json");
}

#[test]
fn predict_never_writes_over_any_file_of_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path(), 4, 60);
    let run = dir.path().join("run");
    let output = idc_studio(&train_args(&data, &run, &["--epochs", "1"]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    // What a run gathers after training: the cached embeddings of "More like this" and the
    // threshold a reader saved in Review.
    let png = common::datasets::first_patch_file(&data);
    let output = idc_studio(&["similar", arg(&run), "--patch", arg(&png), "--device", "cpu"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    idc_studio::training::RunFolder::new(&run)
        .write_threshold(&idc_studio::training::SavedThreshold::now(0.4, None))
        .unwrap();

    let mut entries: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    entries.sort();
    for name in [
        "steps.csv",
        "threshold.json",
        "embeddings.bin",
        "predictions.csv",
        "model.bpk",
    ] {
        assert!(entries.iter().any(|entry| entry == name), "{name} in {entries:?}");
    }
    for name in &entries {
        let target = run.join(name);
        let before = std::fs::metadata(&target).unwrap().modified().unwrap();
        let output = idc_studio(&[
            "predict",
            arg(&run),
            arg(&png),
            "--out",
            arg(&target),
            "--device",
            "cpu",
        ]);
        assert_one_line_error(&output, "that is the run's own file");
        assert_eq!(
            std::fs::metadata(&target).unwrap().modified().unwrap(),
            before,
            "{name} untouched"
        );
    }
}
