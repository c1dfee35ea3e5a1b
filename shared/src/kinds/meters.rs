//! `meters`: the meter analytics (docs/meter-analytics.md) as one supervised worker for the
//! whole meter set, when `meters.yaml` is found beside `hemflux.toml`. It reads the readings of
//! its physical meters through the read path (`crate::read`), and only those.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Desired, Kind};
use crate::config::WorkerSpec;
use crate::read::{Grant, ReadScope};

/// `[meters]` in `hemflux.toml`. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetersSettings {
    pub enabled: bool,
    /// The nightly full run, on the local wall clock of the definitions' `timezone`.
    pub nightly_at: jiff::civil::Time,
    /// How often the worker looks for new readings (and recomputes from them when there are).
    pub check_interval_secs: u64,
}

impl Default for MetersSettings {
    fn default() -> Self {
        MetersSettings {
            enabled: true,
            nightly_at: jiff::civil::time(1, 0, 0, 0),
            check_interval_secs: 60,
        }
    }
}

/// The definitions as found: their text (parsed by the worker with the analytics crate) and
/// the series of their physical meters (what the worker may read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterDefinitions {
    /// Where they were read, for messages.
    pub file: PathBuf,
    pub text: String,
    /// `seasonal_patterns.yaml` beside it, if there.
    #[serde(default)]
    pub patterns: Option<String>,
    /// `(measurement, tags)` of each physical meter's readings.
    pub series: Vec<(String, BTreeMap<String, String>)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetersWorker {
    pub definitions: MeterDefinitions,
    pub settings: MetersSettings,
}

impl Kind for MetersWorker {
    fn desired(cx: &mut Desired<'_>) -> Vec<WorkerSpec> {
        let Some(definitions) = cx.globals.meter_definitions.clone() else {
            return Vec::new();
        };
        if !cx.globals.meters.enabled {
            return Vec::new();
        }
        let file = definitions.file.clone();
        vec![WorkerSpec::new(
            "meters".into(),
            MetersWorker {
                definitions,
                settings: cx.globals.meters.clone(),
            },
            Vec::new(),
            &file,
        )]
    }

    fn reads(&self) -> ReadScope {
        ReadScope::new(
            self.definitions
                .series
                .iter()
                .map(|(m, tags)| Grant::series(m, tags.clone()))
                .collect(),
        )
    }
}
