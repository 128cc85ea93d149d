//! What every view works on: the open dataset and its annotations, the open run, settings, the
//! file writer, tile textures, and the commands views send to the app (applied once per frame).

use std::path::PathBuf;
use std::sync::Arc;

use crate::app::background::file_saver::FileSaver;
use crate::app::state::annotating::Annotating;
use crate::app::state::settings::{Settings, default_settings_path};
use crate::app::state::tile_textures::TileTextures;
use crate::dataset::Dataset;
use crate::review::{Cell, OpenRun};

/// The app's screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Welcome,
    Patients,
    Training,
    Review,
    Map,
}

impl View {
    pub const ALL: [View; 5] = [
        View::Welcome,
        View::Patients,
        View::Training,
        View::Review,
        View::Map,
    ];

    pub fn title(self) -> &'static str {
        match self {
            View::Welcome => "Start",
            View::Patients => "Patients",
            View::Training => "Training",
            View::Review => "Review",
            View::Map => "Map",
        }
    }
}

/// What a view asks the app to do; applied after the frame is drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Show(View),
    OpenDataset(PathBuf),
    OpenDemoDataset,
    OpenRun(PathBuf),
    /// Opens a patient in the patients view, optionally with one patch chosen, on its slide or
    /// among its tiles.
    ShowPatient {
        patient: u32,
        patch: Option<usize>,
        on_slide: bool,
    },
    ReviewCell(Cell),
    /// Opens tiles chosen elsewhere (on the map, among duplicates) in Review, as a list.
    ReviewTiles {
        heading: String,
        tiles: Vec<usize>,
    },
    SaveSettings,
    /// Show or hide the keyboard sheet.
    ToggleShortcuts,
}

/// A message in the status bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub text: String,
    pub is_error: bool,
    /// When it was said, local time (HH:MM:SS).
    pub time: String,
}

pub struct Workspace {
    pub settings: Settings,
    pub settings_path: PathBuf,
    pub saver: FileSaver,
    pub dataset: Option<Arc<Dataset>>,
    pub run: Option<OpenRun>,
    pub tiles: TileTextures,
    pub commands: Vec<Command>,
    pub notices: Vec<Notice>,
    /// The readers' annotations, undo and the reader's name being asked.
    pub annotating: Annotating,
}

impl Workspace {
    pub fn new(settings_path: Option<PathBuf>, saver: FileSaver) -> Self {
        let settings_path = settings_path.unwrap_or_else(default_settings_path);
        let (settings, warning) = Settings::load(&settings_path);
        let mut workspace = Self {
            settings,
            settings_path,
            saver,
            dataset: None,
            run: None,
            tiles: TileTextures::default(),
            commands: Vec::new(),
            notices: Vec::new(),
            annotating: Annotating::default(),
        };
        if let Some(warning) = warning {
            workspace.error(warning);
        }
        workspace
    }

    pub fn send(&mut self, command: Command) {
        self.commands.push(command);
    }

    /// A message for the status bar, kept in the messages panel and written to the log.
    pub fn info(&mut self, text: impl Into<String>) {
        let text = text.into();
        tracing::info!("{text}");
        self.notices.push(Notice {
            text,
            is_error: false,
            time: chrono::Local::now().format("%H:%M:%S").to_string(),
        });
    }

    pub fn error(&mut self, text: impl Into<String>) {
        let text = text.into();
        tracing::error!("{text}");
        self.notices.push(Notice {
            text,
            is_error: true,
            time: chrono::Local::now().format("%H:%M:%S").to_string(),
        });
    }

    /// Queues the settings for writing (off the UI thread, atomically).
    pub fn save_settings(&mut self) {
        if let Some(folder) = self.settings_path.parent()
            && let Err(err) = std::fs::create_dir_all(folder)
        {
            self.error(format!("{}: {err}", folder.display()));
            return;
        }
        self.saver
            .save(self.settings_path.clone(), self.settings.to_json());
    }
}
