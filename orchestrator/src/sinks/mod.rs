//! Sinks: each forwards the store's points, in order, from its own durable cursor.
//! INTERFACE STUB, to be replaced by the data-path work (issue 4).

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::store::Store;

/// One `[[sinks]]` entry in hemflux.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    pub name: String,
}

/// What `/api/sinks` and `/metrics` show of one sink.
#[derive(Debug, Clone, Serialize)]
pub struct SinkStatus {
    pub name: String,
    pub kind: String,
    pub cursor: u64,
    pub points_behind: u64,
    pub oldest_unsent_age_secs: Option<f64>,
    pub last_error: Option<String>,
}

/// The running sinks.
pub struct Sinks {}

impl Sinks {
    /// Starts one task per configured sink (plus one from the INFLUXDB_* environment, if set).
    pub fn start(_store: &Store, _configs: &[SinkConfig]) -> Result<Sinks> {
        todo!("issue 4")
    }

    pub fn status(&self) -> Vec<SinkStatus> {
        todo!("issue 4")
    }

    /// Stops the tasks, letting each finish the batch it is sending (bounded).
    pub async fn shutdown(self) {
        todo!("issue 4")
    }
}
