//! Auditing: which test patches land in which confusion-matrix cell at a threshold, and the
//! readers' annotations of a dataset (kept per reader, undoable, compared between readers,
//! exported, and turned into corrected labels for training). Plain data, no UI.

pub mod agreement;
pub mod annotations;
pub mod calibration;
pub mod compare;
pub mod duplicates;
pub mod export;
pub mod history;
pub mod import;
pub mod label_issues;
pub mod map;
pub mod open_run;
pub mod patients;
pub mod report;
pub mod results;
pub mod reviewed_labels;
pub mod reviews;
pub mod similar;
pub mod unlike_patients;

pub use agreement::Agreement;
pub use annotations::{Annotation, AnnotationBook, AnnotationChange, Judged, PatchKey, ReviewState};
pub use history::{History, Step};
pub use open_run::OpenRun;
pub use results::{Cell, ReviewSet};
pub use reviewed_labels::reviewed_corrections;
pub use reviews::{Reviews, annotations_folder};
