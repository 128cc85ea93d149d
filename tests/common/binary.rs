//! The release binary, run as a user runs it, and what it prints.

use std::process::{Command, Output};
use std::sync::OnceLock;

/// The release binary, as a user runs it.
pub fn idc_studio(args: &[&str]) -> Output {
    idc_studio_command(args).output().expect("the binary runs")
}

/// The command [`idc_studio`] runs, for tests that start it in the background or elsewhere.
pub fn idc_studio_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_idc-studio"));
    // Runs, logs and annotations the binary keeps in the user's data folder stay in the test's.
    static DATA_HOME: OnceLock<tempfile::TempDir> = OnceLock::new();
    let data_home = DATA_HOME.get_or_init(|| tempfile::tempdir().unwrap());
    command
        .args(args)
        // As on a headless machine reached by ssh: the binary makes its own runtime folder,
        // without which Mesa's Vulkan driver, probed by `--device auto`, complains.
        .env_remove("XDG_RUNTIME_DIR")
        .env("XDG_DATA_HOME", data_home.path());
    command
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A failure is one line on standard error, naming the problem, with a non-zero exit.
pub fn assert_one_line_error(output: &Output, needle: &str) {
    assert!(!output.status.success(), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|line| line.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line: {stderr}");
    assert!(lines[0].contains(needle), "{needle:?} in {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
