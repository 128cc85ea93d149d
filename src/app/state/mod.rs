//! What the views work on and the app remembers: the workspace (dataset, run, annotations,
//! messages), settings, the training monitor, and annotating with undo.

pub mod annotating;
pub mod settings;
pub mod training_monitor;
pub mod workspace;
