//! Helpers shared by the integration tests, by theme. Each test binary compiles all of them and
//! uses its own few, so an unused helper is expected there, not dead.
#![allow(dead_code)]

pub mod binary;
pub mod datasets;
pub mod harness;
pub mod png;
pub mod runs;
pub mod stack;
