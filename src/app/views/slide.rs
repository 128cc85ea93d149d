//! A patient's slide rebuilt from patch coordinates: pan by dragging, zoom with the wheel, with
//! the ground-truth IDC regions, the run's predicted probability and the reader's annotations
//! as overlays. Clicking the slide picks the patch under the pointer.

use std::sync::Arc;

use crate::app::background::task::{Finished, Task, take_finished};
use crate::app::widgets::annotation_panel::{TileMark, state_colour};
use crate::dataset::{Label, PatchStore, SlideImage, SlideLayout};
use crate::review::Cell;

/// The outline of a missed cancer on the slide.
pub const MISSED_COLOUR: egui::Color32 = egui::Color32::from_rgb(255, 150, 0);
/// The outline of a false alarm on the slide.
pub const FALSE_ALARM_COLOUR: egui::Color32 = egui::Color32::from_rgb(0, 210, 255);

/// Longest side of the slide texture; IDC slides are at most a few thousand pixels.
const MAX_TEXTURE_SIDE: usize = 2048;

pub struct SlideView {
    layout: Option<Arc<SlideLayout>>,
    render: Option<Task<SlideImage>>,
    texture: Option<egui::TextureHandle>,
    scene_rect: egui::Rect,
    pub show_truth: bool,
    pub show_heatmap: bool,
    pub show_annotations: bool,
    /// The open run's test errors (FN, FP) outlined.
    pub show_errors: bool,
    /// Why the slide could not be drawn, if it could not.
    failed: Option<String>,
}

impl Default for SlideView {
    fn default() -> Self {
        Self {
            layout: None,
            render: None,
            texture: None,
            scene_rect: egui::Rect::ZERO,
            show_truth: true,
            show_heatmap: true,
            show_annotations: true,
            show_errors: true,
            failed: None,
        }
    }
}

impl SlideView {
    /// Shows `layout`'s slide from now on, rendering it off the UI thread.
    pub fn set_layout(&mut self, ctx: &egui::Context, store: &Arc<PatchStore>, layout: Arc<SlideLayout>) {
        if self
            .layout
            .as_ref()
            .is_some_and(|shown| Arc::ptr_eq(shown, &layout))
        {
            return;
        }
        let store = Arc::clone(store);
        let to_render = Arc::clone(&layout);
        self.render = Some(Task::spawn("idc-slide-render", ctx, move || {
            to_render.render(&store, MAX_TEXTURE_SIDE)
        }));
        self.layout = Some(layout);
        self.texture = None;
        self.failed = None;
        self.scene_rect = egui::Rect::ZERO;
    }

    pub fn clear(&mut self) {
        *self = Self {
            show_truth: self.show_truth,
            show_heatmap: self.show_heatmap,
            show_annotations: self.show_annotations,
            show_errors: self.show_errors,
            ..Self::default()
        };
    }

    pub fn is_ready(&self) -> bool {
        self.texture.is_some()
    }

    /// Draws the slide; returns the patch clicked, if any. `prob_idc` gives the heatmap;
    /// `marks` the reader's annotations, outlined in their judgement's colour; `cell` the run's
    /// verdict on a test patch, whose errors are outlined.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        store: &PatchStore,
        selected: Option<usize>,
        prob_idc: &dyn Fn(usize) -> Option<f32>,
        marks: &dyn Fn(usize) -> Option<TileMark>,
        cell: &dyn Fn(usize) -> Option<Cell>,
    ) -> Option<usize> {
        self.take_render(ui.ctx());
        if let Some(why) = &self.failed {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("the slide could not be drawn: {why}"),
            );
            return None;
        }
        let (Some(layout), Some(texture)) = (self.layout.clone(), self.texture.clone()) else {
            ui.spinner();
            return None;
        };
        let (width, height) = layout.size();
        let slide_rect = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(width as f32, height as f32));
        if ui.button("Fit").clicked() {
            self.scene_rect = slide_rect;
        }
        let mut clicked = None;
        egui::Frame::canvas(ui.style()).show(ui, |ui| {
            let scene = egui::Scene::new().zoom_range(0.05..=16.0);
            scene.show(ui, &mut self.scene_rect, |ui| {
                let response = ui.allocate_rect(slide_rect, egui::Sense::click());
                response.widget_info(|| {
                    egui::WidgetInfo::labeled(egui::Role::Image, true, "slide (click a patch to choose it)")
                });
                let painter = ui.painter();
                painter.image(
                    texture.id(),
                    slide_rect,
                    egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                    egui::Color32::WHITE,
                );
                let (origin_x, origin_y) = layout.origin();
                let patch_rect = |index: usize| {
                    let patch = store.patch(index);
                    egui::Rect::from_min_size(
                        egui::pos2((patch.x - origin_x) as f32, (patch.y - origin_y) as f32),
                        egui::vec2(f32::from(patch.width), f32::from(patch.height)),
                    )
                };
                for &index in layout.patches() {
                    if self.show_heatmap
                        && let Some(prob) = prob_idc(index)
                    {
                        painter.rect_filled(patch_rect(index), 0.0, heat_colour(prob));
                    }
                    if self.show_truth && store.patch(index).label == Label::Idc {
                        painter.rect_stroke(
                            patch_rect(index).shrink(1.5),
                            0.0,
                            egui::Stroke::new(3.0, egui::Color32::from_rgb(230, 30, 30)),
                            egui::StrokeKind::Inside,
                        );
                    }
                }
                let outlines = Outlines {
                    errors: self.show_errors.then_some(cell),
                    annotations: self.show_annotations.then_some(marks),
                };
                paint_outlines(painter, layout.patches(), &patch_rect, outlines);
                if let Some(index) = selected.filter(|&index| store.patch(index).patient == layout.patient())
                {
                    painter.rect_stroke(
                        patch_rect(index).expand(2.0),
                        0.0,
                        egui::Stroke::new(5.0, egui::Color32::YELLOW),
                        egui::StrokeKind::Outside,
                    );
                }
                if response.clicked()
                    && let Some(position) = response.interact_pointer_pos()
                {
                    let x = origin_x + position.x.max(0.0) as u32;
                    let y = origin_y + position.y.max(0.0) as u32;
                    clicked = layout.patch_at(store, x, y);
                }
            });
        });
        clicked
    }

    fn take_render(&mut self, ctx: &egui::Context) {
        match take_finished(&mut self.render) {
            Finished::NotYet => {}
            Finished::Done(image) => {
                let colour =
                    egui::ColorImage::from_rgba_unmultiplied([image.width, image.height], &image.rgba);
                self.texture = Some(ctx.load_texture("slide", colour, egui::TextureOptions::NEAREST));
            }
            Finished::Failed(why) => self.failed = Some(why),
        }
    }
}

/// Blue (surely not IDC) through transparent to red (surely IDC), see-through over the tissue.
pub fn heat_colour(prob_idc: f32) -> egui::Color32 {
    let prob = prob_idc.clamp(0.0, 1.0);
    let red = (255.0 * prob) as u8;
    let blue = (255.0 * (1.0 - prob)) as u8;
    egui::Color32::from_rgba_unmultiplied(red, 40, blue, 110)
}

/// Which outlines the slide draws: the run's errors (by each patch's cell) and the reader's
/// annotations (by each patch's mark); `None` where that layer is off.
struct Outlines<'a> {
    errors: Option<&'a dyn Fn(usize) -> Option<Cell>>,
    annotations: Option<&'a dyn Fn(usize) -> Option<TileMark>>,
}

/// Outlines the missed cancers and false alarms, and the patches the reader annotated.
fn paint_outlines(
    painter: &egui::Painter,
    patches: &[usize],
    patch_rect: &dyn Fn(usize) -> egui::Rect,
    outlines: Outlines,
) {
    if let Some(cell) = outlines.errors {
        for &index in patches {
            let colour = match cell(index) {
                Some(Cell::FalseNegative) => MISSED_COLOUR,
                Some(Cell::FalsePositive) => FALSE_ALARM_COLOUR,
                _ => continue,
            };
            // A dark edge under the colour: orange must show on the red of IDC.
            painter.rect_stroke(
                patch_rect(index).shrink(7.0),
                0.0,
                egui::Stroke::new(5.0, egui::Color32::BLACK),
                egui::StrokeKind::Inside,
            );
            painter.rect_stroke(
                patch_rect(index).shrink(8.0),
                0.0,
                egui::Stroke::new(3.0, colour),
                egui::StrokeKind::Inside,
            );
        }
    }
    if let Some(marks) = outlines.annotations {
        for &index in patches {
            if let Some(mark) = marks(index) {
                let colour = if mark.state.is_reviewed() {
                    state_colour(mark.state)
                } else {
                    egui::Color32::from_rgb(250, 60, 200) // flagged or noted only
                };
                painter.rect_stroke(
                    patch_rect(index).shrink(5.0),
                    0.0,
                    egui::Stroke::new(3.0, colour),
                    egui::StrokeKind::Inside,
                );
            }
        }
    }
}
