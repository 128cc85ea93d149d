//! What every view works on: the open dataset and its annotations, the open run, settings, the
//! file writer, tile textures, and the commands views send to the app (applied once per frame).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::file_saver::FileSaver;
use super::settings::{Settings, default_settings_path};
use super::tiles::TileTextures;
use crate::dataset::store::PatientSummary;
use crate::dataset::{Label, LabelOverride, LabelSource, PatchStore, ScanReport};
use crate::review::{Cell, History, PatchKey, ReviewSet, Reviews};
use crate::training::{PredictionRow, RunFolder, RunInfo};

/// The app's screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Welcome,
    Patients,
    Training,
    Review,
}

impl View {
    pub const ALL: [View; 4] = [View::Welcome, View::Patients, View::Training, View::Review];

    pub fn title(self) -> &'static str {
        match self {
            View::Welcome => "Start",
            View::Patients => "Patients",
            View::Training => "Training",
            View::Review => "Review",
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
    SaveSettings,
    /// Show or hide the keyboard sheet.
    ToggleShortcuts,
}

/// A scanned dataset and the lookups the views need.
pub struct Dataset {
    pub store: Arc<PatchStore>,
    pub report: ScanReport,
    pub summaries: Vec<PatientSummary>,
    patient_ids: HashMap<String, u32>,
    by_position: HashMap<(u32, u32, u32), usize>,
}

impl Dataset {
    pub fn new(store: PatchStore, report: ScanReport) -> Self {
        let summaries = store.patient_summaries();
        let patient_ids = store
            .patients()
            .iter()
            .enumerate()
            .map(|(id, name)| (name.clone(), id as u32))
            .collect();
        let by_position = store
            .patches()
            .iter()
            .enumerate()
            .map(|(index, patch)| ((patch.patient, patch.x, patch.y), index))
            .collect();
        Self {
            store: Arc::new(store),
            report,
            summaries,
            patient_ids,
            by_position,
        }
    }

    pub fn patient_id(&self, name: &str) -> Option<u32> {
        self.patient_ids.get(name).copied()
    }

    /// The store index of the patch at (x, y) on `patient`'s slide.
    pub fn find(&self, patient: &str, x: u32, y: u32) -> Option<usize> {
        let id = self.patient_id(patient)?;
        self.by_position.get(&(id, x, y)).copied()
    }

    pub fn key(&self, index: usize) -> PatchKey {
        let patch = self.store.patch(index);
        PatchKey {
            patient: self.store.patient_name(patch).to_string(),
            x: patch.x,
            y: patch.y,
        }
    }
}

/// A trained run opened for review, its test rows matched to the open dataset and scored
/// against the labels the reader chose.
pub struct OpenRun {
    pub folder: RunFolder,
    pub info: RunInfo,
    /// The rows as `predictions.csv` holds them.
    recorded: Vec<PredictionRow>,
    /// The labels the rows are scored against.
    pub scored_by: LabelSource,
    /// Test rows left out because the chosen readers were unsure or disagreed.
    pub left_out: usize,
    pub review: ReviewSet,
    /// Per review row: the store index of its patch, if the dataset still has it.
    pub store_index: Vec<Option<usize>>,
    /// Store index -> review row, for the patients view and slide heatmaps.
    pub row_of_patch: HashMap<usize, usize>,
}

impl OpenRun {
    /// Reads a finished run and matches its test rows to `dataset`, scored against the
    /// dataset's labels.
    pub fn load(folder: &std::path::Path, dataset: &Dataset) -> Result<OpenRun, String> {
        let run = RunFolder::open(folder).map_err(|err| err.to_string())?;
        let info = run.read_info().map_err(|err| err.to_string())?;
        if !run.predictions_path().is_file() {
            return Err(format!(
                "{}: this run has no test predictions yet (it has not finished); resume it from Training",
                folder.display()
            ));
        }
        let recorded = run.read_predictions().map_err(|err| err.to_string())?;
        let mut open = OpenRun {
            folder: run,
            info,
            recorded,
            scored_by: LabelSource::Dataset,
            left_out: 0,
            review: ReviewSet::new(Vec::new()),
            store_index: Vec::new(),
            row_of_patch: HashMap::new(),
        };
        open.rescore(dataset, LabelSource::Dataset, &[]);
        Ok(open)
    }

    /// Scores the run against `labels`: the dataset's, or the readers' `corrections` (a patch
    /// they were unsure of, or disagree on, is left out).
    pub fn rescore(&mut self, dataset: &Dataset, labels: LabelSource, corrections: &[LabelOverride]) {
        let corrected: HashMap<(&str, u32, u32), Option<Label>> = corrections
            .iter()
            .map(|correction| {
                (
                    (correction.patient.as_str(), correction.x, correction.y),
                    correction.label,
                )
            })
            .collect();
        let mut rows = Vec::with_capacity(self.recorded.len());
        let mut left_out = 0;
        for row in &self.recorded {
            let index = dataset.find(&row.patient, row.x, row.y);
            let dataset_label = index.map_or_else(|| row.truth(), |index| dataset.store.patch(index).label);
            let truth = match corrected.get(&(row.patient.as_str(), row.x, row.y)) {
                Some(Some(label)) => *label,
                Some(None) => {
                    left_out += 1;
                    continue;
                }
                None => dataset_label,
            };
            rows.push(PredictionRow {
                label: truth.index(),
                ..row.clone()
            });
        }
        self.review = ReviewSet::new(rows);
        self.store_index = self
            .review
            .rows()
            .iter()
            .map(|row| dataset.find(&row.patient, row.x, row.y))
            .collect();
        self.row_of_patch = self
            .store_index
            .iter()
            .enumerate()
            .filter_map(|(row, index)| index.map(|index| (index, row)))
            .collect();
        self.scored_by = labels;
        self.left_out = left_out;
    }

    pub fn name(&self) -> String {
        self.folder.root().file_name().map_or_else(
            || self.folder.root().display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        )
    }

    /// The run's probability of IDC for a test patch.
    pub fn prob_idc(&self, patch: usize) -> Option<f32> {
        self.row_of_patch
            .get(&patch)
            .map(|&row| self.review.rows()[row].prob_idc)
    }

    pub fn missing_patches(&self) -> usize {
        self.store_index.iter().filter(|index| index.is_none()).count()
    }
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
    /// The open dataset's annotations, all readers.
    pub reviews: Option<Reviews>,
    /// This session's annotation changes, for undo.
    pub history: History,
    /// Ask the reader's name (before their first annotation).
    pub asking_reader: bool,
    pub(super) reviews_checked: Option<std::time::Instant>,
    pub(super) marks: super::annotating::ReaderMarks,
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
            reviews: None,
            history: History::default(),
            asking_reader: false,
            reviews_checked: None,
            marks: Default::default(),
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
