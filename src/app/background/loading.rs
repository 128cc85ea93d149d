//! Opening a dataset off the UI thread: generating the demo dataset on first use, then scanning
//! and decoding every patch, with progress for the UI.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError, channel};

use crate::dataset::Dataset;
use crate::dataset::demo::{DemoConfig, ensure_demo_dataset};
use crate::dataset::scan::ScanProgress;
use crate::dataset::scan_dataset;

enum LoadMessage {
    Generating,
    Scanning(ScanProgress),
    Done(Box<Result<Dataset, String>>),
}

/// A dataset being opened.
pub struct DatasetLoad {
    pub folder: PathBuf,
    pub generating: bool,
    pub progress: Option<ScanProgress>,
    messages: Receiver<LoadMessage>,
}

/// How a load ended.
pub enum LoadOutcome {
    Pending,
    Ready(Arc<Dataset>),
    Failed(String),
}

impl DatasetLoad {
    /// Scans `folder`; with `demo`, first generates the demo dataset there if it is not yet.
    pub fn start(folder: PathBuf, demo: bool, ctx: &egui::Context) -> Self {
        let (sender, messages) = channel();
        let worker_folder = folder.clone();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("idc-dataset-scan".into())
            .spawn(move || {
                let outcome = load(&worker_folder, demo, &sender, &ctx);
                let _ = sender.send(LoadMessage::Done(Box::new(outcome)));
                ctx.request_repaint();
            });
        let load = Self {
            folder,
            generating: false,
            progress: None,
            messages,
        };
        if let Err(err) = spawned {
            eprintln!("error: could not start the scan thread: {err}");
        }
        load
    }

    /// Takes in the worker's news; call once per frame.
    pub fn poll(&mut self) -> LoadOutcome {
        loop {
            match self.messages.try_recv() {
                Ok(LoadMessage::Generating) => self.generating = true,
                Ok(LoadMessage::Scanning(progress)) => {
                    self.generating = false;
                    self.progress = Some(progress);
                }
                Ok(LoadMessage::Done(outcome)) => {
                    return match *outcome {
                        Ok(dataset) => LoadOutcome::Ready(Arc::new(dataset)),
                        Err(message) => LoadOutcome::Failed(message),
                    };
                }
                Err(TryRecvError::Empty) => return LoadOutcome::Pending,
                Err(TryRecvError::Disconnected) => {
                    return LoadOutcome::Failed(format!(
                        "{}: the scan stopped unexpectedly",
                        self.folder.display()
                    ));
                }
            }
        }
    }
}

fn load(
    folder: &std::path::Path,
    demo: bool,
    sender: &std::sync::mpsc::Sender<LoadMessage>,
    ctx: &egui::Context,
) -> Result<Dataset, String> {
    if demo {
        let _ = sender.send(LoadMessage::Generating);
        ctx.request_repaint();
        ensure_demo_dataset(folder, &DemoConfig::default()).map_err(|err| format!("{err:#}"))?;
    }
    let report_progress = |progress: ScanProgress| {
        let _ = sender.send(LoadMessage::Scanning(progress));
        ctx.request_repaint();
    };
    let (store, report) = scan_dataset(folder, &report_progress).map_err(|err| format!("{err:#}"))?;
    if store.is_empty() {
        return Err(format!(
            "{}: no usable patches found (expected <patient>/<0|1>/<patient>_idx5_x<X>_y<Y>_class<C>.png)",
            folder.display()
        ));
    }
    Ok(Dataset::new(store, report))
}
