//! A virtualised grid of patch tiles: only the rows on screen are laid out and textured, so a
//! patient or a confusion cell with thousands of patches scrolls as smoothly as one with ten.
//! Tiles are framed by their true label (red IDC, blue non-IDC), the chosen one in yellow, and
//! marked with the reader's judgement and flag.

use std::ops::Range;

use crate::app::state::tile_textures::TileTextures;
use crate::app::widgets::annotation_panel::{TileMark, paint_tile_mark};
use crate::dataset::Dataset;
use crate::dataset::Label;

pub const IDC_COLOUR: egui::Color32 = egui::Color32::from_rgb(220, 40, 40);
pub const NON_IDC_COLOUR: egui::Color32 = egui::Color32::from_rgb(60, 110, 220);
const SPACING: f32 = 4.0;

/// What a patch card says of the run's P(IDC).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CardProbability {
    /// No run is open: the card has no P(IDC) line.
    NoRun,
    /// A run is open but has no probability for this patch (yet).
    Unknown,
    Known(f32),
}

impl CardProbability {
    /// For a patch of the open run (if any), whose probability is `prob` where known.
    pub fn of_run(run_open: bool, prob: Option<f32>) -> Self {
        match (run_open, prob) {
            (_, Some(prob)) => CardProbability::Known(prob),
            (true, None) => CardProbability::Unknown,
            (false, None) => CardProbability::NoRun,
        }
    }
}

/// A patch shown large with its facts: patient, position, size, label, the run's probability
/// and its file.
pub fn patch_card_ui(
    ui: &mut egui::Ui,
    dataset: &Dataset,
    tiles: &mut TileTextures,
    index: usize,
    prob_idc: CardProbability,
) {
    let store = &dataset.store;
    let patch = store.patch(index);
    let texture = tiles.get(ui.ctx(), store, index);
    ui.add(
        egui::Image::new(&texture)
            .fit_to_exact_size(egui::vec2(240.0, 240.0))
            .alt_text(format!(
                "patch {} x{} y{}, enlarged",
                store.patient_name(patch),
                patch.x,
                patch.y
            )),
    );
    egui::Grid::new("patch-facts").num_columns(2).show(ui, |ui| {
        ui.label("Patient");
        ui.label(store.patient_name(patch));
        ui.end_row();
        ui.label("Position");
        ui.label(format!("x {}, y {}", patch.x, patch.y));
        ui.end_row();
        ui.label("Size");
        ui.label(format!("{}x{}", patch.width, patch.height));
        ui.end_row();
        ui.label("Label");
        ui.label(patch.label.name());
        ui.end_row();
        let shown = match prob_idc {
            CardProbability::NoRun => None,
            CardProbability::Unknown => Some("…".to_string()),
            CardProbability::Known(prob) => Some(format!("{prob:.4}")),
        };
        if let Some(shown) = shown {
            ui.label("P(IDC)");
            ui.label(shown);
            ui.end_row();
        }
    });
    ui.label(
        egui::RichText::new(patch.path.display().to_string())
            .small()
            .weak(),
    );
}

/// What to draw this frame.
pub struct TileGrid<'a> {
    pub patches: &'a [usize],
    pub selected: Option<usize>,
    pub tile_size: f32,
}

/// What the grid remembers between frames.
#[derive(Default)]
pub struct TileGridState {
    visible_rows: Range<usize>,
    /// Bring the chosen tile into view on the next frame (after keyboard stepping).
    pub reveal_selected: bool,
    /// Scroll to this offset on the next frame (the screenshot tour scrolls like a wheel).
    pub scroll_to: Option<f32>,
    /// Height of all rows, as of the last frame.
    pub content_height: f32,
}

/// Draws the grid; returns the patch clicked, if any. `prob_idc` labels tiles with the run's
/// probability where known; `marks` gives the reader's judgement and flag to show on a tile.
pub fn tile_grid_ui(
    ui: &mut egui::Ui,
    state: &mut TileGridState,
    grid: TileGrid<'_>,
    dataset: &Dataset,
    tiles: &mut TileTextures,
    prob_idc: &dyn Fn(usize) -> Option<f32>,
    marks: &dyn Fn(usize) -> Option<TileMark>,
) -> Option<usize> {
    let store = &dataset.store;
    if grid.patches.is_empty() {
        ui.label("No patches here.");
        return None;
    }
    let pitch = grid.tile_size + SPACING;
    let columns = ((ui.available_width() + SPACING) / pitch).floor().max(1.0) as usize;
    let rows = grid.patches.len().div_ceil(columns);
    let mut area = egui::ScrollArea::vertical()
        .id_salt("tile-grid")
        .auto_shrink(false);
    if std::mem::take(&mut state.reveal_selected)
        && let Some(position) = grid
            .selected
            .and_then(|selected| grid.patches.iter().position(|&p| p == selected))
    {
        let row = position / columns;
        if !state.visible_rows.contains(&row) || state.visible_rows.end.saturating_sub(1) == row {
            area = area.vertical_scroll_offset((row as f32 * pitch - pitch).max(0.0));
        }
    }
    if let Some(offset) = state.scroll_to.take() {
        area = area.vertical_scroll_offset(offset);
    }
    state.content_height = rows as f32 * pitch;
    let mut clicked = None;
    ui.spacing_mut().item_spacing = egui::vec2(SPACING, SPACING);
    area.show_rows(ui, grid.tile_size, rows, |ui, visible| {
        state.visible_rows = visible.clone();
        for row in visible {
            ui.horizontal(|ui| {
                let first = row * columns;
                let last = (first + columns).min(grid.patches.len());
                for &index in &grid.patches[first..last] {
                    let patch = store.patch(index);
                    let (rect, response) = ui.allocate_exact_size(
                        egui::vec2(grid.tile_size, grid.tile_size),
                        egui::Sense::click(),
                    );
                    // The accessible name is only built when something (a screen reader, a test) asks.
                    let mark = marks(index);
                    response.widget_info(|| {
                        let name = format!(
                            "patch {} x{} y{} {}{}",
                            store.patient_name(patch),
                            patch.x,
                            patch.y,
                            patch.label.name(),
                            mark.map(|mark| format!(", {}", mark.describe()))
                                .unwrap_or_default()
                        );
                        egui::WidgetInfo::labeled(egui::Role::Image, true, name)
                    });
                    if ui.is_rect_visible(rect) {
                        let texture = tiles.get(ui.ctx(), store, index);
                        let look = TileLook {
                            label: patch.label,
                            selected: grid.selected == Some(index),
                            mark,
                            prob_idc: prob_idc(index),
                        };
                        paint_tile(ui.painter(), rect, &texture, look);
                    }
                    if response.clicked() {
                        clicked = Some(index);
                    }
                    response.on_hover_text(format!(
                        "{}\nx {}, y {} · {}",
                        store.patient_name(patch),
                        patch.x,
                        patch.y,
                        patch.label.name()
                    ));
                }
            });
        }
    });
    clicked
}

/// What a tile shows besides its image.
struct TileLook {
    label: Label,
    selected: bool,
    mark: Option<TileMark>,
    prob_idc: Option<f32>,
}

/// Paints one tile: the image, framed in its label's colour (and yellow when chosen), the
/// reader's mark, and the run's P(IDC) in its bottom corner.
fn paint_tile(painter: &egui::Painter, rect: egui::Rect, texture: &egui::TextureHandle, look: TileLook) {
    painter.image(
        texture.id(),
        rect,
        egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
        egui::Color32::WHITE,
    );
    let frame = match look.label {
        Label::Idc => IDC_COLOUR,
        Label::NonIdc => NON_IDC_COLOUR,
    };
    painter.rect_stroke(rect, 0.0, egui::Stroke::new(2.0, frame), egui::StrokeKind::Inside);
    if look.selected {
        painter.rect_stroke(
            rect.expand(1.0),
            0.0,
            egui::Stroke::new(3.0, egui::Color32::YELLOW),
            egui::StrokeKind::Outside,
        );
    }
    if let Some(mark) = look.mark {
        paint_tile_mark(painter, rect, mark);
    }
    if let Some(prob) = look.prob_idc {
        let corner = rect.left_bottom() + egui::vec2(2.0, -2.0);
        let galley = painter.layout_no_wrap(
            format!("{prob:.2}"),
            egui::FontId::monospace(10.0),
            egui::Color32::WHITE,
        );
        let box_rect = egui::Rect::from_min_size(corner - egui::vec2(0.0, galley.size().y), galley.size());
        painter.rect_filled(box_rect, 0.0, egui::Color32::from_black_alpha(160));
        painter.galley(box_rect.min, galley, egui::Color32::WHITE);
    }
}
