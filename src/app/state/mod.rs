//! What the views work on and the app remembers: the workspace (dataset, run, annotations,
//! messages), settings, the training monitor, annotating with undo, moving through tiles and the
//! tiles' textures. Nothing here draws, so nothing here imports a widget or a view.

pub mod annotating;
pub mod settings;
pub mod tile_cursor;
pub mod tile_textures;
pub mod training_monitor;
pub mod workspace;
