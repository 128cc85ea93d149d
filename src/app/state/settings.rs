//! What the app remembers between launches: recent datasets, the last run, where runs go, the
//! training form, the reader's name and where they were in Review. Stored as JSON in the user's
//! config folder, written atomically.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::training::TrainConfig;

/// How many recent datasets the welcome screen offers.
const RECENT_DATASETS: usize = 8;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub recent_datasets: Vec<PathBuf>,
    pub last_dataset: Option<PathBuf>,
    pub last_run: Option<PathBuf>,
    /// Where new training runs are created and past ones listed.
    pub runs_folder: PathBuf,
    pub training: TrainConfig,
    /// Side of a tile in the patch grids, in points.
    pub tile_size: f32,
    /// The reader's name, asked once; it goes with every annotation.
    pub reader: Option<String>,
    /// After agree, relabel or unsure, move on to the next patch not yet reviewed.
    pub advance_after_judging: bool,
    /// Where the reader was in Review, to go on from there.
    pub review_place: Option<ReviewPlace>,
    pub theme: Theme,
}

/// Light, dark, or as the desktop is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    #[default]
    System,
    Light,
    Dark,
}

impl Theme {
    pub const ALL: [Theme; 3] = [Theme::System, Theme::Light, Theme::Dark];

    pub fn name(self) -> &'static str {
        match self {
            Theme::System => "as the desktop",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    pub fn preference(self) -> egui::ThemePreference {
        match self {
            Theme::System => egui::ThemePreference::System,
            Theme::Light => egui::ThemePreference::Light,
            Theme::Dark => egui::ThemePreference::Dark,
        }
    }
}

/// The tile a reader last looked at in Review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewPlace {
    pub run: PathBuf,
    pub cell: crate::review::Cell,
    pub patient: String,
    pub x: u32,
    pub y: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            recent_datasets: Vec::new(),
            last_dataset: None,
            last_run: None,
            runs_folder: crate::training::default_runs_folder(),
            training: TrainConfig::default(),
            tile_size: 64.0,
            reader: None,
            advance_after_judging: true,
            review_place: None,
            theme: Theme::System,
        }
    }
}

impl Settings {
    /// Reads `path`. A missing file gives the defaults; a damaged one is moved aside (so the next
    /// save cannot destroy it) and the defaults are used, with a message saying so.
    pub fn load(path: &Path) -> (Settings, Option<String>) {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return (Settings::default(), None),
            Err(err) => {
                let message = format!("{}: {err}; using default settings", path.display());
                return (Settings::default(), Some(message));
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(settings) => (settings, None),
            Err(err) => {
                let message = format!(
                    "{}: not a settings file ({err}); using default settings{}",
                    path.display(),
                    match crate::atomic_file::move_aside(path) {
                        Ok(aside) => format!(", the old file is kept as {}", aside.display()),
                        Err(why) => format!(" (it could not be moved aside: {why})"),
                    }
                );
                (Settings::default(), Some(message))
            }
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain data into memory cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Puts `dataset` first among the recent datasets and makes it the one reopened next time.
    pub fn remember_dataset(&mut self, dataset: &Path) {
        self.recent_datasets.retain(|known| known != dataset);
        self.recent_datasets.insert(0, dataset.to_path_buf());
        self.recent_datasets.truncate(RECENT_DATASETS);
        self.last_dataset = Some(dataset.to_path_buf());
    }
}

/// `$IDC_STUDIO_CONFIG_DIR/settings.json`, else the XDG config folder's `idc-studio/settings.json`.
pub fn default_settings_path() -> PathBuf {
    let folder = std::env::var_os("IDC_STUDIO_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CONFIG_HOME").map(|dir| PathBuf::from(dir).join("idc-studio")))
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config/idc-studio")))
        .unwrap_or_else(|| PathBuf::from(".idc-studio"));
    folder.join("settings.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_datasets_keep_the_latest_first_without_repeats() {
        let mut settings = Settings::default();
        for name in ["a", "b", "a", "c"] {
            settings.remember_dataset(Path::new(name));
        }
        assert_eq!(
            settings.recent_datasets,
            [Path::new("c"), Path::new("a"), Path::new("b")]
        );
        assert_eq!(settings.last_dataset.as_deref(), Some(Path::new("c")));
    }

    #[test]
    fn a_damaged_settings_file_is_kept_aside_and_so_is_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        for damage in ["{ not json", "{ also not json"] {
            std::fs::write(&path, damage).unwrap();
            let (settings, message) = Settings::load(&path);
            assert_eq!(settings, Settings::default());
            let message = message.unwrap();
            assert!(message.contains("not a settings file"), "{message}");
            assert!(message.contains("the old file is kept as"), "{message}");
        }
        let mut kept: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|entry| std::fs::read_to_string(entry.path()).unwrap())
            .collect();
        kept.sort();
        assert_eq!(kept, ["{ also not json", "{ not json"]);
    }
}
