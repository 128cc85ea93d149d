//! The map itself: every point drawn into one texture (not one shape a point: 277k shapes
//! would take far longer than a frame), drawn again only when the view, the colours or the
//! size change; pan and zoom; hover and click through a k-d tree; lasso and box selection.

use std::time::{Duration, Instant};

use egui::{Color32, Pos2, Rect, Sense, Vec2};

use super::picking::{PointIndex, points_inside};

/// A point closer than this to the pointer, in points, is the one under it.
const HOVER_REACH: f32 = 6.0;

/// What dragging on the map does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DragMode {
    #[default]
    Pan,
    Lasso,
    Box,
}

/// Where the map lies on screen: the map point at the centre and screen points per map unit.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Transform {
    centre: [f32; 2],
    scale: f32,
}

impl Transform {
    fn fitting(points: &[[f32; 2]], rect: Rect) -> Transform {
        let (mut low, mut high) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
        for point in points.iter().filter(|p| p[0].is_finite() && p[1].is_finite()) {
            for axis in 0..2 {
                low[axis] = low[axis].min(point[axis]);
                high[axis] = high[axis].max(point[axis]);
            }
        }
        if low[0] > high[0] {
            return Transform {
                centre: [0.0; 2],
                scale: 1.0,
            };
        }
        let span = [(high[0] - low[0]).max(1e-3), (high[1] - low[1]).max(1e-3)];
        Transform {
            centre: [(low[0] + high[0]) / 2.0, (low[1] + high[1]) / 2.0],
            scale: 0.95 * (rect.width() / span[0]).min(rect.height() / span[1]),
        }
    }

    fn to_screen(self, rect: Rect, point: [f32; 2]) -> Pos2 {
        rect.center() + Vec2::new(point[0] - self.centre[0], point[1] - self.centre[1]) * self.scale
    }

    fn to_map(self, rect: Rect, at: Pos2) -> [f32; 2] {
        let offset = (at - rect.center()) / self.scale;
        [self.centre[0] + offset.x, self.centre[1] + offset.y]
    }
}

/// What the canvas draws this frame.
pub struct Scene<'a> {
    pub points: &'a [[f32; 2]],
    /// Each point's colour.
    pub colours: &'a [Color32],
    /// Points in the order drawn (the last on top), the ones singled out last.
    pub order: &'a [u32],
    /// How many of `order`'s last points are singled out, drawn larger.
    pub singled_out: usize,
    /// Changes whenever colours or order do.
    pub version: u64,
    pub current: Option<usize>,
}

/// What the reader did on the map this frame.
#[derive(Debug, Clone, PartialEq)]
pub enum CanvasEvent {
    Clicked(usize),
    Selected(Vec<usize>),
}

#[derive(Default)]
pub struct MapCanvas {
    pub mode: DragMode,
    transform: Option<Transform>,
    /// The k-d tree and the points it was built for (their address and count).
    index: Option<((usize, usize), PointIndex)>,
    texture: Option<(RasterKey, egui::TextureHandle)>,
    /// The lasso's or the box's corners so far, on screen.
    outline: Vec<Pos2>,
    pub hovered: Option<usize>,
    /// Where the map was drawn last.
    last_rect: Option<Rect>,
    /// How long the last drawing of the texture and the last hover lookup took.
    pub last_raster: Option<Duration>,
    pub last_hover: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct RasterKey {
    version: u64,
    size: [usize; 2],
    transform: [u32; 3],
}

impl MapCanvas {
    /// Shows the whole map again at the next frame.
    pub fn fit(&mut self) {
        self.transform = None;
    }

    /// Moves the map by `delta` screen points, as a drag does.
    pub fn pan_by(&mut self, delta: Vec2) {
        if let Some(transform) = &mut self.transform {
            transform.centre[0] -= delta.x / transform.scale;
            transform.centre[1] -= delta.y / transform.scale;
        }
    }

    /// Looks up the point under screen position `at` as a hover does (timing it), without a
    /// pointer: for the tour's measurements.
    pub fn probe_hover(&mut self, at: Pos2) -> Option<usize> {
        let (rect, transform) = (self.last_rect?, self.transform?);
        self.point_under(rect, transform, at)
    }

    /// The middle of the map on screen, as last drawn.
    pub fn centre(&self) -> Option<Pos2> {
        self.last_rect.map(|rect| rect.center())
    }

    /// Where a map point was on screen in the last frame.
    pub fn screen_position(&self, point: [f32; 2]) -> Option<Pos2> {
        Some(self.transform?.to_screen(self.last_rect?, point))
    }

    pub fn show(&mut self, ui: &mut egui::Ui, scene: &Scene) -> (egui::Response, Option<CanvasEvent>) {
        let rect = ui.available_rect_before_wrap();
        self.last_rect = Some(rect);
        let response = ui.allocate_rect(rect, Sense::click_and_drag());
        let transform = *self
            .transform
            .get_or_insert_with(|| Transform::fitting(scene.points, rect));
        let key = (scene.points.as_ptr() as usize, scene.points.len());
        if self.index.as_ref().map(|(built, _)| *built) != Some(key) {
            self.index = Some((key, PointIndex::new(scene.points)));
        }
        let event = self.interact(ui, &response, rect, scene);
        self.paint_points(ui, rect, transform, scene);
        let painter = ui.painter_at(rect);
        if let Some(current) = scene.current.and_then(|index| scene.points.get(index)) {
            let at = transform.to_screen(rect, *current);
            painter.circle_stroke(at, 7.0, egui::Stroke::new(2.5, Color32::WHITE));
            painter.circle_stroke(at, 9.0, egui::Stroke::new(1.5, Color32::BLACK));
        }
        if let Some(hovered) = self.hovered.and_then(|index| scene.points.get(index)) {
            painter.circle_stroke(
                transform.to_screen(rect, *hovered),
                5.0,
                egui::Stroke::new(1.5, Color32::YELLOW),
            );
        }
        if self.outline.len() > 1 {
            let mut outline = self.outline.clone();
            outline.push(self.outline[0]);
            painter.add(egui::Shape::line(
                outline,
                egui::Stroke::new(1.5, Color32::YELLOW),
            ));
        }
        (response, event)
    }

    fn interact(
        &mut self,
        ui: &egui::Ui,
        response: &egui::Response,
        rect: Rect,
        scene: &Scene,
    ) -> Option<CanvasEvent> {
        let mut transform = self.transform?;
        let pointer = response.hover_pos();
        if let Some(at) = pointer {
            let (scroll, zoom) = ui.input(|input| (input.smooth_scroll_delta.y, input.zoom_delta()));
            let factor = zoom * (scroll * 0.002).exp();
            if (factor - 1.0).abs() > 1e-4 {
                // Zoom about the pointer: the map point under it stays under it.
                let before = transform.to_map(rect, at);
                transform.scale = (transform.scale * factor).clamp(1e-3, 1e6);
                let after = transform.to_map(rect, at);
                transform.centre[0] += before[0] - after[0];
                transform.centre[1] += before[1] - after[1];
            }
        }
        let panning = (self.mode == DragMode::Pan && response.dragged_by(egui::PointerButton::Primary))
            || response.dragged_by(egui::PointerButton::Secondary)
            || response.dragged_by(egui::PointerButton::Middle);
        if panning {
            let delta = response.drag_delta() / transform.scale;
            transform.centre[0] -= delta.x;
            transform.centre[1] -= delta.y;
        }
        self.transform = Some(transform);
        let press_origin = ui.input(|input| input.pointer.press_origin());
        let mut event = self.select(response, press_origin, rect, transform, scene);
        self.hovered = pointer.and_then(|at| self.point_under(rect, transform, at));
        if response.clicked()
            && let Some(hovered) = self.hovered
        {
            event = Some(CanvasEvent::Clicked(hovered));
        }
        event
    }

    fn point_under(&mut self, rect: Rect, transform: Transform, at: Pos2) -> Option<usize> {
        let started = Instant::now();
        let found = self.index.as_ref()?.1.nearest(transform.to_map(rect, at));
        self.last_hover = Some(started.elapsed());
        let (index, squared) = found?;
        (squared.sqrt() * transform.scale <= HOVER_REACH).then_some(index)
    }

    /// Lasso and box: the outline grows while the primary button drags, and its points are
    /// chosen when it is let go.
    fn select(
        &mut self,
        response: &egui::Response,
        press_origin: Option<Pos2>,
        rect: Rect,
        transform: Transform,
        scene: &Scene,
    ) -> Option<CanvasEvent> {
        if self.mode == DragMode::Pan {
            self.outline.clear();
            return None;
        }
        let pointer = response.interact_pointer_pos();
        if response.drag_started_by(egui::PointerButton::Primary) {
            // From where the button went down, not where the drag was first noticed.
            self.outline = press_origin.or(pointer).into_iter().collect();
        }
        if response.dragged_by(egui::PointerButton::Primary)
            && let (Some(at), Some(&first)) = (pointer, self.outline.first())
        {
            match self.mode {
                DragMode::Box => {
                    self.outline = vec![first, Pos2::new(at.x, first.y), at, Pos2::new(first.x, at.y)];
                }
                _ => {
                    if self.outline.last().is_none_or(|last| last.distance(at) > 2.0) {
                        self.outline.push(at);
                    }
                }
            }
        }
        if response.drag_stopped() && !self.outline.is_empty() {
            let outline: Vec<[f32; 2]> = self
                .outline
                .iter()
                .map(|&at| transform.to_map(rect, at))
                .collect();
            self.outline.clear();
            let chosen = points_inside(scene.points, &outline);
            return Some(CanvasEvent::Selected(chosen));
        }
        None
    }

    fn paint_points(&mut self, ui: &egui::Ui, rect: Rect, transform: Transform, scene: &Scene) {
        let pixels_per_point = ui.ctx().pixels_per_point();
        let size = [
            (rect.width() * pixels_per_point).round().max(1.0) as usize,
            (rect.height() * pixels_per_point).round().max(1.0) as usize,
        ];
        let key = RasterKey {
            version: scene.version,
            size,
            transform: [
                transform.centre[0].to_bits(),
                transform.centre[1].to_bits(),
                transform.scale.to_bits(),
            ],
        };
        if self.texture.as_ref().map(|(drawn, _)| *drawn) != Some(key) {
            let started = Instant::now();
            let image = raster(scene, size, transform.centre, transform.scale * pixels_per_point);
            match &mut self.texture {
                Some((drawn, texture)) => {
                    texture.set(image, egui::TextureOptions::NEAREST);
                    *drawn = key;
                }
                None => {
                    let texture = ui
                        .ctx()
                        .load_texture("dataset-map", image, egui::TextureOptions::NEAREST);
                    self.texture = Some((key, texture));
                }
            }
            self.last_raster = Some(started.elapsed());
        }
        if let Some((_, texture)) = &self.texture {
            let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
            ui.painter_at(rect).image(texture.id(), rect, uv, Color32::WHITE);
        }
    }
}

/// The points as pixels: each a small square, a little larger where singled out.
fn raster(scene: &Scene, size: [usize; 2], centre: [f32; 2], scale: f32) -> egui::ColorImage {
    let [width, height] = size;
    let mut pixels = vec![Color32::from_rgb(18, 18, 22); width * height];
    let dot: isize = if scene.points.len() > 50_000 { 1 } else { 2 };
    let first_singled = scene.order.len().saturating_sub(scene.singled_out);
    let (half_w, half_h) = (width as f32 / 2.0, height as f32 / 2.0);
    for (rank, &index) in scene.order.iter().enumerate() {
        let index = index as usize;
        let point = scene.points[index];
        let x = ((point[0] - centre[0]) * scale + half_w) as isize;
        let y = ((point[1] - centre[1]) * scale + half_h) as isize;
        let extent = if scene.singled_out > 0 && rank >= first_singled {
            dot + 2
        } else {
            dot
        };
        let colour = scene.colours[index];
        for dy in 0..extent {
            for dx in 0..extent {
                let (px, py) = (x + dx - extent / 2, y + dy - extent / 2);
                if px >= 0 && py >= 0 && (px as usize) < width && (py as usize) < height {
                    pixels[py as usize * width + px as usize] = colour;
                }
            }
        }
    }
    egui::ColorImage::new(size, pixels)
}
