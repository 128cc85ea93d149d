//! The desktop app (eframe/egui): browse patients and slides, train with live plots, review a
//! run's results by confusion-matrix cell and annotate them. It draws and dispatches only: the
//! work happens in the dataset, training and review layers, on background threads.

mod annotating;
mod annotation_panel;
mod file_saver;
mod frame_times;
mod loading;
mod patient_predictions;
mod patients;
mod reader_prompt;
mod readers_panel;
mod review_view;
mod settings;
mod shortcuts;
mod slide_view;
mod studio;
mod task;
mod tile_grid;
mod tiles;
mod tour;
mod training_monitor;
mod training_view;
mod welcome;
mod workspace;

pub use frame_times::{FrameSummary, FrameTimes};
pub use patients::{PatientTab, PatientsView};
pub use readers_panel::ReadersPanel;
pub use review_view::{ReviewFilter, ReviewView};
pub use settings::{ReviewPlace, Settings, default_settings_path};
pub use shortcuts::{Action, SHORTCUTS};
pub use studio::{LaunchOptions, StudioApp};
pub use training_monitor::{Phase, TrainingMonitor};
pub use training_view::TrainingView;
pub use workspace::{Command, OpenRun, View, Workspace};

/// Opens the window and runs the app until it is closed.
pub fn run(options: LaunchOptions) -> anyhow::Result<()> {
    let app = StudioApp::new(options)?;
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("idc-studio")
            .with_app_id("idc-studio")
            .with_inner_size([1400.0, 860.0])
            .with_min_inner_size([900.0, 600.0]),
        ..eframe::NativeOptions::default()
    };
    eframe::run_native("idc-studio", native, Box::new(move |_| Ok(Box::new(app))))
        .map_err(|err| anyhow::anyhow!("could not open the window: {err}"))
}

impl eframe::App for StudioApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        if let Some(seconds) = frame.info().cpu_usage {
            self.frame_times.record_whole_frame(seconds);
        }
        self.show(ui);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.shut_down();
    }
}
