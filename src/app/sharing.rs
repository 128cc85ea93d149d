//! The Run menu: "Import predictions…", another model's predictions brought in as a run to
//! review, and "Export report…", the open run's audit as one HTML file to share.

use std::path::PathBuf;

use crate::app::background::task::{Finished, Task, take_finished};
use crate::app::state::workspace::Command;
use crate::app::studio::StudioApp;
use crate::dataset::split::Split;
use crate::review::import::{ImportRequest, import_predictions};
use crate::review::label_issues::{label_issues_folder, read_label_issues};
use crate::review::report::{ReportInput, build_report};

/// Which file a file dialog is choosing.
#[derive(Clone, Copy, PartialEq)]
enum Choosing {
    Predictions,
    Embeddings,
    Report,
}

/// The import form's fields.
#[derive(Default)]
struct ImportForm {
    predictions: Option<PathBuf>,
    embeddings: Option<PathBuf>,
    name: String,
}

#[derive(Default)]
pub struct Sharing {
    form: Option<ImportForm>,
    dialog: Option<(Choosing, Task<Option<PathBuf>>)>,
    /// The import under way: the new run's folder, or why it was refused.
    importing: Option<Task<Result<PathBuf, String>>>,
}

impl StudioApp {
    pub(super) fn run_menu_ui(&mut self, ui: &mut egui::Ui) {
        ui.menu_button("Run", |ui| {
            let has_dataset = self.ws.dataset.is_some();
            if ui
                .add_enabled(has_dataset, egui::Button::new("Import predictions…"))
                .on_hover_text(
                    "Review another model's predictions of this dataset (CSV, optionally with embeddings)",
                )
                .on_disabled_hover_text("Open a dataset first: predictions are matched to its patches")
                .clicked()
            {
                self.windows.sharing.form = Some(ImportForm::default());
            }
            if ui
                .add_enabled(self.ws.run.is_some(), egui::Button::new("Export report…"))
                .on_hover_text("The open run's audit as one HTML file, images inside, to send")
                .on_disabled_hover_text("Open a finished or imported run first")
                .clicked()
            {
                self.choose_file(ui.ctx(), Choosing::Report);
            }
        });
    }

    fn choose_file(&mut self, ctx: &egui::Context, choosing: Choosing) {
        if self.windows.sharing.dialog.is_some() {
            return;
        }
        let folder = self.ws.settings.runs_folder.clone();
        let run_name = self.ws.run.as_ref().map(|run| run.name()).unwrap_or_default();
        let task = Task::spawn("idc-file-dialog", ctx, move || {
            let dialog = rfd::FileDialog::new();
            match choosing {
                Choosing::Predictions => dialog
                    .set_title("Predictions to import")
                    .add_filter("CSV", &["csv"])
                    .pick_file(),
                Choosing::Embeddings => dialog
                    .set_title("Their embeddings (float32 N×D, in the CSV's row order)")
                    .add_filter("NumPy", &["npy"])
                    .pick_file(),
                Choosing::Report => dialog
                    .set_title("Export report")
                    .set_directory(folder)
                    .set_file_name(format!("{run_name}-report.html"))
                    .add_filter("HTML", &["html"])
                    .save_file(),
            }
        });
        self.windows.sharing.dialog = Some((choosing, task));
    }

    /// The import form, the dialogs' answers and the import's result.
    pub(super) fn sharing_windows(&mut self, ctx: &egui::Context) {
        self.take_chosen_file();
        match take_finished(&mut self.windows.sharing.importing) {
            Finished::NotYet => {}
            Finished::Done(Ok(folder)) => {
                self.ws
                    .info(format!("imported predictions as {}", folder.display()));
                self.ws.send(Command::OpenRun(folder));
            }
            Finished::Done(Err(why)) => self.ws.error(why),
            Finished::Failed(why) => self.ws.error(format!("the import stopped unexpectedly: {why}")),
        }
        let Some(form) = &mut self.windows.sharing.form else {
            return;
        };
        let mut open = true;
        let mut choose = None;
        let mut start = false;
        let busy = self.windows.sharing.importing.is_some();
        egui::Window::new("Import predictions")
            .open(&mut open)
            .collapsible(false)
            .default_width(520.0)
            .show(ctx, |ui| {
                ui.label(
                    "A CSV naming each patch by `path` or `patient,x,y`, with `prob_idc` (or `pred_probs_0,pred_probs_1`); \
                     optionally `part` (train/validation/test) and `fold`. Without `part`, every row is the test part.",
                );
                egui::Grid::new("import-form").num_columns(3).show(ui, |ui| {
                    let shown = |path: &Option<PathBuf>| {
                        path.as_ref()
                            .map_or_else(|| "none chosen".into(), |path| path.display().to_string())
                    };
                    ui.label("Predictions");
                    ui.label(shown(&form.predictions));
                    if ui.button("Choose…").clicked() {
                        choose = Some(Choosing::Predictions);
                    }
                    ui.end_row();
                    ui.label("Embeddings (optional)");
                    ui.label(shown(&form.embeddings));
                    if ui.button("Choose…").clicked() {
                        choose = Some(Choosing::Embeddings);
                    }
                    ui.end_row();
                    ui.label("Run name");
                    ui.text_edit_singleline(&mut form.name);
                    ui.end_row();
                });
                ui.label(
                    egui::RichText::new(
                        "Without embeddings, \"More like this\" and the map are unavailable for the run.",
                    )
                    .weak(),
                );
                let ready = form.predictions.is_some() && !form.name.trim().is_empty() && !busy;
                if busy {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("Checking every row and writing the run…");
                    });
                }
                start = ui.add_enabled(ready, egui::Button::new("Import")).clicked();
            });
        if let Some(choosing) = choose {
            self.choose_file(ctx, choosing);
        }
        if start {
            self.start_import(ctx);
        }
        if !open {
            self.windows.sharing.form = None;
        }
    }

    fn take_chosen_file(&mut self) {
        let Some(choosing) = self
            .windows
            .sharing
            .dialog
            .as_ref()
            .map(|(choosing, _)| *choosing)
        else {
            return;
        };
        let mut slot = self.windows.sharing.dialog.take().map(|(_, task)| task);
        match take_finished(&mut slot) {
            Finished::NotYet => {
                self.windows.sharing.dialog = slot.map(|task| (choosing, task));
            }
            Finished::Done(chosen) => {
                let Some(path) = chosen else { return };
                let form = self.windows.sharing.form.get_or_insert_with(ImportForm::default);
                match choosing {
                    Choosing::Predictions => {
                        if form.name.trim().is_empty() {
                            form.name = path
                                .file_stem()
                                .map_or_else(String::new, |stem| stem.to_string_lossy().into_owned());
                        }
                        form.predictions = Some(path);
                    }
                    Choosing::Embeddings => form.embeddings = Some(path),
                    Choosing::Report => {
                        self.windows.sharing.form = None;
                        self.export_report(path);
                    }
                }
            }
            Finished::Failed(why) => {
                self.ws
                    .error(format!("the file dialog could not be shown: {why}"));
            }
        }
    }

    fn start_import(&mut self, ctx: &egui::Context) {
        let (Some(form), Some(dataset)) = (&self.windows.sharing.form, self.ws.dataset.clone()) else {
            return;
        };
        let Some(predictions) = form.predictions.clone() else {
            return;
        };
        let embeddings = form.embeddings.clone();
        let folder = self.ws.settings.runs_folder.join(form.name.trim());
        self.windows.sharing.importing = Some(Task::spawn("idc-import", ctx, move || {
            import_predictions(&ImportRequest {
                store: &dataset.store,
                predictions: &predictions,
                embeddings: embeddings.as_deref(),
                folder: &folder,
            })
            .map(|imported| imported.folder.root().to_path_buf())
            .map_err(|err| err.to_string())
        }));
    }

    /// Builds the open run's report here (a fraction of a second: the tiles are few) and hands
    /// it to the file writer.
    fn export_report(&mut self, path: PathBuf) {
        let (Some(run), Some(dataset)) = (&self.ws.run, &self.ws.dataset) else {
            return;
        };
        if run.folder.owns(&path) {
            return self.ws.error(format!(
                "{}: that is the run's own file; save the report under another name",
                path.display()
            ));
        }
        let split = match Split::load(
            &dataset.store,
            run.info.config.split,
            run.info.config.seed,
            &run.folder.split_path(),
        ) {
            Ok(split) => split,
            Err(err) => return self.ws.error(format!("the report needs the run's split: {err}")),
        };
        let reviews = self.ws.annotating.reviews.as_ref();
        let label_issues = reviews
            .and_then(|reviews| read_label_issues(&label_issues_folder(reviews.folder())).ok())
            .flatten();
        let html = build_report(&ReportInput {
            run,
            store: &dataset.store,
            split: &split,
            reviews,
            label_issues: label_issues.as_deref(),
            tiles: 12,
            made_at: chrono::Local::now().format("%Y-%m-%d %H:%M %:z").to_string(),
        });
        match html {
            Ok(html) => {
                self.ws.saver.save(path.clone(), html.into_bytes());
                self.ws.info(format!("report written to {}", path.display()));
            }
            Err(err) => self.ws.error(err.to_string()),
        }
    }
}
