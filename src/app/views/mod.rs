//! The app's screens, each owning its own state: Start, Patients (with the slide and the stain
//! map), Training, Review, and the Readers panel inside Review.

pub mod patients;
pub mod review;
pub mod slide;
pub mod stain_map;
pub mod training;
pub mod welcome;
