//! The start view: open a dataset folder, the demo dataset or a recent one; reopen the last run;
//! and the open dataset's scan report with every skipped file and why.

use std::path::{Path, PathBuf};

use crate::app::background::task::{Finished, Task, take_finished};
use crate::app::state::workspace::{Command, Workspace};
use crate::dataset::Dataset;

#[derive(Default)]
pub struct WelcomeView {
    typed_path: String,
    folder_dialog: Option<Task<Option<PathBuf>>>,
}

impl WelcomeView {
    pub fn show(&mut self, ui: &mut egui::Ui, ws: &mut Workspace, demo_dir: &Path) {
        self.take_dialog_result(ws);
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.add_space(8.0);
            ui.heading("Train and audit an IDC classifier on breast histology patches");
            ui.label(
                "Open a folder in the IDC layout (one folder per patient, with 0/ and 1/ inside), \
                 or try the app on the built-in synthetic demo dataset.",
            );
            ui.add_space(12.0);
            ui.horizontal(|ui| {
                let dialog_open = self.folder_dialog.is_some();
                if ui
                    .add_enabled(!dialog_open, egui::Button::new("Open dataset folder…"))
                    .clicked()
                {
                    self.folder_dialog = Some(Task::spawn("idc-folder-dialog", ui.ctx(), || {
                        rfd::FileDialog::new()
                            .set_title("Open an IDC dataset folder")
                            .pick_folder()
                    }));
                }
                if ui
                    .button("Use demo dataset")
                    .on_hover_text(format!(
                        "Synthetic tissue, generated on first use into {}",
                        demo_dir.display()
                    ))
                    .clicked()
                {
                    ws.send(Command::OpenDemoDataset);
                }
            });
            ui.horizontal(|ui| {
                ui.label("Folder:");
                let field = ui.add(
                    egui::TextEdit::singleline(&mut self.typed_path)
                        .hint_text("/path/to/IDC_regular_ps50_idx5")
                        .desired_width(420.0),
                );
                let entered = field.lost_focus() && ui.input(|input| input.key_pressed(egui::Key::Enter));
                if (ui.button("Open").clicked() || entered) && !self.typed_path.trim().is_empty() {
                    ws.send(Command::OpenDataset(PathBuf::from(self.typed_path.trim())));
                }
            });

            ui.add_space(12.0);
            recent_ui(ui, ws);
            if let Some(dataset) = ws.dataset.clone() {
                ui.add_space(12.0);
                scan_report_ui(ui, &dataset);
            }
        });
    }

    fn take_dialog_result(&mut self, ws: &mut Workspace) {
        match take_finished(&mut self.folder_dialog) {
            Finished::NotYet | Finished::Done(None) => {}
            Finished::Done(Some(folder)) => ws.send(Command::OpenDataset(folder)),
            Finished::Failed(why) => ws.error(format!(
                "the folder dialog could not be shown ({why}); type the folder's path instead"
            )),
        }
    }
}

fn recent_ui(ui: &mut egui::Ui, ws: &mut Workspace) {
    ui.strong("Recent datasets");
    if ws.settings.recent_datasets.is_empty() {
        ui.weak("None yet.");
    }
    for folder in ws.settings.recent_datasets.clone() {
        let exists = folder.is_dir();
        let response = ui.add_enabled(
            exists,
            egui::Button::new(folder.display().to_string()).frame(false),
        );
        if !exists {
            response.on_disabled_hover_text("This folder is no longer there.");
        } else if response.clicked() {
            ws.send(Command::OpenDataset(folder));
        }
    }
    if let Some(run) = ws.settings.last_run.clone()
        && run.is_dir()
    {
        ui.add_space(6.0);
        if ui
            .button(format!("Reopen last run ({})", run.display()))
            .clicked()
        {
            ws.send(Command::OpenRun(run));
        }
    }
}

fn scan_report_ui(ui: &mut egui::Ui, dataset: &Dataset) {
    let report = &dataset.report;
    ui.strong("Scan report");
    ui.label(format!(
        "{}: {} patients, {} patches ({} non-IDC, {} IDC), {} edge patches smaller than 50x50",
        report.root.display(),
        report.patients,
        report.patches,
        report.class_counts[0],
        report.class_counts[1],
        report.edge_patches
    ));
    for copy in &report.nested_copies_skipped {
        ui.label(format!(
            "skipped the duplicate copy of the dataset in {}",
            copy.display()
        ));
    }
    if report.skipped.is_empty() {
        ui.label("No files were skipped.");
        return;
    }
    let kinds: Vec<String> = report
        .skipped_by_kind()
        .into_iter()
        .map(|(kind, count)| format!("{count} {kind}"))
        .collect();
    ui.label(format!(
        "{} files skipped: {}",
        report.skipped.len(),
        kinds.join(", ")
    ));
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
    egui::ScrollArea::vertical()
        .id_salt("skipped-files")
        .max_height(240.0)
        .show_rows(ui, row_height, report.skipped.len(), |ui, rows| {
            for skipped in &report.skipped[rows] {
                ui.label(format!("{}: {}", skipped.path.display(), skipped.reason));
            }
        });
}
