//! A progress bar whose words are never cut off: they stand on their own line above the bar,
//! wrapping where the panel is narrow, and the bar shows the share done. The words never move
//! into or out of the bar as they grow, so the layout does not jump with them.

/// Draws `fraction` (0 to 1) under `text`, the bar `desired_width` wide where there is room.
pub fn progress_bar(ui: &mut egui::Ui, fraction: f32, text: impl Into<String>, desired_width: Option<f32>) {
    let width = desired_width
        .unwrap_or_else(|| ui.available_width())
        .min(ui.available_width());
    ui.add(egui::Label::new(text.into()).wrap());
    ui.add(
        egui::ProgressBar::new(fraction)
            .desired_width(width)
            .show_percentage(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;

    const TEXT: &str = "epoch 3/10 · batch 120/240 · 812 images/s · ETA 4m 10s";

    #[test]
    fn the_words_stand_whole_above_the_bar_however_narrow_the_panel() {
        for width in [180.0, 900.0] {
            let harness = Harness::builder()
                .with_size([width, 120.0])
                .build_ui(|ui| progress_bar(ui, 0.3, TEXT, None));
            let words = harness.get_by_role_and_label(egui::accesskit::Role::Label, TEXT);
            let bar = harness.get_by_role(egui::accesskit::Role::ProgressIndicator);
            assert!(
                words.rect().max.y <= bar.rect().min.y,
                "above the bar at {width} px"
            );
            assert!(words.rect().max.x <= width, "within the panel at {width} px");
        }
    }
}
