//! Pieces the views draw: the virtualised tile grid and its textures, the annotation panel with
//! the marks judgements leave on tiles, and the runs table.

pub mod annotation_panel;
pub mod runs_table;
pub mod tile_grid;
pub mod tiles;
