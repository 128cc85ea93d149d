//! Annotating from any view: the workspace records a change of the current reader's annotation
//! of a patch (on disk first, then on screen), remembers it for undo, and takes in what other
//! windows wrote. Without a reader's name nothing is recorded: the name is asked for, and the
//! change waits to be applied once it is given.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::app::shortcuts::Action;
use crate::app::state::workspace::Workspace;
use crate::review::{Annotation, AnnotationChange, History, PatchKey, ReviewState, Reviews, Step};

/// The annotating part of the workspace: the open dataset's annotations (every reader's), this
/// session's undo history, whether the reader's name is being asked and the change that waits
/// for it, and the current reader's marks. The reader's name is a setting, saved with the
/// others ([`Workspace::reader`]).
#[derive(Default)]
pub struct Annotating {
    /// The open dataset's annotations, all readers.
    pub reviews: Option<Reviews>,
    /// This session's annotation changes, for undo.
    pub history: History,
    /// Ask the reader's name (before their first annotation).
    pub asking_reader: bool,
    /// The annotation change that waits for the reader's name, on which patch.
    pending_change: Option<(usize, AnnotationChange)>,
    reviews_checked: Option<Instant>,
    marks: ReaderMarks,
}

impl Annotating {
    /// Another dataset's annotations are opening: this session's undo steps and a change
    /// waiting for the reader's name were about the last one's patches.
    pub fn forget_session(&mut self) {
        self.history.clear();
        self.pending_change = None;
    }
}

/// What the annotation panel asks of the patch it shows; the view applies it through
/// [`Workspace::take_intent`].
#[derive(Debug, Clone, PartialEq)]
pub enum PanelIntent {
    /// A button that does what a key does (judge, flag, clear).
    Act(Action),
    /// A change of the annotation itself (the note as typed).
    Annotate(AnnotationChange),
    /// "Say who you are".
    AskReader,
}

/// What a tile shows of the reader's annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileMark {
    pub state: ReviewState,
    pub flagged: bool,
}

impl TileMark {
    pub fn of(annotation: &Annotation) -> TileMark {
        TileMark {
            state: annotation.state,
            flagged: annotation.flagged,
        }
    }

    /// Words for screen readers and tests.
    pub fn describe(self) -> String {
        let mut text = self.state.description().to_string();
        if self.flagged {
            text.push_str(", flagged");
        }
        text
    }
}

/// How often the annotations folder is looked at for other windows' changes.
const REFRESH_EVERY: Duration = Duration::from_secs(1);

impl Workspace {
    /// The reader whose annotations are shown and made.
    pub fn reader(&self) -> Option<&str> {
        self.settings.reader.as_deref()
    }

    /// The current reader's annotation of patch `index`, if any.
    pub fn annotation_of(&self, index: usize) -> Option<&Annotation> {
        let (dataset, reviews, reader) = (
            self.dataset.as_ref()?,
            self.annotating.reviews.as_ref()?,
            self.reader()?,
        );
        reviews.book(reader).get(&dataset.key(index))
    }

    /// Applies `change` to the current reader's annotation of patch `index` and records it,
    /// stamped with the time and the open run's prediction. Returns true if it was recorded.
    /// Without a reader's name it asks for one and keeps `change` for [`Self::reader_named`].
    pub fn annotate(&mut self, index: usize, change: AnnotationChange) -> bool {
        let Some(reader) = self.reader().map(str::to_string) else {
            self.annotating.asking_reader = true;
            self.annotating.pending_change = Some((index, change));
            self.info("say who you are first: your name goes with every annotation");
            return false;
        };
        let (Some(dataset), Some(reviews)) = (self.dataset.clone(), self.annotating.reviews.as_ref()) else {
            return false;
        };
        let key = dataset.key(index);
        let before = reviews.book(&reader).get(&key).cloned();
        let patch = dataset.store.patch(index);
        let mut after = before
            .clone()
            .unwrap_or_else(|| Annotation::blank(&key, patch.path.clone(), patch.label, &reader));
        change.apply(&mut after);
        after = after.normalised();
        let unchanged = before.as_ref().is_some_and(|before| {
            before.state == after.state && before.flagged == after.flagged && before.note == after.note
        }) || (before.is_none() && after.is_blank());
        if unchanged {
            return false;
        }
        after.time = crate::review::annotations::local_time_now();
        if let Some(run) = &self.run {
            after.run = Some(run.name());
            after.prob_idc = run.prob_idc(index);
        }
        let step = Step {
            reader,
            key,
            before,
            after: (!after.is_blank()).then(|| after.clone()),
        };
        if self.record(after) {
            self.annotating.history.push(step);
            true
        } else {
            false
        }
    }

    /// Applies `intent` of the panel showing patch `index`; a key's action is handed back for
    /// the view to do as it does the key.
    pub fn take_intent(&mut self, index: usize, intent: PanelIntent) -> Option<Action> {
        match intent {
            PanelIntent::Act(action) => Some(action),
            PanelIntent::Annotate(change) => {
                self.annotate(index, change);
                None
            }
            PanelIntent::AskReader => {
                self.annotating.asking_reader = true;
                None
            }
        }
    }

    /// Applies a judging action to patch `index`; true when the view should move on to the
    /// next unreviewed patch (a judgement, not a flag, was recorded, and the reader advances
    /// after one).
    pub fn judge_and_advance(&mut self, index: usize, action: Action) -> bool {
        let state = match action {
            Action::Agree => ReviewState::Agree,
            Action::RelabelNonIdc => ReviewState::RelabelNonIdc,
            Action::RelabelIdc => ReviewState::RelabelIdc,
            Action::Unsure => ReviewState::Unsure,
            Action::ClearJudgement => ReviewState::Unreviewed,
            Action::Flag => {
                self.annotate(index, AnnotationChange::ToggleFlag);
                return false;
            }
            _ => return false,
        };
        self.annotate(index, AnnotationChange::Judge(state))
            && state.is_reviewed()
            && self.settings.advance_after_judging
    }

    /// Makes `reader` the one whose annotations are made from now on, and applies the change
    /// that waited for their name, if any: the key pressed first is not lost.
    pub fn reader_named(&mut self, reader: String) {
        self.info(format!("annotations are now made as {reader}"));
        self.settings.reader = Some(reader);
        self.annotating.history.clear();
        self.annotating.asking_reader = false;
        if let Some((index, change)) = self.annotating.pending_change.take() {
            self.annotate(index, change);
        }
    }

    /// The reader gave no name: nothing waits any more.
    pub fn reader_not_named(&mut self) {
        self.annotating.asking_reader = false;
        self.annotating.pending_change = None;
    }

    /// Takes back the last change (recorded as a change of its own, so it is saved).
    pub fn undo(&mut self) {
        self.replay(false);
    }

    /// Makes the last change taken back again.
    pub fn redo(&mut self) {
        self.replay(true);
    }

    fn replay(&mut self, forward: bool) {
        let step = if forward {
            self.annotating.history.redo()
        } else {
            self.annotating.history.undo()
        };
        let Some(step) = step else {
            self.info(if forward {
                "nothing to redo"
            } else {
                "nothing to undo"
            });
            return;
        };
        let (wanted, other) = if forward {
            (step.after.clone(), step.before.as_ref())
        } else {
            (step.before.clone(), step.after.as_ref())
        };
        let restored = self.restored(&step.reader, &step.key, wanted, other);
        // Not saved: the step stays where it was, to be tried again.
        if !self.record(restored) {
            if forward {
                self.annotating.history.undo();
            } else {
                self.annotating.history.redo();
            }
        }
    }

    /// `wanted`, or a blank annotation of the patch when it is "no annotation".
    fn restored(
        &self,
        reader: &str,
        key: &PatchKey,
        wanted: Option<Annotation>,
        other: Option<&Annotation>,
    ) -> Annotation {
        wanted.unwrap_or_else(|| {
            let mut blank = other.cloned().unwrap_or_else(|| {
                Annotation::blank(key, Default::default(), crate::dataset::Label::NonIdc, reader)
            });
            blank.state = crate::review::ReviewState::Unreviewed;
            blank.flagged = false;
            blank.note.clear();
            blank.time = crate::review::annotations::local_time_now();
            blank
        })
    }

    /// Writes one annotation; false (with the reason shown) when it could not be saved.
    fn record(&mut self, annotation: Annotation) -> bool {
        let Some(reviews) = self.annotating.reviews.as_mut() else {
            return false;
        };
        match reviews.record(annotation) {
            Ok(()) => true,
            Err(err) => {
                self.error(format!("the annotation was not saved: {err}"));
                false
            }
        }
    }

    /// Takes in other windows' changes, at most once a second.
    pub fn refresh_reviews(&mut self) {
        if self
            .annotating
            .reviews_checked
            .is_some_and(|at| at.elapsed() < REFRESH_EVERY)
        {
            return;
        }
        self.annotating.reviews_checked = Some(Instant::now());
        if let Some(reviews) = self.annotating.reviews.as_mut()
            && let Err(err) = reviews.refresh()
        {
            self.error(format!("could not read other windows' annotations: {err}"));
        }
    }
}

/// The current reader's marks by store index, rebuilt only when an annotation, the reader or
/// the dataset changed: tiles, cells and patients ask for them every frame.
#[derive(Default)]
pub struct ReaderMarks {
    built_for: Option<(u64, String, usize)>,
    marks: std::sync::Arc<HashMap<usize, TileMark>>,
}

impl Workspace {
    /// Brings the marks up to date (once a frame, before the views draw).
    pub fn update_marks(&mut self) {
        let (Some(dataset), Some(reviews), Some(reader)) =
            (&self.dataset, &self.annotating.reviews, self.reader())
        else {
            self.annotating.marks = ReaderMarks::default();
            return;
        };
        let stamp = (
            reviews.revision(),
            reader.to_string(),
            std::sync::Arc::as_ptr(dataset) as usize,
        );
        if self.annotating.marks.built_for.as_ref() == Some(&stamp) {
            return;
        }
        let marks = reviews
            .book(reader)
            .iter()
            .filter_map(|annotation| {
                let index = dataset.find(&annotation.patient, annotation.x, annotation.y)?;
                Some((index, TileMark::of(annotation)))
            })
            .collect();
        self.annotating.marks = ReaderMarks {
            built_for: Some(stamp),
            marks: std::sync::Arc::new(marks),
        };
    }

    /// The current reader's mark on patch `index`.
    pub fn mark(&self, index: usize) -> Option<TileMark> {
        self.annotating.marks.marks.get(&index).copied()
    }

    /// The marks as they are this frame, for drawing while the workspace is borrowed elsewhere.
    pub fn marks_snapshot(&self) -> std::sync::Arc<HashMap<usize, TileMark>> {
        std::sync::Arc::clone(&self.annotating.marks.marks)
    }

    pub fn state_of(&self, index: usize) -> ReviewState {
        self.mark(index)
            .map_or(ReviewState::Unreviewed, |mark| mark.state)
    }

    /// How many of `patches` the current reader has judged.
    pub fn reviewed_among(&self, patches: impl IntoIterator<Item = usize>) -> usize {
        patches
            .into_iter()
            .filter(|&index| self.state_of(index).is_reviewed())
            .count()
    }
}
