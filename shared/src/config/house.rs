//! A house profile: `profiles/<id>.json`.

use serde::{Deserialize, Serialize};

use super::{check_positive, Location, MeterConfig, Problems, SerialConfig, SyntheticConfig};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HouseProfile {
    /// The house id (`house_id` tag). Defaults to the file name without `.json`.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub location: Option<Location>,
    /// The `.env` prefix of this house's HomeSide credentials; default `HOUSE_<id>`, which reads
    /// `HOUSE_<id>_USERNAME` and `HOUSE_<id>_PASSWORD`.
    #[serde(default)]
    pub credential_ref: Option<String>,
    /// The HomeSide substation; without it the house has no `house` worker (a meter-only home).
    #[serde(default)]
    pub homeside: Option<HomesideConfig>,
    /// Meters of this house, each its own worker `meter:<id>/<name>`.
    #[serde(default)]
    pub meters: Vec<MeterConfig>,
    /// District-heating meter ids, read through the energy company's file exchange.
    #[serde(default)]
    pub meter_ids: Vec<String>,
    /// Serial devices of this house, each its own worker `serial:<id>/<name>`.
    #[serde(default)]
    pub serial: Vec<SerialConfig>,
    /// A synthetic source (worker `synthetic:<id>`), for tests, benchmarks and the demo.
    #[serde(default)]
    pub synthetic: Option<SyntheticConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomesideConfig {
    #[serde(default = "HomesideConfig::default_base_url")]
    pub base_url: String,
    #[serde(default = "HomesideConfig::default_poll")]
    pub poll_interval_secs: u64,
}

impl HomesideConfig {
    fn default_base_url() -> String {
        "https://homeside.systeminstallation.se".into()
    }
    fn default_poll() -> u64 {
        300
    }
}

impl HouseProfile {
    pub fn credential_prefix(&self) -> String {
        self.credential_ref
            .clone()
            .unwrap_or_else(|| format!("HOUSE_{}", self.id))
    }

    pub(crate) fn validate(&self, problems: &mut Problems) {
        if let Some(loc) = &self.location {
            loc.validate("location", problems);
        }
        if let Some(hs) = &self.homeside {
            check_positive(
                hs.poll_interval_secs,
                "homeside.poll_interval_secs",
                problems,
            );
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, m) in self.meters.iter().enumerate() {
            m.validate(&format!("meters[{i}]"), problems);
            if !names.insert(m.name.as_str()) {
                problems.push((
                    format!("meters[{i}].name"),
                    format!("meter name {:?} is used twice", m.name),
                ));
            }
        }
        for (i, id) in self.meter_ids.iter().enumerate() {
            if id.trim().is_empty() || id.contains(';') {
                problems.push((
                    format!("meter_ids[{i}]"),
                    format!("{id:?} is not a meter id"),
                ));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, s) in self.serial.iter().enumerate() {
            s.validate(&format!("serial[{i}]"), problems);
            if !names.insert(s.name.as_str()) {
                problems.push((
                    format!("serial[{i}].name"),
                    format!("serial device name {:?} is used twice", s.name),
                ));
            }
        }
        if let Some(s) = &self.synthetic {
            s.validate("synthetic", problems);
        }
    }
}
