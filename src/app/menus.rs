//! The shell's menus and windows: View (the theme), Help (keys, messages, the log folder,
//! About), the messages panel that keeps every message since the app started, and the About box
//! that says where everything lives.

use crate::app::state::settings::Theme;
use crate::app::state::workspace::Command;
use crate::app::studio::StudioApp;

/// Which of the shell's windows are open.
#[derive(Default)]
pub struct ShellWindows {
    pub messages: bool,
    pub about: bool,
    /// Messages before this index are not shown in the status bar (dismissed), but are kept.
    pub dismissed: usize,
    applied_theme: Option<Theme>,
    /// "Import predictions…" and "Export report…".
    pub sharing: super::sharing::Sharing,
}

impl StudioApp {
    /// Applies the theme when it changed (and on the first frame).
    pub(super) fn apply_theme(&mut self, ctx: &egui::Context) {
        let theme = self.ws.settings.theme;
        if self.windows.applied_theme != Some(theme) {
            ctx.set_theme(theme.preference());
            self.windows.applied_theme = Some(theme);
        }
    }

    pub(super) fn menus_ui(&mut self, ui: &mut egui::Ui) {
        self.run_menu_ui(ui);
        ui.menu_button("View", |ui| {
            ui.label("Theme");
            for theme in Theme::ALL {
                if ui
                    .radio_value(&mut self.ws.settings.theme, theme, theme.name())
                    .clicked()
                {
                    self.ws.send(Command::SaveSettings);
                }
            }
        });
        ui.menu_button("Help", |ui| {
            if ui.button("Keyboard shortcuts (?)").clicked() {
                self.ws.send(Command::ToggleShortcuts);
            }
            if ui
                .button(format!("Messages ({})", self.ws.notices.len()))
                .clicked()
            {
                self.windows.messages = true;
            }
            if ui.button("Open log folder").clicked() {
                self.open_log_folder();
            }
            if ui.button("About idc-studio").clicked() {
                self.windows.about = true;
            }
        });
    }

    fn open_log_folder(&mut self) {
        let Some(folder) = self.log_folder.clone() else {
            self.ws.error(
                "there is no log file: it could not be created when the app started (see standard error)",
            );
            return;
        };
        if let Err(err) = open::that_detached(&folder) {
            self.ws
                .error(format!("could not open {}: {err}", folder.display()));
        }
    }

    /// The newest message not dismissed, and the button to the messages panel.
    pub(super) fn status_message_ui(&mut self, ui: &mut egui::Ui) {
        let count = self.ws.notices.len();
        if ui
            .small_button(format!("Messages ({count})"))
            .on_hover_text("Every message since the app started")
            .clicked()
        {
            self.windows.messages = !self.windows.messages;
        }
        if count > self.windows.dismissed
            && let Some(notice) = self.ws.notices.last()
        {
            if notice.is_error {
                ui.colored_label(ui.visuals().error_fg_color, &notice.text);
            } else {
                ui.label(&notice.text);
            }
            if ui.small_button("Dismiss").clicked() {
                self.windows.dismissed = count;
            }
        }
    }

    pub(super) fn shell_windows(&mut self, ctx: &egui::Context) {
        self.sharing_windows(ctx);
        let mut open = self.windows.messages;
        egui::Window::new("Messages")
            .open(&mut open)
            .default_size([640.0, 320.0])
            .show(ctx, |ui| {
                ui.label(format!(
                    "{} messages since the app started, newest first; they are also in the log file.",
                    self.ws.notices.len()
                ));
                egui::ScrollArea::vertical().show(ui, |ui| {
                    egui::Grid::new("messages")
                        .num_columns(2)
                        .striped(true)
                        .show(ui, |ui| {
                            for notice in self.ws.notices.iter().rev() {
                                ui.monospace(&notice.time);
                                if notice.is_error {
                                    ui.colored_label(ui.visuals().error_fg_color, &notice.text);
                                } else {
                                    ui.label(&notice.text);
                                }
                                ui.end_row();
                            }
                        });
                });
            });
        self.windows.messages = open;

        let mut open = self.windows.about;
        egui::Window::new("About idc-studio")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                ui.heading(format!("idc-studio {}", env!("CARGO_PKG_VERSION")));
                ui.label(env!("CARGO_PKG_DESCRIPTION"));
                ui.add_space(6.0);
                let annotations = self
                    .ws
                    .annotating
                    .reviews
                    .as_ref()
                    .map(|reviews| reviews.folder().display().to_string());
                let dataset = self
                    .ws
                    .dataset
                    .as_ref()
                    .map(|dataset| dataset.store.root().display().to_string());
                let rows = [
                    (
                        "Device",
                        self.training
                            .found_device()
                            .unwrap_or("looking for a GPU…")
                            .to_string(),
                    ),
                    ("Dataset", dataset.unwrap_or_else(|| "none open".into())),
                    ("Annotations", annotations.unwrap_or_else(|| "none open".into())),
                    ("Demo data", self.demo_dir.display().to_string()),
                    ("Runs", self.ws.settings.runs_folder.display().to_string()),
                    ("Settings", self.ws.settings_path.display().to_string()),
                    (
                        "Logs",
                        self.log_folder.as_ref().map_or_else(
                            || "none (standard error only)".into(),
                            |folder| folder.display().to_string(),
                        ),
                    ),
                ];
                egui::Grid::new("about").num_columns(2).show(ui, |ui| {
                    for (name, value) in rows {
                        ui.strong(name);
                        ui.label(value);
                        ui.end_row();
                    }
                });
            });
        self.windows.about = open;
    }
}
