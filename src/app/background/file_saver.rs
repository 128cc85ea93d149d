//! Writes files off the UI thread: every save is atomic (temporary file, fsync, rename), and a
//! burst of saves to the same file (a note typed key by key) is written once, latest content.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use crate::atomic_file::write_atomic;

/// The outcome of one write.
#[derive(Debug, Clone, PartialEq)]
pub enum SaveReport {
    Saved(PathBuf),
    Failed { path: PathBuf, why: String },
}

pub struct FileSaver {
    requests: Sender<(PathBuf, Vec<u8>)>,
    reports: Receiver<SaveReport>,
    /// Saves asked for and not yet on disk.
    pending: Arc<AtomicUsize>,
}

impl FileSaver {
    /// Starts the writer thread; `wake` is called after every write (to repaint the UI).
    pub fn new(wake: impl Fn() + Send + 'static) -> std::io::Result<Self> {
        let (requests, incoming) = channel::<(PathBuf, Vec<u8>)>();
        let (report, reports) = channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::clone(&pending);
        std::thread::Builder::new()
            .name("idc-file-saver".into())
            .spawn(move || {
                while let Ok(first) = incoming.recv() {
                    let mut latest: HashMap<PathBuf, Vec<u8>> = HashMap::new();
                    let mut taken = 1;
                    latest.insert(first.0, first.1);
                    while let Ok((path, bytes)) = incoming.try_recv() {
                        latest.insert(path, bytes);
                        taken += 1;
                    }
                    for (path, bytes) in latest {
                        let outcome = match write_atomic(&path, &bytes) {
                            Ok(()) => SaveReport::Saved(path),
                            Err(err) => SaveReport::Failed {
                                path,
                                why: err.to_string(),
                            },
                        };
                        let _ = report.send(outcome);
                    }
                    in_flight.fetch_sub(taken, Ordering::SeqCst);
                    wake();
                }
            })?;
        Ok(Self {
            requests,
            reports,
            pending,
        })
    }

    /// Queues `bytes` to replace the content of `path`.
    pub fn save(&self, path: PathBuf, bytes: Vec<u8>) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        if self.requests.send((path.clone(), bytes)).is_err() {
            // The writer thread is gone (it never panics on I/O errors); say so rather than lose it.
            self.pending.fetch_sub(1, Ordering::SeqCst);
            eprintln!("error: {}: the file writer has stopped", path.display());
        }
    }

    /// Reports of writes finished since the last call.
    pub fn finished(&self) -> Vec<SaveReport> {
        self.reports.try_iter().collect()
    }

    pub fn is_idle(&self) -> bool {
        self.pending.load(Ordering::SeqCst) == 0
    }

    /// Waits until everything queued is on disk, at most `limit`; true if it all is.
    pub fn flush(&self, limit: Duration) -> bool {
        let start = Instant::now();
        while !self.is_idle() {
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_reach_the_disk_with_the_latest_content() {
        let dir = tempfile::tempdir().unwrap();
        let saver = FileSaver::new(|| {}).unwrap();
        let path = dir.path().join("notes.json");
        for text in ["a", "ab", "abc"] {
            saver.save(path.clone(), text.as_bytes().to_vec());
        }
        assert!(saver.flush(Duration::from_secs(10)));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "abc");
        assert!(saver.finished().contains(&SaveReport::Saved(path)));
    }

    #[test]
    fn a_failed_write_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let saver = FileSaver::new(|| {}).unwrap();
        let path = dir.path().join("missing-folder/notes.json");
        saver.save(path.clone(), b"x".to_vec());
        assert!(saver.flush(Duration::from_secs(10)));
        assert!(
            matches!(&saver.finished()[..], [SaveReport::Failed { path: failed, .. }] if *failed == path)
        );
    }
}
