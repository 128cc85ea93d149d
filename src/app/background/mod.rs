//! Work off the UI thread whose results the UI picks up each frame: one-off tasks, opening a
//! dataset, writing files, and a patient's predictions.

pub mod file_saver;
pub mod loading;
pub mod patient_predictions;
pub mod task;
