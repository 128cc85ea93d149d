//! Pieces the views draw: the virtualised tile grid, the annotation panel with the marks
//! judgements leave on tiles, the runs table, and a progress bar whose words fit. Each draws
//! and returns what the reader asked; the views apply it.

pub mod annotation_panel;
pub mod progress;
pub mod runs_table;
pub mod tile_grid;
