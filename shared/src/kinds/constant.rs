//! `constant`: the smallest kind there is, one point of a fixed value per interval. No config
//! file asks for it; the tests start it directly, and `docs/adding-a-kind.md` walks through it.

use serde::{Deserialize, Serialize};

use super::{Desired, Kind};
use crate::config::{WorkerSpec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstantWorker {
    /// Measurement `constant`, tag `source` = this.
    pub source: String,
    pub value: f64,
    pub interval_ms: u64,
}

impl Kind for ConstantWorker {
    fn desired(_: &mut Desired<'_>) -> Vec<WorkerSpec> {
        Vec::new()
    }
}
