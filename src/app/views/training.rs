//! The training view: hyper-parameters and device, Start and Stop, live loss and accuracy plots
//! with linked axes, progress with speed and ETA, and the past runs (reopen, resume).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};

use egui_plot::{Legend, Line, Plot, Points};

use crate::app::background::task::{Finished, Task, take_finished};
use crate::app::state::settings::Settings;
use crate::app::state::training_monitor::{Phase, TrainingMonitor};
use crate::app::state::workspace::{Command, Workspace};
use crate::app::widgets::progress::progress_bar;
use crate::app::widgets::runs_table::{RunAction, RunsTable};
use crate::dataset::stain::{StainAugment, StainNormalisation};
use crate::dataset::{LabelSource, SplitKind};
use crate::model::{DeviceChoice, select_device};
use crate::training::events::format_duration;
use crate::training::{
    EpochMetrics, RunFolder, RunOutcome, RunSummary, StepMetrics, TrainConfig, TrainingEvent, TrainingHandle,
    TrainingJob, list_runs, spawn_training,
};

type RunLogs = Result<(PathBuf, Vec<EpochMetrics>, Vec<StepMetrics>), String>;

pub struct TrainingView {
    form: TrainConfig,
    handle: Option<TrainingHandle>,
    events: Option<Receiver<TrainingEvent>>,
    monitor: TrainingMonitor,
    device_probe: Option<Task<(String, Option<String>)>>,
    found_device: Option<String>,
    runs: Vec<RunSummary>,
    runs_table: RunsTable,
    runs_task: Option<Task<Vec<RunSummary>>>,
    /// List the runs folder again on the next frame.
    refresh_runs: bool,
    /// A past run whose epoch log the plots should show.
    pending_log: Option<PathBuf>,
    log_task: Option<Task<RunLogs>>,
    folder_dialog: Option<Task<Option<PathBuf>>>,
}

impl TrainingView {
    pub fn new(settings: &Settings) -> Self {
        Self {
            form: settings.training.clone(),
            handle: None,
            events: None,
            monitor: TrainingMonitor::default(),
            device_probe: None,
            found_device: None,
            runs: Vec::new(),
            runs_table: RunsTable::default(),
            runs_task: None,
            refresh_runs: true,
            pending_log: None,
            log_task: None,
            folder_dialog: None,
        }
    }

    pub fn monitor(&self) -> &TrainingMonitor {
        &self.monitor
    }

    pub fn is_running(&self) -> bool {
        self.handle.is_some()
    }

    pub fn runs(&self) -> &[RunSummary] {
        &self.runs
    }

    /// The hyper-parameters in the form (the screenshot tour fills it in like a person would).
    pub fn form_mut(&mut self) -> &mut TrainConfig {
        &mut self.form
    }

    /// Shows a past run's epoch curves, unless a training is running.
    pub fn show_run_log(&mut self, folder: &Path) {
        // A run that just finished here keeps its live, per-batch curves.
        let showing = self.monitor.run_dir.as_deref() == Some(folder);
        if !self.is_running() && !showing {
            self.pending_log = Some(folder.to_path_buf());
        }
    }

    /// Takes in background results and the worker's events; runs every frame, whatever the view.
    pub fn poll(&mut self, ctx: &egui::Context, ws: &mut Workspace) {
        if let Some(events) = &self.events {
            for event in events.try_iter() {
                match &event {
                    TrainingEvent::Finished { run_dir, .. } => ws.send(Command::OpenRun(run_dir.clone())),
                    TrainingEvent::Failed { message } => ws.error(format!("training failed: {message}")),
                    TrainingEvent::Warning { message } => ws.info(format!("training: {message}")),
                    _ => {}
                }
                self.monitor.apply(event);
            }
        }
        let ended = matches!(
            self.monitor.phase,
            Phase::Finished { .. } | Phase::Stopped { .. } | Phase::Failed(_)
        );
        if ended && let Some(handle) = self.handle.take() {
            // The worker has sent its last event: joining only reaps the thread.
            if let Ok(RunOutcome::Stopped { completed_epochs }) = handle.join() {
                ws.info(format!(
                    "training stopped; {completed_epochs} finished epochs are saved and can be resumed"
                ));
            }
            self.events = None;
            self.refresh_runs = true;
        }

        if self.device_probe.is_none() && self.found_device.is_none() {
            self.device_probe = Some(Task::spawn("idc-device-probe", ctx, || {
                let found = select_device(DeviceChoice::Auto)
                    .map_or_else(|err| err.to_string(), |found| found.description);
                (found, crate::model::device::why_no_gpu())
            }));
        }
        match take_finished(&mut self.device_probe) {
            Finished::NotYet => {}
            Finished::Done((found, no_gpu)) => {
                self.found_device = Some(found);
                if let Some(why) = no_gpu {
                    // Said once a launch, in words: a first-time user wonders why training is slow.
                    ws.info(format!(
                        "No GPU was found, so training will run on the CPU (slower, with the same results): {why}."
                    ));
                }
            }
            Finished::Failed(why) => {
                self.found_device = Some(format!("no GPU (the adapter probe failed: {why})"))
            }
        }

        if std::mem::take(&mut self.refresh_runs) {
            let folder = ws.settings.runs_folder.clone();
            self.runs_task = Some(Task::spawn("idc-list-runs", ctx, move || list_runs(&folder)));
        }
        match take_finished(&mut self.runs_task) {
            Finished::NotYet => {}
            Finished::Done(runs) => self.runs = runs,
            Finished::Failed(why) => ws.error(format!("the runs could not be listed: {why}")),
        }

        if let Some(folder) = self.pending_log.take() {
            self.log_task = Some(Task::spawn("idc-read-epochs", ctx, move || {
                let run = RunFolder::new(&folder);
                // An imported run was never trained here: it has no curves to plot.
                if run.read_info().is_ok_and(|info| info.is_imported()) {
                    return Ok((folder, Vec::new(), Vec::new()));
                }
                let epochs = run.read_epochs().map_err(|err| err.to_string())?;
                let steps = run.read_steps().map_err(|err| err.to_string())?;
                Ok((folder, epochs, steps))
            }));
        }
        match take_finished(&mut self.log_task) {
            Finished::Done(Ok((folder, epochs, steps))) if !self.is_running() => {
                self.monitor = TrainingMonitor::from_logs(folder, epochs, &steps);
            }
            Finished::Done(Err(message)) => ws.error(message),
            Finished::Failed(why) => ws.error(format!("the run's epochs could not be read: {why}")),
            _ => {}
        }
    }

    /// Stops a running training and waits for it to save its checkpoint.
    pub fn stop_and_wait(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.stop();
            let _ = handle.join();
        }
    }

    /// Asks the running training to stop after its current batch.
    pub fn request_stop(&self) {
        if let Some(handle) = &self.handle {
            handle.stop();
        }
    }

    /// The compute device found for "auto", once looked for.
    pub fn found_device(&self) -> Option<&str> {
        self.found_device.as_deref()
    }

    /// Starts training on the open dataset with the form's settings, in a new run folder (or
    /// resuming `resume`).
    pub fn start(&mut self, ctx: &egui::Context, ws: &mut Workspace, resume: Option<PathBuf>) {
        if self.is_running() {
            return;
        }
        let Some(dataset) = ws.dataset.clone() else {
            ws.error("open a dataset before training");
            return;
        };
        if let Err(message) = self.form.validate() {
            ws.error(format!("invalid settings: {message}"));
            return;
        }
        let runs_folder = ws.settings.runs_folder.clone();
        if let Err(err) = std::fs::create_dir_all(&runs_folder) {
            ws.error(format!("{}: {err}", runs_folder.display()));
            return;
        }
        // A resumed run keeps its recorded settings; the form gives only its epochs and device.
        let config = match &resume {
            Some(run_dir) => match RunFolder::new(run_dir).read_info() {
                Ok(info) => TrainConfig {
                    epochs: self.form.epochs,
                    device: self.form.device,
                    ..info.config
                },
                Err(err) => {
                    ws.error(err.to_string());
                    return;
                }
            },
            None => self.form.clone(),
        };
        // The readers' corrections as they are now; the run records them in its folder.
        let corrections = match (&config.labels, &ws.annotating.reviews, &resume) {
            (LabelSource::Reviewed { reader }, Some(reviews), None) => {
                crate::review::reviewed_corrections(reviews, reader.as_deref())
            }
            _ => Vec::new(),
        };
        let (sender, events) = channel();
        let wake = ctx.clone();
        let job = TrainingJob {
            store: dataset.store.clone(),
            corrections,
            config,
            // A new run gets a folder of its own in the runs folder, named for now.
            run_dir: resume.clone().unwrap_or(runs_folder),
            resume: resume.is_some(),
            in_runs_folder: resume.is_none(),
            stain_folder: Some(crate::dataset::stain::patient_stains::stain_folder(
                &crate::review::annotations_folder(dataset.store.root(), &crate::user_folders::data_home()),
            )),
        };
        match spawn_training(job, move |event| {
            let _ = sender.send(event);
            wake.request_repaint();
        }) {
            Ok(handle) => {
                self.handle = Some(handle);
                self.events = Some(events);
                self.monitor = TrainingMonitor {
                    phase: Phase::Starting,
                    ..TrainingMonitor::default()
                };
                ws.settings.training = self.form.clone();
                ws.save_settings();
                self.refresh_runs = true;
            }
            Err(err) => ws.error(format!("could not start the training thread: {err}")),
        }
    }

    pub fn show(&mut self, ui: &mut egui::Ui, ws: &mut Workspace) {
        self.take_folder_choice(ws);
        egui::Panel::left("training-settings")
            .default_size(270.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    self.settings_ui(ui, ws);
                });
            });
        egui::Panel::bottom("training-runs")
            .resizable(true)
            .default_size(320.0)
            .min_size(240.0)
            .show(ui, |ui| self.runs_ui(ui, ws));
        egui::CentralPanel::default().show(ui, |ui| {
            self.progress_ui(ui);
            self.plots_ui(ui);
        });
    }

    fn settings_ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace) {
        ui.heading("Settings");
        let running = self.is_running();
        ui.add_enabled_ui(!running, |ui| {
            egui::Grid::new("hyper-parameters").num_columns(2).show(ui, |ui| {
                let label = ui.label("Epochs");
                ui.add(egui::DragValue::new(&mut self.form.epochs).range(1..=1000))
                    .labelled_by(label.id);
                ui.end_row();
                let label = ui.label("Batch size");
                ui.add(egui::DragValue::new(&mut self.form.batch_size).range(1..=4096))
                    .labelled_by(label.id);
                ui.end_row();
                let label = ui.label("Learning rate");
                ui.add(
                    egui::DragValue::new(&mut self.form.learning_rate)
                        .range(1e-6..=1.0)
                        .speed(1e-4)
                        .max_decimals(6),
                )
                .labelled_by(label.id);
                ui.end_row();
                ui.label("Split");
                ui.horizontal(|ui| {
                    ui.selectable_value(&mut self.form.split, SplitKind::Patient, "by patient")
                        .on_hover_text("No patient in two parts: an honest test (the default).");
                    ui.selectable_value(&mut self.form.split, SplitKind::Patch, "by patch")
                        .on_hover_text("The tutorial's split: neighbouring patches leak into the test part.");
                });
                ui.end_row();
                let label = ui.label("Seed");
                ui.add(egui::DragValue::new(&mut self.form.seed))
                    .labelled_by(label.id);
                ui.end_row();
                ui.label("Device");
                ui.horizontal(|ui| {
                    ui.selectable_value(&mut self.form.device, DeviceChoice::Auto, "auto");
                    ui.selectable_value(&mut self.form.device, DeviceChoice::Gpu, "GPU");
                    ui.selectable_value(&mut self.form.device, DeviceChoice::Cpu, "CPU");
                });
                ui.end_row();
                ui.label("Augmentation");
                ui.checkbox(&mut self.form.augment, "rotate, shift, zoom, flip");
                ui.end_row();
                stain_rows_ui(ui, &mut self.form);
                labels_row_ui(ui, &mut self.form, ws);
            });
        });
        match &self.found_device {
            Some(found) => ui.label(format!("Found: {found}")),
            None => ui.label("Looking for a GPU…"),
        };
        ui.horizontal(|ui| {
            ui.label("Runs go to");
            ui.label(egui::RichText::new(ws.settings.runs_folder.display().to_string()).weak());
        });
        ui.add_enabled_ui(!running && self.folder_dialog.is_none(), |ui| {
            if ui.button("Change folder…").clicked() {
                self.folder_dialog = Some(Task::spawn("idc-folder-dialog", ui.ctx(), || {
                    rfd::FileDialog::new()
                        .set_title("Folder for training runs")
                        .pick_folder()
                }));
            }
        });
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            let can_start = !running && ws.dataset.is_some();
            if ui
                .add_enabled(can_start, egui::Button::new("Start training"))
                .on_disabled_hover_text("Open a dataset first; one training at a time.")
                .clicked()
            {
                self.start(ui.ctx(), ws, None);
            }
            if ui.add_enabled(running, egui::Button::new("Stop")).clicked() {
                self.request_stop();
            }
        });
    }

    fn take_folder_choice(&mut self, ws: &mut Workspace) {
        match take_finished(&mut self.folder_dialog) {
            Finished::NotYet | Finished::Done(None) => {}
            Finished::Done(Some(folder)) => {
                ws.settings.runs_folder = folder;
                ws.save_settings();
                self.refresh_runs = true;
            }
            Finished::Failed(why) => ws.error(format!("the folder dialog could not be shown: {why}")),
        }
    }

    fn runs_ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace) {
        ui.horizontal(|ui| {
            ui.heading("Runs");
            ui.weak(ws.settings.runs_folder.display().to_string());
            if ui.small_button("Refresh").clicked() {
                self.refresh_runs = true;
            }
        });
        if self.runs.is_empty() {
            ui.weak("No runs yet in this folder.");
            return;
        }
        let can_resume = !self.is_running() && ws.dataset.is_some();
        egui::ScrollArea::both().id_salt("runs-scroll").show(ui, |ui| {
            match self.runs_table.ui(ui, &self.runs, can_resume) {
                Some(RunAction::Open(folder)) => ws.send(Command::OpenRun(folder)),
                Some(RunAction::Resume(folder)) => self.start(ui.ctx(), ws, Some(folder)),
                Some(RunAction::Curves(folder)) => self.pending_log = Some(folder),
                None => {}
            }
            self.runs_table.overlay_ui(ui, &self.runs);
        });
    }

    fn progress_ui(&mut self, ui: &mut egui::Ui) {
        let monitor = &self.monitor;
        match &monitor.phase {
            Phase::Idle if monitor.epoch_log.is_empty() => {
                ui.label("Set the hyper-parameters and press Start training.");
            }
            Phase::Idle => {
                if let Some(run) = &monitor.run_dir {
                    ui.label(format!("Epochs of {}", run.display()));
                }
            }
            Phase::Starting => match monitor.stain_estimate {
                Some((done, total)) => {
                    let text =
                        format!("Estimating each patient's stain (Macenko): {done} of {total} patients");
                    progress_bar(ui, done as f32 / total.max(1) as f32, text, None);
                }
                None => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("Starting: choosing the device, splitting the data…");
                    });
                }
            },
            Phase::Training => {
                ui.label(format!(
                    "Training on {} · train {}, validation {}, test {} patches",
                    monitor.device, monitor.split_sizes[0], monitor.split_sizes[1], monitor.split_sizes[2]
                ));
                let text = format!(
                    "epoch {}/{} · batch {}/{} · {:.0} images/s · ETA {}",
                    monitor.epoch,
                    monitor.epochs,
                    monitor.batch,
                    monitor.batches_per_epoch,
                    monitor.images_per_sec,
                    format_duration(monitor.eta_secs)
                );
                progress_bar(ui, monitor.progress(), text, None);
                if let Some(note) = monitor.gpu_warm_up_note() {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label(note);
                    });
                }
            }
            Phase::Evaluating { patches } => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!(
                        "Predicting the {patches} validation and test patches with the best model…"
                    ));
                });
            }
            Phase::Finished { metrics } => {
                ui.label(format!(
                    "Finished: test accuracy {:.3}, sensitivity {:.3}, specificity {:.3}. Opened in Review.",
                    metrics.accuracy, metrics.sensitivity, metrics.specificity
                ));
            }
            Phase::Stopped { epoch, batch } => {
                ui.label(format!(
                    "Stopped at epoch {epoch}, batch {batch}; resume it from the run list."
                ));
            }
            Phase::Failed(message) => {
                ui.colored_label(ui.visuals().error_fg_color, format!("Training failed: {message}"));
            }
        }
    }

    fn plots_ui(&mut self, ui: &mut egui::Ui) {
        let monitor = &self.monitor;
        let group = egui::Id::unique("training-plots");
        let height = ((ui.available_height() - 20.0) / 2.0).max(120.0);
        let validation_loss = monitor.validation_loss();
        let validation_accuracy = monitor.validation_accuracy();
        if monitor.train_loss.points().is_empty() && validation_loss.is_empty() {
            // Empty axes read as a plot of nothing (a loss of -0.5 to 0.5): say what comes here.
            plots_placeholder(ui, 2.0 * height + ui.spacing().item_spacing.y);
            return;
        }
        Plot::new("loss-plot")
            .height(height)
            .legend(Legend::default())
            .link_axis(group, [true, false])
            .link_cursor(group, [true, false])
            .y_axis_label("loss")
            .include_y(0.0)
            .show(ui, |plot| {
                plot.line(Line::new(
                    "training loss (per batch)",
                    monitor.train_loss.points(),
                ));
                plot.line(Line::new("validation loss", validation_loss.clone()));
                plot.points(Points::new("validation loss (epoch end)", validation_loss).radius(4.0));
            });
        Plot::new("accuracy-plot")
            .height(height)
            .legend(Legend::default())
            .link_axis(group, [true, false])
            .link_cursor(group, [true, false])
            .x_axis_label("epoch")
            .y_axis_label("accuracy")
            .include_y(0.0)
            .include_y(1.0)
            .show(ui, |plot| {
                plot.line(Line::new(
                    "training accuracy (per batch)",
                    monitor.train_accuracy.points(),
                ));
                plot.line(Line::new("validation accuracy", validation_accuracy.clone()));
                plot.points(Points::new("validation accuracy (epoch end)", validation_accuracy).radius(4.0));
            });
    }
}

/// The plots' place before any batch has trained: a frame saying what will show there.
fn plots_placeholder(ui: &mut egui::Ui, height: f32) {
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_min_size(egui::vec2(ui.available_width(), height));
        ui.centered_and_justified(|ui| {
            ui.weak("Loss and accuracy plot here, batch by batch, once a training starts or a run's curves are opened.");
        });
    });
}

/// The form's stain rows: augmentation and normalisation, each choice with what it does.
fn stain_rows_ui(ui: &mut egui::Ui, form: &mut TrainConfig) {
    ui.label("Stain augmentation");
    ui.horizontal(|ui| {
        for (choice, hint) in [
            (StainAugment::None, "Patches keep their colours."),
            (
                StainAugment::Light,
                "Each training patch re-stained at random: haematoxylin and eosin by up to 5%, brightness and contrast by 5% (Tellez et al. 2019).",
            ),
            (
                StainAugment::Strong,
                "Up to 20% per stain, 15% brightness and contrast: for datasets from several labs.",
            ),
        ] {
            ui.selectable_value(&mut form.stain_augment, choice, choice.name())
                .on_hover_text(hint);
        }
    });
    ui.end_row();
    ui.label("Stain normalisation");
    ui.horizontal(|ui| {
        ui.selectable_value(&mut form.normalize_stain, StainNormalisation::None, "none")
            .on_hover_text("Patches as scanned.");
        ui.selectable_value(&mut form.normalize_stain, StainNormalisation::Macenko, "Macenko")
            .on_hover_text(
                "Each patient's stain estimated from all its patches and mapped onto one reference, \
                 in training and in every prediction of the run.",
            );
    });
    ui.end_row();
}

/// The form's labels row: the dataset's, the readers' consensus or one reader's.
fn labels_row_ui(ui: &mut egui::Ui, form: &mut TrainConfig, ws: &Workspace) {
    ui.label("Labels");
    let readers: Vec<String> = ws.annotating.reviews.as_ref().map_or_else(Vec::new, |reviews| {
        reviews.readers().map(str::to_string).collect()
    });
    egui::ComboBox::from_id_salt("labels")
        .selected_text(labels_choice_name(&form.labels))
        .show_ui(ui, |ui| {
            let mut choices = vec![LabelSource::Dataset, LabelSource::Reviewed { reader: None }];
            choices.extend(readers.into_iter().map(|reader| LabelSource::Reviewed {
                reader: Some(reader),
            }));
            for choice in choices {
                let name = labels_choice_name(&choice);
                ui.selectable_value(&mut form.labels, choice, name);
            }
        })
        .response
        .on_hover_text(
            "As reviewed: the readers' relabels apply, and patches judged unsure (or disputed between readers) are left out.",
        );
    ui.end_row();
}

/// How a choice of labels reads in the form.
fn labels_choice_name(labels: &LabelSource) -> String {
    match labels {
        LabelSource::Dataset => "as in the dataset".into(),
        LabelSource::Reviewed { reader: None } => "as reviewed (consensus)".into(),
        LabelSource::Reviewed { reader: Some(reader) } => format!("as reviewed by {reader}"),
    }
}
