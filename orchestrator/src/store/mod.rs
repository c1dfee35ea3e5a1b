//! The embedded store (SQLite, WAL): the system of record on this machine.
//! INTERFACE STUB, to be replaced by the data-path work (issue 4). Signatures are the contract
//! the supervisor and the HTTP layer rely on.

use std::path::Path;

use anyhow::Result;
use hemflux_shared::Point;
use serde::Deserialize;
use serde_json::Value;

/// `[store]` in hemflux.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Keep this many days of points; default: everything.
    #[serde(default)]
    pub retention_days: Option<u32>,
}

/// A cheap-to-clone handle to the store.
#[derive(Clone)]
pub struct Store {}

impl Store {
    /// Opens (creates) `<data_dir>/hemflux.db`.
    pub fn open(_data_dir: &Path, _config: &StoreConfig) -> Result<Store> {
        todo!("issue 4")
    }

    /// Stores a worker's batch, and its new state if given, in one durable transaction.
    /// Resolves only once the transaction is on disk (fsync'd).
    pub async fn write(
        &self,
        _worker_id: &str,
        _points: Vec<Point>,
        _state: Option<Value>,
    ) -> Result<()> {
        todo!("issue 4")
    }

    /// The state a worker last persisted.
    pub fn load_state(&self, _worker_id: &str) -> Result<Option<Value>> {
        todo!("issue 4")
    }

    /// Points per measurement, for status pages and the demo summary.
    pub fn measurement_counts(&self) -> Result<Vec<(String, u64)>> {
        todo!("issue 4")
    }
}
