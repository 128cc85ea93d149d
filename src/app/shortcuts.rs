//! The keyboard: one table of shortcuts drives the key handling, the buttons' tooltips and the
//! sheet that "?" opens, so what the app says a key does is what it does.
//!
//! Keys act only when no text field has the keyboard (typing a note never judges a patch), and
//! a key held down judges or flags once: its repeats are swallowed. Moving keys repeat.

use egui::{Key, Modifiers};

/// What a reader can do from the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Agree,
    RelabelNonIdc,
    RelabelIdc,
    Unsure,
    ClearJudgement,
    Flag,
    FocusNote,
    Previous,
    Next,
    NextUnreviewed,
    NextCell,
    OpenOnSlide,
    Undo,
    Redo,
    ShowShortcuts,
}

pub struct Shortcut {
    pub action: Action,
    pub key: Key,
    pub modifiers: Modifiers,
    /// How the key is written on the sheet and in tooltips.
    pub keys: &'static str,
    pub does: &'static str,
}

const NONE: Modifiers = Modifiers::NONE;

/// Every shortcut, in the order the sheet lists them. An action may have more than one key.
pub const SHORTCUTS: &[Shortcut] = &[
    Shortcut {
        action: Action::Agree,
        key: Key::A,
        modifiers: NONE,
        keys: "A",
        does: "agree: the dataset's label is right",
    },
    Shortcut {
        action: Action::RelabelNonIdc,
        key: Key::Num0,
        modifiers: NONE,
        keys: "0",
        does: "relabel to non-IDC (class 0)",
    },
    Shortcut {
        action: Action::RelabelIdc,
        key: Key::Num1,
        modifiers: NONE,
        keys: "1",
        does: "relabel to IDC (class 1)",
    },
    Shortcut {
        action: Action::Unsure,
        key: Key::U,
        modifiers: NONE,
        keys: "U",
        does: "unsure (left out when training on reviewed labels)",
    },
    Shortcut {
        action: Action::ClearJudgement,
        key: Key::Backspace,
        modifiers: NONE,
        keys: "Backspace",
        does: "clear the judgement (back to unreviewed)",
    },
    Shortcut {
        action: Action::Flag,
        key: Key::F,
        modifiers: NONE,
        keys: "F",
        does: "flag or unflag the patch",
    },
    Shortcut {
        action: Action::FocusNote,
        key: Key::E,
        modifiers: NONE,
        keys: "E",
        does: "write a note (Esc leaves the note)",
    },
    Shortcut {
        action: Action::Previous,
        key: Key::ArrowLeft,
        modifiers: NONE,
        keys: "Left",
        does: "previous patch",
    },
    Shortcut {
        action: Action::Previous,
        key: Key::ArrowUp,
        modifiers: NONE,
        keys: "Up",
        does: "previous patch",
    },
    Shortcut {
        action: Action::Next,
        key: Key::ArrowRight,
        modifiers: NONE,
        keys: "Right",
        does: "next patch",
    },
    Shortcut {
        action: Action::Next,
        key: Key::ArrowDown,
        modifiers: NONE,
        keys: "Down",
        does: "next patch",
    },
    Shortcut {
        action: Action::NextUnreviewed,
        key: Key::N,
        modifiers: NONE,
        keys: "N",
        does: "next patch you have not reviewed",
    },
    Shortcut {
        action: Action::NextCell,
        key: Key::C,
        modifiers: NONE,
        keys: "C",
        does: "next confusion-matrix cell (Review)",
    },
    Shortcut {
        action: Action::OpenOnSlide,
        key: Key::S,
        modifiers: NONE,
        keys: "S",
        does: "open the patch on its slide",
    },
    Shortcut {
        action: Action::Undo,
        key: Key::Z,
        modifiers: Modifiers::COMMAND,
        keys: "Ctrl+Z",
        does: "undo the last annotation change",
    },
    Shortcut {
        action: Action::Redo,
        key: Key::Z,
        modifiers: Modifiers::COMMAND.plus(Modifiers::SHIFT),
        keys: "Ctrl+Shift+Z",
        does: "redo",
    },
    Shortcut {
        action: Action::Redo,
        key: Key::Y,
        modifiers: Modifiers::COMMAND,
        keys: "Ctrl+Y",
        does: "redo",
    },
    Shortcut {
        action: Action::ShowShortcuts,
        key: Key::Questionmark,
        modifiers: NONE,
        keys: "?",
        does: "show or hide this sheet",
    },
];

impl Action {
    /// Judging and flagging: what changes the chosen patch's annotation.
    pub fn judges(self) -> bool {
        matches!(
            self,
            Action::Agree
                | Action::RelabelNonIdc
                | Action::RelabelIdc
                | Action::Unsure
                | Action::ClearJudgement
                | Action::Flag
        )
    }

    /// Moving repeats while a key is held; judging and flagging must not.
    fn repeats(self) -> bool {
        matches!(self, Action::Previous | Action::Next | Action::NextUnreviewed)
    }

    /// The keys for this action, as the sheet writes them: "Right or Down".
    pub fn keys(self) -> String {
        SHORTCUTS
            .iter()
            .filter(|shortcut| shortcut.action == self)
            .map(|shortcut| shortcut.keys)
            .collect::<Vec<_>>()
            .join(" or ")
    }

    /// A button's tooltip: what it does and its key.
    pub fn tooltip(self) -> String {
        let does = SHORTCUTS
            .iter()
            .find(|shortcut| shortcut.action == self)
            .map_or("", |shortcut| shortcut.does);
        format!("{does} ({})", self.keys())
    }
}

/// True when the event's modifiers are the shortcut's. "?" is typed with Shift on most
/// keyboards, so Shift does not matter for it; for everything else it does (Ctrl+Z is not
/// Ctrl+Shift+Z).
fn modifiers_match(shortcut: &Shortcut, pressed: Modifiers) -> bool {
    if shortcut.key == Key::Questionmark {
        return !pressed.command && !pressed.ctrl && !pressed.alt;
    }
    pressed.shift == shortcut.modifiers.shift
        && pressed.alt == shortcut.modifiers.alt
        && pressed.command == shortcut.modifiers.command
}

/// The actions of this frame's key presses, in order, with the keys consumed. Nothing while a
/// text field has the keyboard.
pub fn take_actions(ctx: &egui::Context) -> Vec<Action> {
    if ctx.egui_wants_keyboard_input() {
        return Vec::new();
    }
    let mut actions = Vec::new();
    ctx.input_mut(|input| {
        input.events.retain(|event| {
            let egui::Event::Key {
                key,
                pressed: true,
                repeat,
                modifiers,
                ..
            } = event
            else {
                return true;
            };
            let Some(shortcut) = SHORTCUTS
                .iter()
                .find(|shortcut| shortcut.key == *key && modifiers_match(shortcut, *modifiers))
            else {
                return true;
            };
            if !*repeat || shortcut.action.repeats() {
                actions.push(shortcut.action);
            }
            false
        });
    });
    actions
}

/// The sheet "?" opens: every key and what it does.
pub fn sheet_ui(ctx: &egui::Context, open: &mut bool) {
    egui::Window::new("Keyboard shortcuts")
        .open(open)
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
        .show(ctx, |ui| {
            ui.label("In Review and in Patients; not while a note is being typed.");
            ui.add_space(4.0);
            egui::Grid::new("shortcut-sheet")
                .num_columns(2)
                .striped(true)
                .show(ui, |ui| {
                    for shortcut in SHORTCUTS {
                        ui.monospace(shortcut.keys);
                        ui.label(shortcut.does);
                        ui.end_row();
                    }
                });
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_a_key_and_no_key_means_two_things() {
        for (i, first) in SHORTCUTS.iter().enumerate() {
            for second in &SHORTCUTS[i + 1..] {
                assert!(
                    !(first.key == second.key && first.modifiers == second.modifiers),
                    "{} is bound twice",
                    first.keys
                );
            }
        }
        assert_eq!(Action::Next.keys(), "Right or Down");
        assert_eq!(Action::Agree.tooltip(), "agree: the dataset's label is right (A)");
    }
}
