//! Auditing a run's test results: which patches land in which confusion-matrix cell at a
//! threshold, and the reviewer's annotations on them. Plain data, no UI.

pub mod annotations;
pub mod results;

pub use annotations::{Annotation, AnnotationBook, PatchKey};
pub use results::{Cell, ReviewSet};
