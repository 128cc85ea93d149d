//! Undo and redo of annotation changes. A step remembers the annotation before and after; undoing
//! records the "before" again as a new change, so an undo is saved like any change and survives
//! a crash. egui's `Undoer` snapshots a whole state on a timer; a reader's step is one patch, so
//! the exact pair is kept instead. Typing a note is one step, not one per key.

use super::annotations::{Annotation, PatchKey};

/// One annotation change: `None` is "no annotation".
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub reader: String,
    pub key: PatchKey,
    pub before: Option<Annotation>,
    pub after: Option<Annotation>,
}

impl Step {
    /// True when the step changed only the note (so the next note key joins it).
    fn only_note(&self) -> bool {
        match (&self.before, &self.after) {
            (Some(before), Some(after)) => {
                before.state == after.state && before.flagged == after.flagged && before.note != after.note
            }
            (None, Some(after)) => !after.state.is_reviewed() && !after.flagged,
            _ => false,
        }
    }
}

/// How many steps are kept: a day's review.
const LIMIT: usize = 10_000;

#[derive(Debug, Default)]
pub struct History {
    undo: Vec<Step>,
    redo: Vec<Step>,
}

impl History {
    /// Remembers a change just made. A note typed key by key joins the step before it when that
    /// step typed into the same patch's note.
    pub fn push(&mut self, step: Step) {
        self.redo.clear();
        if step.only_note()
            && let Some(last) = self.undo.last_mut()
            && last.key == step.key
            && last.reader == step.reader
            && last.only_note()
        {
            last.after = step.after;
            return;
        }
        self.undo.push(step);
        if self.undo.len() > LIMIT {
            self.undo.remove(0);
        }
    }

    /// The step to take back, moved to the redo list; the caller records its `before`.
    pub fn undo(&mut self) -> Option<Step> {
        let step = self.undo.pop()?;
        self.redo.push(step.clone());
        Some(step)
    }

    /// The step to make again; the caller records its `after`.
    pub fn redo(&mut self) -> Option<Step> {
        let step = self.redo.pop()?;
        self.undo.push(step.clone());
        Some(step)
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    pub fn clear(&mut self) {
        self.undo.clear();
        self.redo.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Label;
    use crate::review::ReviewState;

    fn with(state: ReviewState, note: &str) -> Option<Annotation> {
        let key = PatchKey {
            patient: "1".into(),
            x: 0,
            y: 0,
        };
        let mut annotation = Annotation::blank(&key, "p.png".into(), Label::Idc, "ana");
        annotation.state = state;
        annotation.note = note.into();
        Some(annotation)
    }

    fn step(before: Option<Annotation>, after: Option<Annotation>) -> Step {
        Step {
            reader: "ana".into(),
            key: after.as_ref().or(before.as_ref()).unwrap().key(),
            before,
            after,
        }
    }

    #[test]
    fn undo_and_redo_walk_the_steps_back_and_forth() {
        let mut history = History::default();
        history.push(step(None, with(ReviewState::Agree, "")));
        history.push(step(with(ReviewState::Agree, ""), with(ReviewState::Unsure, "")));
        assert_eq!(history.undo().unwrap().before, with(ReviewState::Agree, ""));
        assert_eq!(history.undo().unwrap().before, None);
        assert!(history.undo().is_none());
        assert_eq!(history.redo().unwrap().after, with(ReviewState::Agree, ""));
        history.push(step(
            with(ReviewState::Agree, ""),
            with(ReviewState::RelabelNonIdc, ""),
        ));
        assert!(!history.can_redo(), "a new change forgets what was undone");
    }

    #[test]
    fn a_note_typed_key_by_key_is_one_step() {
        let mut history = History::default();
        history.push(step(with(ReviewState::Agree, ""), with(ReviewState::Agree, "s")));
        history.push(step(
            with(ReviewState::Agree, "s"),
            with(ReviewState::Agree, "st"),
        ));
        history.push(step(
            with(ReviewState::Agree, "st"),
            with(ReviewState::Agree, "str"),
        ));
        let undone = history.undo().unwrap();
        assert_eq!(undone.before, with(ReviewState::Agree, ""));
        assert_eq!(undone.after, with(ReviewState::Agree, "str"));
        assert!(!history.can_undo());
    }
}
