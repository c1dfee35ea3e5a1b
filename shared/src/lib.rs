//! hemflux's shared library: what the orchestrator, the workers and the tests agree on.

pub mod config;
pub mod kinds;
pub mod lines;
pub mod point;
pub mod protocol;
pub mod read;
pub mod retry;
pub mod schema;
pub mod time;

pub use point::{FieldValue, Point};
