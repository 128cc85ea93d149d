//! Driving the app in egui_kittest as a person waits on it.

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use idc_studio::app::StudioApp;

/// Runs frames until `done` holds, then three more; fails after a minute, naming `what`.
pub fn wait_for(harness: &mut Harness<'static, StudioApp>, what: &str, done: impl Fn(&StudioApp) -> bool) {
    let start = Instant::now();
    while !done(harness.state()) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    harness.run_steps(3);
}

/// The app on the dataset at `data`, with `home`'s `settings.json` and `runs/` folder (and `run`
/// open, if given), once the dataset has loaded.
pub fn app_at_desk(
    home: &std::path::Path,
    data: &std::path::Path,
    run: Option<std::path::PathBuf>,
) -> Harness<'static, StudioApp> {
    let options = idc_studio::app::LaunchOptions {
        data: Some(data.to_path_buf()),
        run,
        settings_path: Some(home.join("settings.json")),
        runs_folder: Some(home.join("runs")),
        ..idc_studio::app::LaunchOptions::default()
    };
    let app = StudioApp::new(options).unwrap();
    let mut harness = Harness::builder()
        .with_size([1600.0, 1500.0])
        .build_ui_state(|ui, app: &mut StudioApp| app.show(ui), app);
    wait_for(&mut harness, "the dataset", |app| {
        app.workspace().dataset.is_some() && !app.is_loading()
    });
    harness
}
