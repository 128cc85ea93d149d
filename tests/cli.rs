//! The command line end to end, as a user types it: demo data, scan, train, eval, predict,
//! and one clear line for every mistake.

mod common;

use std::path::Path;
use std::process::Command;

use common::binary::{assert_one_line_error, idc_studio, text};

#[test]
fn demo_data_scan_train_eval_predict_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let output = idc_studio(&[
        "demo-data",
        data_arg,
        "--patients",
        "5",
        "--patches-per-patient",
        "100",
        "--seed",
        "3",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("synthetic demo data"));

    let output = idc_studio(&["scan", data_arg]);
    assert!(output.status.success());
    let stdout = text(&output.stdout);
    assert!(stdout.contains("SYNTHETIC demo data"));
    assert!(stdout.contains("patients     5"), "{stdout}");
    assert!(stdout.contains("skipped      0 files"), "{stdout}");

    let run = dir.path().join("run");
    let run_arg = run.to_str().unwrap();
    let output = idc_studio(&[
        "train", "--data", data_arg, "--epochs", "1", "--device", "cpu", "--out", run_arg,
    ]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(stdout.contains("device       CPU"), "{stdout}");
    assert!(stdout.contains("confusion matrix at threshold 0.50"), "{stdout}");
    assert!(stdout.contains("sensitivity (IDC)"), "{stdout}");
    for file in [
        "config.json",
        "split.csv",
        "epochs.csv",
        "model.bpk",
        "predictions.csv",
        "metrics.json",
    ] {
        assert!(run.join(file).is_file(), "{file}");
    }

    let output = idc_studio(&["eval", run_arg, "--threshold", "0.3"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("confusion matrix at threshold 0.30"));

    // Predict a file and a folder; a corrupt file is named and the rest still predicted.
    let one_png = common::datasets::first_patch_file(&data);
    let patient = one_png.parent().and_then(Path::parent).unwrap().to_path_buf();
    let folder_pngs = std::fs::read_dir(patient.join("1")).map_or(0, |entries| entries.count());
    let broken = dir.path().join("broken.png");
    std::fs::write(&broken, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let output = idc_studio(&[
        "predict",
        run_arg,
        one_png.to_str().unwrap(),
        patient.join("1").to_str().unwrap(),
        broken.to_str().unwrap(),
    ]);
    let csv = text(&output.stdout);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("path,prob_idc,predicted"));
    assert_eq!(lines.count(), 1 + folder_pngs);
    assert_one_line_error(
        &output,
        &format!("{}: truncated or corrupt PNG", broken.display()),
    );

    // Resuming a finished run for one more epoch: the run knows its dataset.
    let output = idc_studio(&[
        "train", "--epochs", "2", "--device", "cpu", "--out", run_arg, "--resume",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("resuming at epoch 2 of 2"));
}

#[test]
fn a_headless_machine_without_a_runtime_folder_prints_no_error_when_nothing_failed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::datasets::own_demo(&data, 4, 80);
    let data_arg = data.to_str().unwrap();
    // `--device auto` probes Vulkan, where Mesa's driver (lavapipe on CI) is installed.
    let run = dir.path().join("run");
    let output = idc_studio(&[
        "train",
        "--data",
        data_arg,
        "--epochs",
        "1",
        "--device",
        "auto",
        "--out",
        run.to_str().unwrap(),
    ]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        !stderr
            .lines()
            .any(|line| line.to_lowercase().starts_with("error")),
        "no error line: {stderr}"
    );
}

#[test]
fn mistakes_get_one_clear_line_and_a_failing_exit() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let missing_arg = missing.to_str().unwrap();
    assert_one_line_error(
        &idc_studio(&["scan", missing_arg]),
        &format!("{missing_arg}: no such folder"),
    );
    assert_one_line_error(
        &idc_studio(&["eval", missing_arg]),
        &format!("{missing_arg}: no such run folder"),
    );
    assert_one_line_error(
        &idc_studio(&["eval", dir.path().to_str().unwrap()]),
        "not a run folder (no config.json)",
    );
    assert_one_line_error(
        &idc_studio(&["train", "--data", missing_arg, "--epochs", "0"]),
        "epochs must be at least 1",
    );
    assert_one_line_error(&idc_studio(&["train", "--epochs", "1"]), "say which dataset");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_one_line_error(
        &idc_studio(&["scan", empty.to_str().unwrap()]),
        "no usable patch found",
    );

    // A run folder whose model file is damaged.
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    idc_studio::training::RunFolder::new(&run)
        .write_info(&common::runs::run_info(&dir.path().join("data")))
        .unwrap();
    std::fs::write(run.join("model.bpk"), "garbage").unwrap();
    let png = dir.path().join("a.png");
    common::png::write(&png, &common::png::rgb_png(50, 50, [1, 2, 3]));
    let output = idc_studio(&[
        "predict",
        run.to_str().unwrap(),
        png.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert_one_line_error(
        &output,
        &format!("{}: cannot load the model", run.join("model.bpk").display()),
    );
    assert!(Path::new(&png).exists());
}

#[test]
fn bench_prints_every_stage_and_a_whole_epoch() {
    let output = idc_studio(&[
        "bench",
        "--device",
        "cpu",
        "--runs",
        "1",
        "--steps",
        "2",
        "--epoch-patches",
        "400",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    // The figure after each label, in the order printed.
    let figures = |label: &str| -> Vec<f64> {
        stdout
            .lines()
            .filter(|line| line.starts_with(label))
            .filter_map(|line| line[label.len()..].split_whitespace().next()?.parse().ok())
            .collect()
    };
    for label in ["ingest", "inference"] {
        let rates = figures(label);
        assert!(rates.len() == 1 && rates[0] > 0.0, "{label}: {stdout}");
    }
    // The pipeline on one thread, then through the batch thread as a CPU run has it.
    let pipeline = figures("pipeline");
    assert!(
        pipeline.len() == 2 && pipeline.iter().all(|&rate| rate > 0.0),
        "{stdout}"
    );
    assert!(stdout.contains("1 render thread(s)"), "{stdout}");
    let training = figures("training");
    assert!(
        training.len() == 2 && training.iter().all(|&rate| rate > 0.0),
        "{stdout}"
    );
    assert!(stdout.contains("loss read back every step"), "{stdout}");
    assert!(stdout.contains("loss read back every 16 steps"), "{stdout}");
    // 400 patches over 162 patients, split by patient: most of them train.
    let epoch: Vec<&str> = stdout.lines().filter(|line| line.starts_with("epoch")).collect();
    assert!(
        epoch
            .iter()
            .any(|line| line.contains(" training, ") && line.contains(" test patches (batch 32)")),
        "{stdout}"
    );
    assert!(
        epoch
            .iter()
            .any(|line| line.contains("with validation and checkpoint")),
        "{stdout}"
    );
    assert!(epoch.iter().any(|line| line.contains("whole run")), "{stdout}");

    assert_one_line_error(
        &idc_studio(&["bench", "--device", "cpu", "--epoch-patches", "10"]),
        "--epoch-patches must be at least 162",
    );
}

#[test]
fn the_app_without_a_display_says_so_in_one_line() {
    let home = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_idc-studio"))
        .args(["app", "--demo"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("XDG_RUNTIME_DIR", home.path())
        .env("IDC_STUDIO_CONFIG_DIR", home.path())
        .env("IDC_STUDIO_DEMO_DIR", home.path().join("demo"))
        .output()
        .expect("the binary runs");
    assert_one_line_error(&output, "could not open the window");
    // Nothing was generated or written for a window that never opened.
    assert!(!home.path().join("demo").exists());
}
