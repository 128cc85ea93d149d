//! The app's screens, each owning its own state: Start, Patients (with the slide and the stain
//! map), Training, Review (with its panels) and the Map of the whole dataset.

pub mod map;
pub mod patients;
pub mod review;
pub mod slide;
pub mod stain_map;
pub mod training;
pub mod welcome;
