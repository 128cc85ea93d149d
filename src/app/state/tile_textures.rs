//! Patch textures for the tile grids, made on demand from the store's decoded pixels and kept
//! for the most recently shown patches only, so scrolling thousands of tiles stays smooth and
//! memory stays bounded.

use std::collections::{HashMap, VecDeque};

use crate::dataset::{PATCH_SIDE, PatchStore};

/// About 40 MB of 50x50 RGBA textures.
const CAPACITY: usize = 4096;

#[derive(Default)]
pub struct TileTextures {
    textures: HashMap<usize, egui::TextureHandle>,
    /// Store indices, oldest first.
    order: VecDeque<usize>,
}

impl TileTextures {
    /// Forgets every texture (the store they came from is gone).
    pub fn clear(&mut self) {
        self.textures.clear();
        self.order.clear();
    }

    pub fn len(&self) -> usize {
        self.textures.len()
    }

    pub fn is_empty(&self) -> bool {
        self.textures.is_empty()
    }

    /// The texture of patch `index`, uploaded on first use.
    pub fn get(&mut self, ctx: &egui::Context, store: &PatchStore, index: usize) -> egui::TextureHandle {
        if let Some(texture) = self.textures.get(&index) {
            return texture.clone();
        }
        if self.order.len() >= CAPACITY
            && let Some(oldest) = self.order.pop_front()
        {
            self.textures.remove(&oldest);
        }
        let image = egui::ColorImage::from_rgb([PATCH_SIDE, PATCH_SIDE], store.pixels(index));
        // Nearest: a pathologist judges the real pixels, not a smoothed guess.
        let texture = ctx.load_texture(format!("patch-{index}"), image, egui::TextureOptions::NEAREST);
        self.textures.insert(index, texture.clone());
        self.order.push_back(index);
        texture
    }
}
