//! Pieces the views draw: the virtualised tile grid and its textures, the annotation panel with
//! the marks judgements leave on tiles, the runs table, and a progress bar whose words fit.

pub mod annotation_panel;
pub mod progress;
pub mod runs_table;
pub mod tile_grid;
