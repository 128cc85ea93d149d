//! Pieces several views draw: the virtualised tile grid and its textures, and the annotation
//! panel with the marks judgements leave on tiles.

pub mod annotation_panel;
pub mod tile_grid;
pub mod tiles;
