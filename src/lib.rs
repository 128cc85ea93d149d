//! idc-studio: train and audit a CancerNet classifier for invasive ductal carcinoma (IDC) on
//! 50x50 breast histology patches.
//!
//! The layers point one way:
//! - [`dataset`]: the IDC folder layout, decoding, the synthetic demo data and the splits
//!   (no burn, no UI);
//! - [`metrics`]: confusion matrices and scores (plain numbers);
//! - [`ops`]: CancerNet's fused operations as burn backend extensions, CPU and GPU kernels;
//! - [`model`]: CancerNet, devices and batches on burn;
//! - [`training`]: the training worker, its events, run folders, evaluation and prediction;
//! - [`review`]: a run's results by confusion-matrix cell, and the readers' annotations of a
//!   dataset (kept per reader, undoable, exported, and fed back into training);
//! - [`app`]: the desktop app (egui), which draws and dispatches only;
//! - [`cli`]: the command line, which only wires the above together.

pub mod app;
pub mod atomic_file;
pub mod cli;
pub mod dataset;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod ops;
pub mod review;
pub mod training;
pub mod user_folders;
