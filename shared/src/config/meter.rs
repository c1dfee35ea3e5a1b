//! Meters declared in a house profile (`"meters": [...]`): each becomes a `meter:<house>/<name>` worker.

use serde::{Deserialize, Serialize};

use super::Problems;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterConfig {
    /// Part of the worker id; unique within the house, such as `electricity`.
    pub name: String,
    pub source: MeterSource,
}

/// Where the meter's data comes from; `"type"` picks the source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum MeterSource {
    /// WattiVahti (Finland): 15-minute or hourly electricity consumption.
    Wattivahti {
        /// The 7-digit metering point code.
        metering_point: String,
        #[serde(default)]
        base_url: Option<String>,
    },
    /// Tibber: electricity prices and hourly consumption of one home.
    Tibber {
        home_id: String,
        #[serde(default)]
        base_url: Option<String>,
    },
}

impl MeterConfig {
    pub(crate) fn validate(&self, at: &str, problems: &mut Problems) {
        super::check_name(&self.name, &format!("{at}.name"), problems);
        match &self.source {
            MeterSource::Wattivahti { metering_point, .. } => {
                if metering_point.is_empty() || !metering_point.chars().all(|c| c.is_ascii_digit())
                {
                    problems.push((
                        format!("{at}.source.metering_point"),
                        format!("{metering_point:?} is not a metering point code (digits)"),
                    ));
                }
            }
            MeterSource::Tibber { home_id, .. } => {
                if home_id.is_empty() {
                    problems.push((format!("{at}.source.home_id"), "is empty".into()));
                }
            }
        }
    }
}
