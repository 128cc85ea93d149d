//! The real window: the release binary opens under a virtual X server (Xvfb), tours every view
//! on a small demo dataset (a patient, the slide, a short training, the false negatives) and
//! saves what it drew. Each screenshot must show a real picture, not a blank window.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Xvfb, killed when the test ends however it ends.
struct VirtualScreen {
    server: Child,
    display: String,
}

impl Drop for VirtualScreen {
    fn drop(&mut self) {
        // Asked to stop, Xvfb removes its lock file and socket; killed, it leaves both behind.
        let _ = Command::new("kill").arg(self.server.id().to_string()).status();
        let _ = self.server.wait();
    }
}

fn start_virtual_screen() -> Option<VirtualScreen> {
    let found = Command::new("sh")
        .args(["-c", "command -v Xvfb"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        // .ci/run installs Xvfb and requires this test; elsewhere, without Xvfb, say so loudly.
        assert!(
            std::env::var_os("IDC_STUDIO_REQUIRE_XVFB").is_none(),
            "Xvfb is not installed; .ci/run installs it (apt package xvfb)"
        );
        eprintln!("SKIPPED: the real-window test needs Xvfb (apt install xvfb); bash .ci/run installs it");
        return None;
    }
    // Xvfb picks a free display itself and writes its number once it accepts connections: the
    // tests of this file run side by side, and a display left by an earlier run is never reused.
    let mut server = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1500x950x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb starts");
    let stdout = server.stdout.take().expect("Xvfb's standard output");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
        let _ = sender.send(line);
    });
    let number = receiver
        .recv_timeout(Duration::from_secs(20))
        .expect("Xvfb did not come up");
    let number = number.trim().to_string();
    assert!(!number.is_empty(), "Xvfb gave no display number");
    Some(VirtualScreen {
        server,
        display: format!(":{number}"),
    })
}

/// `idc-studio app` on `screen`, with its settings, data folder (logs, annotations kept
/// outside a dataset) and runtime folder in `home`.
fn app_on(screen: &VirtualScreen, home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_idc-studio"));
    command
        .arg("app")
        .env("DISPLAY", &screen.display)
        .env_remove("WAYLAND_DISPLAY")
        .env("IDC_STUDIO_CONFIG_DIR", home.join("config"))
        .env("XDG_DATA_HOME", home.join("share"))
        .env("XDG_RUNTIME_DIR", home);
    command
}

/// True when the picture has real content: many colours and contrast, not one flat fill.
fn looks_drawn(path: &Path) -> bool {
    let picture = image::open(path).unwrap().to_rgb8();
    let mut colours = std::collections::HashSet::new();
    let (mut sum, mut sum_squares, mut count) = (0.0f64, 0.0f64, 0.0f64);
    for pixel in picture.pixels().step_by(7) {
        colours.insert(pixel.0);
        let luma =
            0.299 * f64::from(pixel.0[0]) + 0.587 * f64::from(pixel.0[1]) + 0.114 * f64::from(pixel.0[2]);
        sum += luma;
        sum_squares += luma * luma;
        count += 1.0;
    }
    let mean = sum / count;
    let spread = (sum_squares / count - mean * mean).max(0.0).sqrt();
    colours.len() > 100 && spread > 10.0
}

#[test]
fn the_release_window_shows_every_view_under_xvfb() {
    let Some(screen) = start_virtual_screen() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let shots = home.path().join("shots");
    let mut app = app_on(&screen, home.path())
        .arg("--data")
        .arg(&common::datasets::small_demo().root)
        .arg("--runs")
        .arg(home.path().join("runs"))
        .arg("--screenshots")
        .arg(&shots)
        .spawn()
        .expect("the app starts");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = app.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(600) {
            let _ = app.kill();
            panic!("the app's tour did not finish in 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "the app exited with {status}");
    for view in ["patients", "slide", "training", "review", "stain-map"] {
        let path = shots.join(format!("{view}.png"));
        assert!(path.is_file(), "no screenshot of the {view} view");
        let (width, height) = image::image_dimensions(&path).unwrap();
        assert!(width >= 900 && height >= 600, "{view}: {width}x{height}");
        assert!(looks_drawn(&path), "the {view} screenshot is blank");
    }
    let report = std::fs::read_to_string(shots.join("tour.txt")).unwrap();
    assert!(report.contains("frame time while training"), "{report}");
    // The run the tour trained is a complete run folder.
    let runs: Vec<_> = std::fs::read_dir(home.path().join("runs")).unwrap().collect();
    assert_eq!(runs.len(), 1);
    let run = runs[0].as_ref().unwrap().path();
    assert!(run.join("predictions.csv").is_file() && run.join("model.bpk").is_file());
}

/// `xdotool`, which types into the real window as a person would; .ci/run installs it.
fn xdotool(args: &[&str], display: &str) -> String {
    let output = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", display)
        .output()
        .expect("xdotool runs (apt package xdotool)");
    assert!(
        output.status.success(),
        "xdotool {args:?}: {}",
        common::binary::text(&output.stderr)
    );
    common::binary::text(&output.stdout)
}

#[test]
fn killing_the_app_right_after_judging_loses_nothing() {
    let Some(screen) = start_virtual_screen() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let store = common::datasets::own_demo(&data, 4, 60);
    let run = home.path().join("runs/run-a");
    common::runs::finished_run_with_predictions(&store, &run);
    let config_dir = home.path().join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("settings.json"),
        r#"{"reader": "ana", "advance_after_judging": true}"#,
    )
    .unwrap();
    let mut app = app_on(&screen, home.path())
        .args(["--data", data.to_str().unwrap(), "--run", run.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the app starts");
    // The run is open in Review once the app has remembered it.
    let start = Instant::now();
    while !std::fs::read_to_string(config_dir.join("settings.json")).is_ok_and(|text| text.contains("run-a"))
    {
        assert!(start.elapsed() < Duration::from_secs(120), "the run never opened");
        assert!(app.try_wait().unwrap().is_none(), "the app exited");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let window = xdotool(&["search", "--sync", "--name", "^idc-studio$"], &screen.display);
    let window = window.lines().next().unwrap().to_string();
    xdotool(&["windowfocus", &window], &screen.display);
    // Five judgements, one key each (the view moves on after each), then the kill.
    xdotool(
        &["key", "--delay", "60", "a", "a", "a", "a", "a"],
        &screen.display,
    );
    std::thread::sleep(Duration::from_millis(400));
    app.kill().unwrap(); // SIGKILL: no exit handler runs
    let _ = app.wait();

    let folder = store.root().join(idc_studio::review::reviews::BESIDE_DATASET);
    let (reviews, warnings) = idc_studio::review::Reviews::open(&folder).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let agreed = reviews
        .book("ana")
        .iter()
        .filter(|annotation| annotation.state == idc_studio::review::ReviewState::Agree)
        .count();
    assert_eq!(agreed, 5, "every judgement made before the kill is on disk");
}

#[test]
fn a_failed_dataset_open_is_written_to_the_log_file() {
    let Some(screen) = start_virtual_screen() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let missing = home.path().join("no-such-dataset");
    let mut app = app_on(&screen, home.path())
        .args(["--data", missing.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the app starts");
    let logs = home.path().join("share/idc-studio/logs");
    let start = Instant::now();
    let log = loop {
        let text: String = std::fs::read_dir(&logs)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
            .collect();
        if text.contains("no-such-dataset") {
            break text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the log never named the dataset: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = app.kill();
    let _ = app.wait();
    assert!(log.contains("idc-studio 0.1.0 starting"), "{log}");
    let line = log.lines().find(|line| line.contains("no-such-dataset")).unwrap();
    assert!(line.contains("ERROR"), "{line}");
}

#[test]
fn without_opengl_the_app_fails_with_one_line_naming_it() {
    let Some(screen) = start_virtual_screen() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    // Mesa finds no driver to draw with: what a machine without OpenGL looks like to the app.
    let output = app_on(&screen, home.path())
        .args(["--data", common::datasets::small_demo().root.to_str().unwrap()])
        .env("LIBGL_DRIVERS_PATH", home.path().join("no-drivers"))
        .env("__EGL_VENDOR_LIBRARY_DIRS", home.path().join("no-drivers"))
        .output()
        .expect("the app starts");
    common::binary::assert_one_line_error(&output, "no usable OpenGL was found");
}

#[test]
fn a_crash_writes_its_message_and_backtrace_to_the_log() {
    let Some(screen) = start_virtual_screen() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    // No zenity on PATH: the dialog that names the log file cannot wait for a click here.
    let output = app_on(&screen, home.path())
        .env("IDC_STUDIO_CRASH_TEST", "1")
        .env("PATH", home.path().join("no-programs"))
        .output()
        .expect("the app starts");
    assert!(!output.status.success());
    let logs = home.path().join("share/idc-studio/logs");
    let log: String = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .map(|entry| std::fs::read_to_string(entry.path()).unwrap())
        .collect();
    assert!(
        log.contains("ERROR")
            && log.contains("thread 'main' panicked")
            && log.contains("IDC_STUDIO_CRASH_TEST"),
        "{log}"
    );
    assert!(
        log.contains("at ./src/app/studio.rs"),
        "a backtrace down to the code: {log}"
    );
}
