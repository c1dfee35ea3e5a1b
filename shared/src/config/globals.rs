//! Workers that serve many entities at once, configured in `hemflux.toml` rather than per file.

use serde::Deserialize;

/// The sections of `hemflux.toml` that shape the set of workers.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Globals {}
