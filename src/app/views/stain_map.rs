//! The Patients view's stain map: one point a patient at the colours of its haematoxylin and
//! eosin (Macenko's estimate, as hue angles), so that a slide stained unlike the others stands
//! apart. The unusual ones are drawn
//! large and named; clicking a point opens that patient.

use egui_plot::{Plot, PlotPoint, Points, Text};

use crate::app::background::patient_stains::PatientStainsWork;
use crate::dataset::Dataset;
use crate::dataset::stain::PatientStain;
use crate::dataset::stain::patient_stains::{StainHues, UNUSUAL_STAIN_DISTANCE};

/// Usual patients: a muted purple, as haematoxylin.
const USUAL_COLOUR: egui::Color32 = egui::Color32::from_rgb(120, 90, 170);
/// Patients whose stain is far from the others'.
const UNUSUAL_COLOUR: egui::Color32 = egui::Color32::from_rgb(255, 150, 0);
/// The chosen patient.
const CHOSEN_COLOUR: egui::Color32 = egui::Color32::from_rgb(30, 200, 120);
/// A click this close to a point, in points, picks it.
const PICK_DISTANCE: f32 = 12.0;

#[derive(Default)]
pub struct StainMap {
    pub work: PatientStainsWork,
}

impl StainMap {
    /// Draws the map; returns the patient the reader clicked.
    pub fn ui(&mut self, ui: &mut egui::Ui, dataset: &Dataset, chosen: Option<u32>) -> Option<u32> {
        self.work.request(ui.ctx(), &dataset.store);
        self.work.poll();
        ui.heading("Stain of each patient");
        ui.weak(
            "Each point is a patient: the colour of its haematoxylin (nuclei, blue-purple) and of its eosin \
             (stroma, pink), estimated from all its patches (Macenko). Slides from another lab or staining \
             batch stand apart; a model trained on the others may fail on them. Click a point to open the patient.",
        );
        if let Some((done, total)) = self.work.progress() {
            let text = format!("Estimating each patient's stain: {done} of {total} patients");
            crate::app::widgets::progress::progress_bar(ui, done as f32 / total.max(1) as f32, text, None);
            return None;
        }
        if let Some(error) = &self.work.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
            return None;
        }
        let stains = self.work.stains.clone()?;
        let unusual = stains.unusual();
        let hues: Vec<Option<StainHues>> = stains.patients.iter().map(PatientStain::hues).collect();
        let position =
            |index: usize| hues[index].map(|hues| [f64::from(hues.haematoxylin), f64::from(hues.eosin)]);
        let (mut usual_points, mut unusual_points) = (Vec::new(), Vec::new());
        for (index, &is_unusual) in unusual.iter().enumerate() {
            let Some(position) = position(index) else {
                continue; // no estimate: too little tissue
            };
            if is_unusual {
                unusual_points.push(position);
            } else {
                usual_points.push(position);
            }
        }
        let unusual_count = unusual_points.len();
        let response = Plot::new("patient-stains")
            .height((ui.available_height() - 60.0).max(220.0))
            .x_axis_label("haematoxylin colour (hue, degrees)")
            .y_axis_label("eosin colour (hue, degrees)")
            .allow_double_click_reset(true)
            .show(ui, |plot| {
                plot.points(
                    Points::new("patients", usual_points)
                        .radius(4.0)
                        .color(USUAL_COLOUR),
                );
                plot.points(
                    Points::new("unlike the others", unusual_points)
                        .radius(7.0)
                        .color(UNUSUAL_COLOUR),
                );
                for index in (0..stains.patients.len()).filter(|&index| unusual[index]) {
                    let Some([x, y]) = position(index) else {
                        continue;
                    };
                    let name = &stains.patients[index].patient;
                    plot.text(
                        Text::new(name.clone(), PlotPoint::new(x, y), format!("  {name}"))
                            .anchor(egui::Align2::LEFT_CENTER),
                    );
                }
                if let Some(chosen) = chosen.and_then(|patient| position(patient as usize)) {
                    plot.points(
                        Points::new("chosen", vec![chosen])
                            .radius(9.0)
                            .filled(false)
                            .color(CHOSEN_COLOUR),
                    );
                }
            });
        // The nearest point on screen to the pointer: hovered, it is named; clicked, opened.
        let nearest = response.response.hover_pos().and_then(|pointer| {
            nearest_point(&response.transform, pointer, stains.patients.len(), &position)
        });
        let mut opened = None;
        if let Some(index) = nearest {
            let patches = dataset.summaries.get(index).map(|summary| summary.patches);
            let hues = position(index).unwrap_or_default();
            response.response.clone().on_hover_text(describe(
                &stains.patients[index],
                hues,
                patches,
                unusual[index],
            ));
            if response.response.clicked() {
                opened = Some(index as u32);
            }
        }
        ui.label(if unusual_count == 0 {
            "No patient's stain is far from the others'.".to_string()
        } else {
            format!(
                "{unusual_count} patient(s) stained unlike the others (a stain's colour more than \
                 {UNUSUAL_STAIN_DISTANCE} robust standard deviations from the median), drawn large and named."
            )
        });
        opened
    }
}

/// The point (by index) nearest the pointer on screen, within picking distance.
fn nearest_point(
    transform: &egui_plot::PlotTransform,
    pointer: egui::Pos2,
    count: usize,
    position: &dyn Fn(usize) -> Option<[f64; 2]>,
) -> Option<usize> {
    (0..count)
        .filter_map(|index| {
            let [x, y] = position(index)?;
            let on_screen = transform.position_from_point(&PlotPoint::new(x, y));
            Some((index, on_screen.distance(pointer)))
        })
        .filter(|&(_, distance)| distance <= PICK_DISTANCE)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(index, _)| index)
}

/// A patient's point in words: its stain's hues and amounts, its patches, whether it is unusual.
fn describe(stain: &PatientStain, [h, e]: [f64; 2], patches: Option<usize>, unusual: bool) -> String {
    format!(
        "Patient {}: haematoxylin hue {h:.1}°, eosin hue {e:.1}°; mean amounts {:.2} and {:.2}{}{}",
        stain.patient,
        stain.mean_haematoxylin,
        stain.mean_eosin,
        patches.map_or(String::new(), |patches| format!(", {patches} patches")),
        if unusual { " · unlike the others" } else { "" }
    )
}
