//! The annotation panel beside a chosen patch, the same in Review and Patients: the reader's
//! judgement (agree, relabel 0/1, unsure), the flag and the note, each button with its key; what
//! other readers said; and the marks that show a judgement on a tile.

use crate::app::shortcuts::Action;
pub use crate::app::state::annotating::{PanelIntent, TileMark};
use crate::app::state::workspace::Workspace;
use crate::review::{Annotation, AnnotationChange, ReviewState};

/// The id of the note field, so "E" can give it the keyboard.
pub const NOTE_ID: &str = "annotation-note";

/// The note being typed: kept apart from the saved one only while the field has the keyboard,
/// so an undo or another window's change shows as soon as the reader is not typing.
#[derive(Default)]
pub struct NoteEditor {
    text: String,
    focus_next_frame: bool,
}

impl NoteEditor {
    pub fn focus(&mut self) {
        self.focus_next_frame = true;
    }
}

/// Draws the panel for patch `index`; returns what the reader asked of it, for the view to
/// apply ([`Workspace::take_intent`]): its buttons' actions (as keys), a note typed, a name to
/// give.
pub fn annotation_panel_ui(
    ui: &mut egui::Ui,
    ws: &Workspace,
    index: usize,
    editor: &mut NoteEditor,
) -> Vec<PanelIntent> {
    let mut actions = Vec::new();
    let reader = ws.reader().map(str::to_string);
    ui.horizontal(|ui| {
        ui.strong("Your judgement");
        match &reader {
            Some(reader) => {
                ui.weak(format!("as {reader}"));
            }
            None => {
                if ui.small_button("Say who you are").clicked() {
                    actions.push(PanelIntent::AskReader);
                }
            }
        }
    });
    let current = ws.annotation_of(index).cloned();
    let state = current
        .as_ref()
        .map_or(ReviewState::Unreviewed, |annotation| annotation.state);
    let label = ws
        .dataset
        .as_ref()
        .map(|dataset| dataset.store.patch(index).label);
    ui.horizontal_wrapped(|ui| {
        for (action, state_of, text) in [
            (Action::Agree, ReviewState::Agree, "Agree"),
            (Action::RelabelNonIdc, ReviewState::RelabelNonIdc, "Relabel 0"),
            (Action::RelabelIdc, ReviewState::RelabelIdc, "Relabel 1"),
            (Action::Unsure, ReviewState::Unsure, "Unsure"),
        ] {
            // Relabelling to the dataset's own label is agreeing: that button is off.
            let same_label = label.is_some_and(|label| ReviewState::relabel(label) == state_of);
            let button = egui::Button::new(text).selected(state == state_of);
            if ui
                .add_enabled(!same_label, button)
                .on_hover_text(action.tooltip())
                .on_disabled_hover_text("This is the dataset's label: press Agree")
                .clicked()
            {
                actions.push(PanelIntent::Act(action));
            }
        }
        if ui
            .add_enabled(state.is_reviewed(), egui::Button::new("Clear"))
            .on_hover_text(Action::ClearJudgement.tooltip())
            .clicked()
        {
            actions.push(PanelIntent::Act(Action::ClearJudgement));
        }
    });
    ui.weak("Keys: A agree, 0 / 1 relabel, U unsure, F flag, N next unreviewed; ? lists them all.");
    let mut flagged = current.as_ref().is_some_and(|annotation| annotation.flagged);
    if ui
        .checkbox(&mut flagged, "Flag")
        .on_hover_text(Action::Flag.tooltip())
        .changed()
    {
        actions.push(PanelIntent::Act(Action::Flag));
    }

    let note_id = egui::Id::unique(NOTE_ID);
    let typing = ui.ctx().memory(|memory| memory.has_focus(note_id));
    if !typing {
        editor.text = current
            .as_ref()
            .map(|annotation| annotation.note.clone())
            .unwrap_or_default();
    }
    let label = ui.label("Note").on_hover_text(Action::FocusNote.tooltip());
    let response = ui
        .add(
            egui::TextEdit::multiline(&mut editor.text)
                .id(note_id)
                .desired_rows(3)
                .hint_text("What do you see? (E to write, Esc to leave)"),
        )
        .labelled_by(label.id);
    if std::mem::take(&mut editor.focus_next_frame) {
        response.request_focus();
    }
    if response.changed() {
        actions.push(PanelIntent::Annotate(AnnotationChange::Note(editor.text.clone())));
    }
    if let Some(annotation) = &current {
        ui.weak(format!("last changed {}", annotation.time.replace('T', " ")));
    }
    others_ui(ui, ws, index, reader.as_deref());
    actions
}

/// What the other readers said about the patch.
fn others_ui(ui: &mut egui::Ui, ws: &Workspace, index: usize, reader: Option<&str>) {
    let (Some(dataset), Some(reviews)) = (&ws.dataset, &ws.annotating.reviews) else {
        return;
    };
    let key = dataset.key(index);
    let others: Vec<&Annotation> = reviews
        .of_patch(&key)
        .filter(|annotation| Some(annotation.reviewer.as_str()) != reader)
        .collect();
    if others.is_empty() {
        return;
    }
    ui.add_space(4.0);
    ui.strong("Other readers");
    for other in others {
        let mut text = format!("{}: {}", other.reviewer, other.state.description());
        if other.flagged {
            text.push_str(", flagged");
        }
        if !other.note.trim().is_empty() {
            text.push_str(&format!(" — {}", other.note.trim()));
        }
        ui.label(text);
    }
}

/// The colour of a judgement's mark on tiles and slides.
pub fn state_colour(state: ReviewState) -> egui::Color32 {
    match state {
        ReviewState::Unreviewed => egui::Color32::GRAY,
        ReviewState::Agree => egui::Color32::from_rgb(40, 170, 80),
        ReviewState::RelabelNonIdc | ReviewState::RelabelIdc => egui::Color32::from_rgb(240, 140, 0),
        ReviewState::Unsure => egui::Color32::from_rgb(230, 200, 0),
    }
}

/// The one-character badge of a judgement.
fn state_badge(state: ReviewState) -> Option<&'static str> {
    match state {
        ReviewState::Unreviewed => None,
        ReviewState::Agree => Some(""), // a tick, drawn
        ReviewState::RelabelNonIdc => Some("0"),
        ReviewState::RelabelIdc => Some("1"),
        ReviewState::Unsure => Some("?"),
    }
}

/// Paints `mark` in the top corners of a tile: the judgement's badge on the right, a flag on
/// the left.
pub fn paint_tile_mark(painter: &egui::Painter, rect: egui::Rect, mark: TileMark) {
    let side = (rect.width() * 0.32).clamp(10.0, 18.0);
    if let Some(badge) = state_badge(mark.state) {
        let corner =
            egui::Rect::from_min_size(rect.right_top() + egui::vec2(-side, 0.0), egui::vec2(side, side));
        painter.rect_filled(corner, 2.0, state_colour(mark.state));
        if badge.is_empty() {
            let at = |x: f32, y: f32| corner.min + egui::vec2(x * side, y * side);
            painter.line(
                vec![at(0.2, 0.55), at(0.42, 0.78), at(0.8, 0.25)],
                egui::Stroke::new(side * 0.14, egui::Color32::BLACK),
            );
        } else {
            painter.text(
                corner.center(),
                egui::Align2::CENTER_CENTER,
                badge,
                egui::FontId::proportional(side * 0.8),
                egui::Color32::BLACK,
            );
        }
    }
    if mark.flagged {
        let top_left = rect.left_top();
        painter.add(egui::Shape::convex_polygon(
            vec![
                top_left,
                top_left + egui::vec2(side, 0.0),
                top_left + egui::vec2(0.0, side),
            ],
            egui::Color32::from_rgb(250, 60, 200),
            egui::Stroke::NONE,
        ));
    }
}
