//! The app shell: launch options, the top bar with the views, the status bar, and the once-per-
//! frame work of taking in background results and applying the views' commands.

mod access;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::app::background::file_saver::{FileSaver, SaveReport};
use crate::app::background::loading::{DatasetLoad, LoadOutcome};
use crate::app::background::task::{Finished, Task, take_finished};
use crate::app::frame_times::FrameTimes;
use crate::app::menus::ShellWindows;
use crate::app::reader_prompt::ReaderPrompt;
use crate::app::shortcuts::{self, Action};
use crate::app::state::workspace::{Command, View, Workspace};
use crate::app::tour::Tour;
use crate::app::views::map::MapView;
use crate::app::views::patients::{PatientTab, PatientsView};
use crate::app::views::review::ReviewView;
use crate::app::views::review::lists::{ListKind, ReviewList};
use crate::app::views::training::TrainingView;
use crate::app::views::welcome::WelcomeView;
use crate::dataset::Dataset;
use crate::dataset::demo::default_demo_dir;
use crate::review::OpenRun;

/// How the app was started.
#[derive(Debug, Clone, Default)]
pub struct LaunchOptions {
    /// Open this dataset folder.
    pub data: Option<PathBuf>,
    /// Open the built-in demo dataset (generated on first use).
    pub demo: bool,
    /// Open this run in Review.
    pub run: Option<PathBuf>,
    /// Reopen the last dataset and run when nothing else is asked for.
    pub restore_last: bool,
    /// Settings file (default: the user's config folder).
    pub settings_path: Option<PathBuf>,
    /// Folder for training runs (default: the remembered one).
    pub runs_folder: Option<PathBuf>,
    /// Where the demo dataset lives (default: the user's data folder).
    pub demo_dir: Option<PathBuf>,
    /// Walk through every view, saving a screenshot of each here, then close.
    pub screenshot_tour: Option<PathBuf>,
    /// Where the log file is written (none: standard error only).
    pub log_folder: Option<PathBuf>,
}

type RunLoad = Task<Result<OpenRun, crate::training::run_folder::RunFileError>>;

pub struct StudioApp {
    pub(super) ws: Workspace,
    pub(super) view: View,
    ctx: Arc<OnceLock<egui::Context>>,
    launch: Option<LaunchOptions>,
    pub(super) demo_dir: PathBuf,
    pub(super) loading: Option<DatasetLoad>,
    run_load: Option<RunLoad>,
    /// A run to open once the dataset it needs is loaded.
    pending_run: Option<PathBuf>,
    /// The dataset already opened for `pending_run`: asked for once, never in a loop.
    run_dataset_tried: Option<PathBuf>,
    pub(super) welcome: WelcomeView,
    pub(super) patients: PatientsView,
    pub(super) training: TrainingView,
    pub(super) review: ReviewView,
    pub(super) map: MapView,
    pub(super) frame_times: FrameTimes,
    pub(super) tour: Option<Tour>,
    reader_prompt: ReaderPrompt,
    pub(super) windows: ShellWindows,
    pub(super) log_folder: Option<PathBuf>,
    /// The keyboard sheet ("?").
    pub(super) show_shortcuts: bool,
    /// A run whose own older annotations wait for the reader's name to be imported.
    pending_import: Option<PathBuf>,
    /// When the app was created, for the log's start-up times.
    created: Instant,
    first_frame_logged: bool,
}

impl StudioApp {
    pub fn new(options: LaunchOptions) -> anyhow::Result<Self> {
        let ctx: Arc<OnceLock<egui::Context>> = Arc::new(OnceLock::new());
        let wake = Arc::clone(&ctx);
        let saver = FileSaver::new(move || {
            if let Some(ctx) = wake.get() {
                ctx.request_repaint();
            }
        })?;
        let mut ws = Workspace::new(options.settings_path.clone(), saver);
        if let Some(folder) = &options.runs_folder {
            ws.settings.runs_folder = folder.clone();
        }
        let demo_dir = options.demo_dir.clone().unwrap_or_else(default_demo_dir);
        let tour = options.screenshot_tour.clone().map(Tour::new);
        let log_folder = options.log_folder.clone();
        Ok(Self {
            training: TrainingView::new(&ws.settings),
            ws,
            view: View::Welcome,
            ctx,
            launch: Some(options),
            demo_dir,
            loading: None,
            run_load: None,
            pending_run: None,
            run_dataset_tried: None,
            welcome: WelcomeView::default(),
            patients: PatientsView::default(),
            review: ReviewView::default(),
            map: MapView::default(),
            frame_times: FrameTimes::default(),
            tour,
            reader_prompt: ReaderPrompt::default(),
            windows: ShellWindows::default(),
            log_folder,
            show_shortcuts: false,
            pending_import: None,
            created: Instant::now(),
            first_frame_logged: false,
        })
    }

    /// Draws one frame into `ui` (the whole window).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let started = Instant::now();
        let ctx = ui.ctx().clone();
        if self.ctx.get().is_none() {
            let _ = self.ctx.set(ctx.clone());
        }
        if !self.first_frame_logged {
            self.first_frame_logged = true;
            tracing::info!(
                "first frame after {:.0} ms",
                self.created.elapsed().as_secs_f64() * 1e3
            );
            // Checks the crash path end to end (log, backtrace, dialog) without a real bug.
            if std::env::var_os("IDC_STUDIO_CRASH_TEST").is_some() {
                panic!("a crash asked for by IDC_STUDIO_CRASH_TEST");
            }
        }
        if let Some(launch) = self.launch.take() {
            self.apply_launch(launch);
        }
        self.apply_theme(&ctx);
        self.take_in_background_results(&ctx);
        self.ws.refresh_reviews();
        self.import_pending_annotations();
        self.ws.update_marks();
        let actions = self.keyboard_actions(&ctx);

        egui::Panel::top("top-bar").show(ui, |ui| self.top_bar_ui(ui));
        egui::Panel::bottom("status-bar").show(ui, |ui| self.status_bar_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(load) = &self.loading {
                loading_ui(ui, load);
                return;
            }
            match self.view {
                View::Welcome => self.welcome.show(ui, &mut self.ws, &self.demo_dir),
                View::Patients => self.patients.show(ui, &mut self.ws, &actions),
                View::Training => self.training.show(ui, &mut self.ws),
                View::Review => self.review.show(ui, &mut self.ws, &actions),
                View::Map => {
                    let label_issues = self.review.label_issues().rows();
                    self.map.show(ui, &mut self.ws, &actions, label_issues)
                }
            }
        });
        self.reader_prompt.show(&ctx, &mut self.ws);
        self.shell_windows(&ctx);
        shortcuts::sheet_ui(&ctx, &mut self.show_shortcuts);

        self.apply_commands();
        if self.tour.is_some() {
            self.drive_tour(&ctx);
        }
        self.frame_times.record(started.elapsed());
    }

    /// True while a dataset or run is being opened.
    pub fn is_loading(&self) -> bool {
        self.loading.is_some() || self.run_load.is_some() || self.pending_run.is_some()
    }

    /// Waits until every queued file write is on disk (on exit, and in tests).
    pub fn flush_writes(&self, limit: Duration) -> bool {
        self.ws.saver.flush(limit)
    }

    /// Stops a running training and waits for its checkpoint (on exit).
    pub fn shut_down(&mut self) {
        self.training.stop_and_wait();
        if !self.flush_writes(Duration::from_secs(10)) {
            eprintln!("error: some files were still being written when the app closed");
        }
    }

    fn apply_launch(&mut self, launch: LaunchOptions) {
        if let Some(data) = launch.data {
            self.ws.send(Command::OpenDataset(data));
        } else if launch.demo {
            self.ws.send(Command::OpenDemoDataset);
        } else if launch.restore_last
            && launch.run.is_none()
            && let Some(last) = self.ws.settings.last_dataset.clone()
            && last.is_dir()
        {
            self.ws.send(Command::OpenDataset(last));
            if let Some(run) = self.ws.settings.last_run.clone()
                && run.is_dir()
            {
                self.pending_run = Some(run);
            }
        }
        if let Some(run) = launch.run {
            self.ws.send(Command::OpenRun(run));
        }
    }

    fn take_in_background_results(&mut self, ctx: &egui::Context) {
        if let Some(load) = &mut self.loading {
            match load.poll() {
                LoadOutcome::Pending => {}
                LoadOutcome::Ready(dataset) => {
                    self.loading = None;
                    self.dataset_opened(dataset);
                }
                LoadOutcome::Failed(message) => {
                    self.loading = None;
                    self.pending_run = None;
                    self.run_dataset_tried = None;
                    self.ws.error(message);
                    self.view = View::Welcome;
                }
            }
        }
        match take_finished(&mut self.run_load) {
            Finished::NotYet => {}
            Finished::Done(Ok(run)) => self.run_opened(run),
            Finished::Done(Err(err)) => self.ws.error(err.to_string()),
            Finished::Failed(why) => self
                .ws
                .error(format!("opening the run failed unexpectedly: {why}")),
        }
        if self.loading.is_none() && self.run_load.is_none() {
            self.start_pending_run(ctx);
        }
        for report in self.ws.saver.finished() {
            if let SaveReport::Failed { path, why } = report {
                self.ws.error(format!("could not save {}: {why}", path.display()));
            }
        }
        self.training.poll(ctx, &mut self.ws);
    }

    fn dataset_opened(&mut self, dataset: Arc<Dataset>) {
        let root = dataset.store.root().to_path_buf();
        let skipped = dataset.report.skipped.len();
        tracing::info!(
            "dataset open {:.0} ms after the app started",
            self.created.elapsed().as_secs_f64() * 1e3
        );
        self.ws.info(format!(
            "opened {}: {} patients, {} patches{}",
            root.display(),
            dataset.summaries.len(),
            dataset.store.len(),
            if skipped > 0 {
                format!(", {skipped} files skipped (see the scan report)")
            } else {
                String::new()
            }
        ));
        self.ws.tiles.clear();
        self.ws.run = None;
        self.open_annotations(&root);
        self.ws.dataset = Some(dataset);
        self.patients.dataset_changed();
        self.review.run_changed(&self.ws);
        self.map = MapView::default();
        self.ws.settings.remember_dataset(&root);
        self.ws.save_settings();
        if self.view == View::Welcome {
            self.view = View::Patients;
        }
    }

    fn run_opened(&mut self, run: OpenRun) {
        let missing = run.missing_patches();
        if missing > 0 {
            self.ws.error(format!(
                "{missing} of the run's {} test patches are not in the open dataset",
                run.review.len()
            ));
        }
        self.ws.settings.last_run = Some(run.folder.root().to_path_buf());
        self.ws.save_settings();
        self.training.show_run_log(run.folder.root());
        let folder = run.folder.root().to_path_buf();
        self.ws.run = Some(run);
        self.review.run_changed(&self.ws);
        self.patients.run_changed();
        self.map.run_changed();
        self.view = View::Review;
        let has_old_annotations = folder
            .join(crate::review::annotations::RUN_ANNOTATIONS_FILE)
            .is_file();
        if has_old_annotations
            && self
                .ws
                .annotating
                .reviews
                .as_ref()
                .is_some_and(|reviews| !reviews.has_imported(&folder))
        {
            if self.ws.reader().is_none() {
                self.ws.annotating.asking_reader = true;
                self.ws
                    .info("this run holds annotations made before they belonged to the dataset: say whose they are to bring them in");
            }
            self.pending_import = Some(folder);
        }
    }

    /// Opens the dataset's annotations (beside it, or in the user's data folder when the
    /// dataset's folder is read-only).
    fn open_annotations(&mut self, root: &Path) {
        self.ws.annotating.forget_session();
        let folder = crate::review::annotations_folder(root, &crate::user_folders::data_home());
        match crate::review::Reviews::open(&folder) {
            Ok((reviews, warnings)) => {
                for warning in warnings {
                    self.ws.error(warning);
                }
                self.ws.annotating.reviews = Some(reviews);
            }
            Err(err) => {
                self.ws.annotating.reviews = None;
                self.ws.error(format!(
                    "annotations cannot be opened, so none can be made: {err}"
                ));
            }
        }
    }

    /// Brings a run folder's older annotations into the dataset's, as the current reader's,
    /// once the reader has said who they are. Nothing is lost: the run's file stays as it is.
    fn import_pending_annotations(&mut self) {
        let Some(reader) = self.ws.reader().map(str::to_string) else {
            return;
        };
        let Some(folder) = self.pending_import.take() else {
            return;
        };
        let name = folder
            .file_name()
            .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
        let Some(reviews) = self.ws.annotating.reviews.as_mut() else {
            return;
        };
        match reviews.import_run(&folder, &name, &reader) {
            Ok(0) => {}
            Ok(count) => self.ws.info(format!(
                "brought in {count} annotations from {} as {reader}'s",
                folder
                    .join(crate::review::annotations::RUN_ANNOTATIONS_FILE)
                    .display()
            )),
            Err(err) => self
                .ws
                .error(format!("the run's older annotations were not brought in: {err}")),
        }
    }

    /// This frame's shortcut keys; undo, redo and the sheet are handled here, the rest by the
    /// view that is showing.
    fn keyboard_actions(&mut self, ctx: &egui::Context) -> Vec<Action> {
        if self.loading.is_some() || self.ws.annotating.asking_reader {
            return Vec::new();
        }
        let mut for_view = Vec::new();
        for action in shortcuts::take_actions(ctx) {
            match action {
                Action::Undo => self.ws.undo(),
                Action::Redo => self.ws.redo(),
                Action::ShowShortcuts => self.show_shortcuts = !self.show_shortcuts,
                other => for_view.push(other),
            }
        }
        for_view
    }

    fn start_pending_run(&mut self, ctx: &egui::Context) {
        let Some(folder) = self.pending_run.clone() else {
            return;
        };
        let wanted = match crate::training::RunFolder::open(&folder).and_then(|run| run.read_info()) {
            Ok(info) => info.dataset,
            Err(err) => {
                self.pending_run = None;
                self.ws.error(err.to_string());
                return;
            }
        };
        let open = self
            .ws
            .dataset
            .as_ref()
            .map(|dataset| dataset.store.root().to_path_buf());
        if open.as_deref().map(canonical) != Some(canonical(&wanted)) {
            // The run was trained on another dataset: open that one first, once.
            let already_tried = self.run_dataset_tried.as_ref() == Some(&wanted);
            if already_tried {
                self.ws.error(format!(
                    "{}: the run's dataset {} did not open as the same folder",
                    folder.display(),
                    wanted.display()
                ));
            }
            if already_tried || !self.start_dataset_load(wanted.clone(), false) {
                self.pending_run = None;
                self.run_dataset_tried = None;
            } else {
                self.run_dataset_tried = Some(wanted);
            }
            return;
        }
        self.pending_run = None;
        self.run_dataset_tried = None;
        if let Some(dataset) = self.ws.dataset.clone() {
            self.run_load = Some(Task::spawn("idc-open-run", ctx, move || {
                OpenRun::load(&folder, &dataset)
            }));
        }
    }

    /// Starts opening a dataset; false (with a message) when it cannot start now.
    fn start_dataset_load(&mut self, folder: PathBuf, demo: bool) -> bool {
        if self.training.is_running() {
            self.ws.error("stop the training before opening another dataset");
            return false;
        }
        match self.ctx.get() {
            Some(ctx) => {
                self.loading = Some(DatasetLoad::start(folder, demo, ctx));
                true
            }
            None => false,
        }
    }

    fn apply_commands(&mut self) {
        for command in std::mem::take(&mut self.ws.commands) {
            match command {
                Command::Show(view) => self.view = view,
                Command::OpenDataset(folder) => {
                    self.start_dataset_load(folder, false);
                }
                Command::OpenDemoDataset => {
                    self.start_dataset_load(self.demo_dir.clone(), true);
                }
                Command::OpenRun(folder) => {
                    self.pending_run = Some(folder);
                    self.run_dataset_tried = None;
                }
                Command::ShowPatient {
                    patient,
                    patch,
                    on_slide,
                } => {
                    self.patients.select(&self.ws, patient, patch);
                    self.patients.tab = if on_slide {
                        PatientTab::Slide
                    } else {
                        PatientTab::Patches
                    };
                    self.view = View::Patients;
                }
                Command::ReviewCell(cell) => {
                    self.review.select_cell(cell);
                    self.view = View::Review;
                }
                Command::ReviewTiles { heading, tiles } => {
                    self.review
                        .show_list(ReviewList::new(ListKind::Chosen { heading }, tiles));
                    self.view = View::Review;
                }
                Command::SaveSettings => self.ws.save_settings(),
                Command::ToggleShortcuts => self.show_shortcuts = !self.show_shortcuts,
            }
        }
    }

    fn top_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("idc-studio");
            ui.separator();
            for view in View::ALL {
                if ui.selectable_label(self.view == view, view.title()).clicked() {
                    self.view = view;
                }
            }
            ui.separator();
            self.menus_ui(ui);
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if let Some(dataset) = &self.ws.dataset {
                    if dataset.store.is_synthetic() {
                        ui.colored_label(egui::Color32::from_rgb(200, 120, 0), "synthetic demo data")
                            .on_hover_text("Generated images, not real tissue: for trying the app only.");
                    }
                    ui.label(dataset.store.root().display().to_string());
                }
                if self.training.is_running() {
                    ui.spinner();
                    ui.label(format!(
                        "training {:.0}%",
                        self.training.monitor().progress() * 100.0
                    ));
                }
            });
        });
    }

    fn status_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            self.status_message_ui(ui);
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                ui.label(format!("frame {:.1} ms", self.frame_times.median_ms()))
                    .on_hover_text("Median time to build a frame, over the last few seconds.");
                if !self.ws.saver.is_idle() {
                    ui.label("saving…");
                }
            });
        });
    }
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

fn loading_ui(ui: &mut egui::Ui, load: &DatasetLoad) {
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() / 3.0);
        if load.generating {
            ui.heading("Generating the demo dataset…");
            ui.label(format!("{} (first use only)", load.folder.display()));
            ui.spinner();
        } else {
            ui.heading(format!("Opening {}…", load.folder.display()));
            match load.progress {
                Some(progress) if progress.total > 0 => {
                    let fraction = progress.decoded as f32 / progress.total as f32;
                    let text = format!("{} of {} patches decoded", progress.decoded, progress.total);
                    crate::app::widgets::progress::progress_bar(ui, fraction, text, Some(400.0));
                }
                _ => {
                    ui.label("finding patches…");
                    ui.spinner();
                }
            }
        }
    });
}
