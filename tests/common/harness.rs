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
