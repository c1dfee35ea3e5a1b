//! A commercial building: `buildings/<id>.json`.

use serde::{Deserialize, Serialize};

use super::{check_positive, Location, Problems};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildingConfig {
    /// The building id (`building_id` tag). Defaults to the file name without `.json`.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub location: Option<Location>,
    /// The `.env` prefix of the Arrigo credentials; default `BUILDING_<id>`.
    #[serde(default)]
    pub credential_ref: Option<String>,
    pub arrigo: ArrigoConfig,
    /// The signals to poll and the field each one is stored as.
    #[serde(default)]
    pub signals: Vec<SignalConfig>,
    /// District-heating meter ids, read through the energy company's file exchange.
    #[serde(default)]
    pub meter_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrigoConfig {
    /// Base URL of the Arrigo API, such as `https://exodrift05.systeminstallation.se/arrigo/api`.
    pub base_url: String,
    #[serde(default = "ArrigoConfig::default_poll")]
    pub poll_interval_secs: u64,
}

impl ArrigoConfig {
    fn default_poll() -> u64 {
        300
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalConfig {
    /// The signal's id in Arrigo.
    pub signal_id: String,
    /// The field name it is stored under in `building_system`.
    pub field: String,
}

impl BuildingConfig {
    pub fn credential_prefix(&self) -> String {
        self.credential_ref
            .clone()
            .unwrap_or_else(|| format!("BUILDING_{}", self.id))
    }

    pub(crate) fn validate(&self, problems: &mut Problems) {
        if let Some(loc) = &self.location {
            loc.validate("location", problems);
        }
        check_positive(
            self.arrigo.poll_interval_secs,
            "arrigo.poll_interval_secs",
            problems,
        );
        if !self.arrigo.base_url.starts_with("http://")
            && !self.arrigo.base_url.starts_with("https://")
        {
            problems.push((
                "arrigo.base_url".into(),
                format!("{:?} is not an http(s) URL", self.arrigo.base_url),
            ));
        }
        let mut fields = std::collections::BTreeSet::new();
        for (i, s) in self.signals.iter().enumerate() {
            if s.field.is_empty() {
                problems.push((format!("signals[{i}].field"), "is empty".into()));
            } else if !fields.insert(s.field.as_str()) {
                problems.push((
                    format!("signals[{i}].field"),
                    format!("field {:?} is mapped twice", s.field),
                ));
            }
        }
    }
}
