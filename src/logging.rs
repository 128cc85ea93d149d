//! The desktop app's log. A double-clicked app has no terminal, so what it would print goes to a
//! daily file in the user's data folder (`logs/idc-studio.log.YYYY-MM-DD`, a week kept): the
//! app's own messages, eframe's, wgpu's and burn's records (they log through `log`, which is
//! bridged), and every panic with its backtrace. The app's own warnings and errors still reach
//! standard error for whoever started it from a terminal.

use std::path::{Path, PathBuf};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The log files' name before the date.
pub const LOG_FILE_PREFIX: &str = "idc-studio.log";
/// Records with this target go to the file only (standard error gets them another way).
pub const FILE_ONLY: &str = "idc_studio::file_only";
/// Daily files kept.
const KEPT_DAYS: usize = 7;
/// What is recorded unless `RUST_LOG` says otherwise: our own messages, and the warnings of
/// the libraries below us (their `info` is a line per frame or per shader).
const DEFAULT_FILTER: &str = "warn,idc_studio=info";

/// The folder of the log files.
pub fn log_folder() -> PathBuf {
    crate::user_folders::data_home().join("logs")
}

/// Today's log file in `folder`.
pub fn todays_log(folder: &Path) -> PathBuf {
    folder.join(format!(
        "{LOG_FILE_PREFIX}.{}",
        chrono::Local::now().format("%Y-%m-%d")
    ))
}

/// Why the log could not start (then only standard error gets the messages).
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{}: {why}", folder.display())]
    Folder { folder: PathBuf, why: String },
    #[error("a log was already started: {0}")]
    AlreadyStarted(String),
}

/// Starts the log in `folder` and records panics there; the folder, or why there is none.
pub fn start(folder: &Path) -> Result<PathBuf, LogError> {
    let folder_error = |why: String| LogError::Folder {
        folder: folder.to_path_buf(),
        why,
    };
    std::fs::create_dir_all(folder).map_err(|err| folder_error(err.to_string()))?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix(LOG_FILE_PREFIX)
        .max_log_files(KEPT_DAYS)
        .build(folder)
        .map_err(|err| folder_error(err.to_string()))?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let to_file = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_timer(LocalTime)
        .with_writer(appender);
    let to_terminal = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr.with_max_level(tracing::Level::WARN))
        .without_time()
        // Only the app's own warnings and errors (the libraries' are in the file), and what
        // ends the app only once, as the command line's last line.
        .with_filter(tracing_subscriber::filter::filter_fn(|record| {
            record.target().starts_with("idc_studio") && record.target() != FILE_ONLY
        }));
    tracing_subscriber::registry()
        .with(filter)
        .with(to_file)
        .with(to_terminal)
        .try_init()
        .map_err(|err| LogError::AlreadyStarted(err.to_string()))?;
    Ok(folder.to_path_buf())
}

/// The log's times in the user's local time with its offset, as the reader's clock shows them.
struct LocalTime;

impl tracing_subscriber::fmt::time::FormatTime for LocalTime {
    fn format_time(&self, writer: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        write!(
            writer,
            "{}",
            chrono::Local::now().format("%Y-%m-%dT%H:%M:%S%.3f%:z")
        )
    }
}

/// Records a panic with its backtrace in the log, then calls `show` (the app names the log
/// file in a dialog). A panic of a worker thread is caught where the worker runs and shown as
/// an error; this is for the rest.
pub fn record_panics(log: PathBuf, show: impl Fn(&str, &Path) + Send + Sync + 'static) {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let backtrace = std::backtrace::Backtrace::force_capture();
        let thread = std::thread::current();
        let message = format!("thread '{}' panicked: {info}", thread.name().unwrap_or("unnamed"));
        tracing::error!("{message}\n{backtrace}");
        default_hook(info);
        // Worker threads' panics are caught and reported by the app itself.
        if thread.name() == Some("main") {
            show(&message, &todays_log(&log));
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn todays_log_is_named_by_the_date() {
        let path = todays_log(Path::new("/logs"));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("idc-studio.log.20"), "{name}");
        assert_eq!(name.len(), "idc-studio.log.2026-12-05".len());
    }
}
