//! Asks the reader's name, once: it goes with every annotation, so several readers' work stays
//! apart and each judgement says whose it is. Also how a reader switches to another name.

use crate::app::state::workspace::{Command, Workspace};

#[derive(Default)]
pub struct ReaderPrompt {
    name: Option<String>,
}

impl ReaderPrompt {
    /// Shows the prompt while the workspace asks for it.
    pub fn show(&mut self, ctx: &egui::Context, ws: &mut Workspace) {
        if !ws.annotating.asking_reader {
            self.name = None;
            return;
        }
        let name = self.name.get_or_insert_with(|| {
            ws.reader()
                .map(str::to_string)
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_default()
        });
        let mut done = None;
        egui::Modal::new(egui::Id::unique("reader-prompt")).show(ctx, |ui| {
            ui.heading("Who is reading?");
            ui.label(
                "Your name goes with every annotation you make, so several readers' judgements stay apart.",
            );
            let label = ui.label("Your name");
            let field = ui
                .add(egui::TextEdit::singleline(name).desired_width(260.0))
                .labelled_by(label.id);
            if !field.has_focus() && name.trim().is_empty() {
                field.request_focus();
            }
            let entered = field.lost_focus() && ui.input(|input| input.key_pressed(egui::Key::Enter));
            ui.horizontal(|ui| {
                let valid = !name.trim().is_empty();
                if ui
                    .add_enabled(valid, egui::Button::new("Start reading"))
                    .clicked()
                    || (entered && valid)
                {
                    done = Some(Some(name.trim().to_string()));
                }
                if ui.button("Cancel").clicked() {
                    done = Some(None);
                }
            });
        });
        match done {
            Some(Some(reader)) => {
                ws.reader_named(reader);
                ws.send(Command::SaveSettings);
            }
            Some(None) => ws.reader_not_named(),
            None => {}
        }
    }
}
