//! The desktop app (eframe/egui): browse patients and slides, train with live plots, review a
//! run's results by confusion-matrix cell and annotate them. It draws and dispatches only: the
//! work happens in the dataset, training and review layers, on background threads.

//! The folders are the app's roles:
//! - `views/`: the screens, each owning its state;
//! - `widgets/`: what several views draw (tile grid, annotation panel);
//! - `background/`: work off the UI thread (tasks, dataset loading, file writing, predictions);
//! - `state/`: the workspace, settings, training monitor and annotating;
//! - here, the shell: `studio.rs` (frame, bars, commands), `menus.rs`, `sharing.rs` (the Run
//!   menu's import and report), `shortcuts.rs`,
//!   `reader_prompt.rs`, `frame_times.rs` and the screenshot `tour.rs`.

mod background;
mod frame_times;
mod menus;
mod reader_prompt;
mod sharing;
mod shortcuts;
mod state;
mod studio;
mod tour;
mod views;
mod widgets;

pub use frame_times::{FrameSummary, FrameTimes};
pub use shortcuts::{Action, SHORTCUTS};
pub use state::settings::{ReviewPlace, Settings, Theme, default_settings_path};
pub use state::training_monitor::{Phase, TrainingMonitor};
pub use state::workspace::{Command, View, Workspace};
pub use studio::{LaunchOptions, StudioApp};
pub use views::patients::{PatientTab, PatientsView};
pub use views::review::lists::{ListKind, ReviewList};
pub use views::review::readers_panel::ReadersPanel;
pub use views::review::{ReviewFilter, ReviewView};
pub use views::training::TrainingView;

/// The window's icon: the 256-pixel rendering of `assets/icons/idc-studio.svg`.
const ICON_PNG: &[u8] = include_bytes!("../../assets/icons/idc-studio-256.png");

/// The app id: the desktop entry's name (`idc-studio.desktop`) and the window's class, so the
/// desktop shows the app's icon and groups its windows.
pub const APP_ID: &str = "idc-studio";

/// Opens the window and runs the app until it is closed. Its messages, and those of the
/// libraries below it, go to the log file (see [`crate::logging`]).
pub fn run(mut options: LaunchOptions) -> anyhow::Result<()> {
    let logs = crate::logging::log_folder();
    match crate::logging::start(&logs) {
        Ok(folder) => {
            crate::logging::record_panics(folder.clone(), show_panic_dialog);
            options.log_folder = Some(folder);
        }
        Err(why) => eprintln!("warning: no log file ({why}); messages go to standard error only"),
    }
    tracing::info!("idc-studio {} starting", env!("CARGO_PKG_VERSION"));
    let app = StudioApp::new(options)?;
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("idc-studio")
        .with_app_id(APP_ID)
        .with_inner_size([1400.0, 860.0])
        .with_min_inner_size([900.0, 600.0]);
    match eframe::icon_data::from_png_bytes(ICON_PNG) {
        Ok(icon) => viewport = viewport.with_icon(icon),
        Err(err) => tracing::warn!("the window icon could not be read: {err}"),
    }
    let native = eframe::NativeOptions {
        viewport,
        // The window's size and place, remembered in the data folder.
        persist_window: true,
        ..eframe::NativeOptions::default()
    };
    eframe::run_native(APP_ID, native, Box::new(move |_| Ok(Box::new(app)))).map_err(|err| {
        let message = window_error(&err);
        tracing::error!(target: crate::logging::FILE_ONLY, "{message}");
        anyhow::anyhow!(message)
    })
}

/// One line naming what is missing when the window cannot open.
fn window_error(err: &eframe::Error) -> String {
    match err {
        eframe::Error::Glutin(_) | eframe::Error::NoGlutinConfigs(..) | eframe::Error::OpenGL(_) => format!(
            "could not open the window: no usable OpenGL was found (the app needs OpenGL 2 or OpenGL ES 2: install your graphics driver, or Mesa's libgl1-mesa-dri for drawing without a GPU): {err}"
        ),
        eframe::Error::Winit(_) | eframe::Error::WinitEventLoop(_) => format!(
            "could not open the window: no display was found (start it in a desktop session; on a server, under Xvfb): {err}"
        ),
        _ => format!("could not open the window: {err}"),
    }
}

/// Tells the person at the screen that the app stopped, and where the details are.
fn show_panic_dialog(message: &str, log_file: &std::path::Path) {
    let _ = rfd::MessageDialog::new()
        .set_level(rfd::MessageLevel::Error)
        .set_title("idc-studio stopped")
        .set_description(format!(
            "idc-studio met an error it cannot recover from and has to close.\n\n{message}\n\nThe details are in {}.\nYour annotations are saved as you make them, so none are lost.",
            log_file.display()
        ))
        .set_buttons(rfd::MessageButtons::Ok)
        .show();
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
