//! Training CancerNet on a worker thread, the events it reports, the run folder it writes,
//! and evaluation and prediction with a trained model. Knows nothing of the UI.

pub mod augment;
pub mod batches;
pub mod config;
pub mod cross_validation;
pub mod epoch;
pub mod evaluate;
pub mod events;
pub mod prediction_row;
pub mod run_file;
pub mod run_folder;
pub mod run_info;
pub mod run_list;
pub mod run_start;
pub mod stain;
pub mod step;
pub mod threshold;
pub mod trainer;

pub use config::TrainConfig;
pub use events::{EpochMetrics, StepMetrics, TrainingEvent};
pub use run_file::RunFile;
pub use run_folder::{PredictionRow, RunFolder, RunInfo, default_runs_folder};
pub use run_list::{RunState, RunSummary, differing_settings, list_runs};
pub use threshold::{ChosenThreshold, SavedThreshold, threshold_for};
pub use trainer::{
    RunOutcome, TrainError, TrainingHandle, TrainingJob, panic_message, run_training, spawn_training,
};
