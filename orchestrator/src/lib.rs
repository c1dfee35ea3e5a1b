//! The orchestrator as a library, so that its parts are testable on their own; `main.rs` is the CLI.

pub mod analytics;
pub mod api;
pub mod auth;
pub mod backfill;
pub mod check;
pub mod configset;
pub mod credentials;
pub mod demo;
pub mod http;
pub mod import;
pub mod logging;
pub mod meter_token;
pub mod meters;
pub mod migrate;
pub mod onboard;
pub mod query;
pub mod reconcile;
pub mod run;
pub mod secrets;
pub mod settings;
pub mod sinks;
pub mod status;
pub mod store;
pub mod supervisor;
pub mod users;
pub mod watcher;
