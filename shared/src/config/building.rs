//! A commercial building: `buildings/<id>.json`.

use serde::{Deserialize, Serialize};

use super::analytics::{check_site, AnalyticsConfig};
use super::{check_positive, check_url, Location, Problems};

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
    /// The first day the file exchange asks for this entity's meters (Swedish local midnight),
    /// as the seed's `energy_data_start_date`; default `[district_heating] initial_days` ago.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_data_start_date: Option<jiff::civil::Date>,
    /// The time zone of local days and daily schedules; default `Europe/Stockholm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Energy analytics (k, hot-water split, forecast); absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics: Option<AnalyticsConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrigoConfig {
    /// Base URL of the Arrigo API, such as `https://exodrift05.systeminstallation.se/arrigo/api`.
    pub base_url: String,
    #[serde(default = "ArrigoConfig::default_poll")]
    pub poll_interval_secs: u64,
    /// Bucket length of imported history: 3600 (hourly) or 300 (five-minute).
    #[serde(default = "ArrigoConfig::default_history_resolution")]
    pub history_resolution_secs: u64,
    /// Per-request timeout.
    #[serde(default = "ArrigoConfig::default_timeout")]
    pub timeout_secs: u64,
}

impl ArrigoConfig {
    fn default_poll() -> u64 {
        300
    }
    fn default_history_resolution() -> u64 {
        3600
    }
    /// What the HSF client used.
    pub fn default_timeout() -> u64 {
        30
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalConfig {
    /// The signal's id in Arrigo (base64, stable across sessions).
    pub signal_id: String,
    /// The field name it is stored under in `building_system`.
    pub field: String,
    /// The signal's name in Arrigo (`<controller>.<signal>`), for people reading the file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
    /// Whether it is polled and imported; discovery writes every analog signal, set `false` to
    /// keep one listed but unused.
    #[serde(default = "SignalConfig::default_fetch")]
    pub fetch: bool,
    /// `analog` (the default) or `digital`: discovery lists the digital signals too, as the
    /// seed kept them, but only analog values are polled.
    #[serde(default, skip_serializing_if = "SignalKind::is_analog")]
    pub kind: SignalKind,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    #[default]
    Analog,
    Digital,
}

impl SignalKind {
    fn is_analog(&self) -> bool {
        *self == SignalKind::Analog
    }
}

impl SignalConfig {
    fn default_fetch() -> bool {
        true
    }
}

impl BuildingConfig {
    pub fn credential_prefix(&self) -> String {
        self.credential_ref
            .clone()
            .unwrap_or_else(|| format!("BUILDING_{}", self.id))
    }

    pub(crate) fn validate(&self, problems: &mut Problems) {
        check_site(&self.location, &self.timezone, &self.analytics, problems);
        self.arrigo.validate(problems);
        validate_signals(&self.signals, problems);
    }
}

impl ArrigoConfig {
    pub(crate) fn validate(&self, problems: &mut Problems) {
        check_positive(
            self.poll_interval_secs,
            "arrigo.poll_interval_secs",
            problems,
        );
        check_positive(self.timeout_secs, "arrigo.timeout_secs", problems);
        if ![300, 3600].contains(&self.history_resolution_secs) {
            problems.push((
                "arrigo.history_resolution_secs".into(),
                format!(
                    "{} is not a resolution Arrigo keeps history at: use 3600 or 300",
                    self.history_resolution_secs
                ),
            ));
        }
        check_url(&self.base_url, "arrigo.base_url", problems);
    }
}

/// Ids and fields once each; digital signals listed, not fetched.
pub(crate) fn validate_signals(signals: &[SignalConfig], problems: &mut Problems) {
    let mut fields = std::collections::BTreeSet::new();
    let mut ids = std::collections::BTreeSet::new();
    for (i, s) in signals.iter().enumerate() {
        if !ids.insert(s.signal_id.as_str()) {
            problems.push((
                format!("signals[{i}].signal_id"),
                format!("signal {:?} is listed twice", s.signal_id),
            ));
        }
        if s.kind == SignalKind::Digital && s.fetch {
            problems.push((
                format!("signals[{i}].fetch"),
                "a digital signal is listed, not polled (hemflux stores analog values, as the seed did): set \"fetch\": false".into(),
            ));
        }
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
