//! The orchestrator as a library, so that its parts are testable on their own; `main.rs` is the CLI.

pub mod logging;
pub mod query;
pub mod sinks;
pub mod store;
