//! Work off the UI thread whose results the UI picks up each frame: one-off tasks, opening a
//! dataset, writing files, a patient's predictions, the patients' stains, patches alike, the map of
//! the dataset, the duplicates search and the search for label errors.

pub mod alike;
pub mod dataset_map;
pub mod duplicates;
pub mod file_saver;
pub mod label_issues;
pub mod loading;
pub mod patient_predictions;
pub mod patient_stains;
pub mod task;
