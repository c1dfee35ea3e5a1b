//! `[[influxdb_sources]]` in hemflux.toml: series read from an existing InfluxDB with InfluxQL
//! (1.x, or 2.x through its v1-compatible `/query`), such as Home Assistant's meter readings
//! (measurement = the unit, tag `entity_id`, field `value`), copied into the store under the
//! same names so that meters can be fed from them. One worker per entry: `influxdb:<name>`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxSourceConfig {
    /// The worker's name: `influxdb:<name>`.
    pub name: String,
    /// The server, such as `http://homeassistant.local:8086`.
    pub url: String,
    /// The database (1.x), or the name a 2.x bucket is mapped to for InfluxQL (its DBRP mapping).
    pub database: String,
    #[serde(default)]
    pub retention_policy: Option<String>,
    /// The measurements to read (Home Assistant: the units, such as `kWh` and `m³`).
    pub measurements: Vec<String>,
    /// The fields to read.
    #[serde(default = "InfluxSourceConfig::default_fields")]
    pub fields: Vec<String>,
    /// The tag that names a series (Home Assistant: `entity_id`).
    #[serde(default = "InfluxSourceConfig::default_tag")]
    pub tag: String,
    /// Only these values of `tag`; empty = every series of the measurements.
    #[serde(default)]
    pub entities: Vec<String>,
    /// Where to begin the first time (RFC 3339 or a date); absent = the oldest point there is.
    #[serde(default)]
    pub start: Option<String>,
    /// One query reads at most this much time (halved by itself when the server truncates).
    #[serde(default = "InfluxSourceConfig::default_page_hours")]
    pub page_hours: u32,
    #[serde(default = "InfluxSourceConfig::default_poll")]
    pub poll_interval_secs: u64,
    /// Each poll reads this far back again, for points written late (the store overwrites).
    #[serde(default = "InfluxSourceConfig::default_overlap")]
    pub overlap_secs: u64,
    #[serde(default = "InfluxSourceConfig::default_timeout")]
    pub timeout_secs: u64,
    /// The `.env` prefix of the credentials: `<REF>_TOKEN` (2.x) or `<REF>_USERNAME` and
    /// `<REF>_PASSWORD` (1.x); absent = a server without authentication.
    #[serde(default)]
    pub credential_ref: Option<String>,
}

impl InfluxSourceConfig {
    fn default_fields() -> Vec<String> {
        vec!["value".into()]
    }
    fn default_tag() -> String {
        "entity_id".into()
    }
    fn default_page_hours() -> u32 {
        24 * 7
    }
    fn default_poll() -> u64 {
        300
    }
    fn default_overlap() -> u64 {
        3600
    }
    fn default_timeout() -> u64 {
        30
    }

    /// The worker's id.
    pub fn worker_id(&self) -> String {
        format!("influxdb:{}", self.name)
    }

    /// The first time to read from, if `start` says one.
    pub fn start_time(&self) -> Result<Option<jiff::Timestamp>, String> {
        let Some(text) = self.start.as_deref() else {
            return Ok(None);
        };
        if let Ok(t) = text.parse::<jiff::Timestamp>() {
            return Ok(Some(t));
        }
        text.parse::<jiff::civil::Date>()
            .ok()
            .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map(|z| Some(z.timestamp()))
            .ok_or_else(|| format!("{text:?} is neither an RFC 3339 time nor a date (YYYY-MM-DD)"))
    }

    /// Problems with the entry `at` (such as `influxdb_sources[0]`), as (key, message).
    pub fn problems(&self, at: &str) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut bad = |key: &str, message: String| problems.push((format!("{at}.{key}"), message));
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            bad(
                "name",
                format!("{:?}: use letters, digits, '_' and '-'", self.name),
            );
        }
        if !self.url.starts_with("http://") && !self.url.starts_with("https://") {
            bad("url", format!("{:?} is not an http(s) URL", self.url));
        }
        if self.database.is_empty() {
            bad("database", "must not be empty".into());
        }
        if self.measurements.is_empty() {
            bad(
                "measurements",
                "name at least one (Home Assistant: the units, such as \"kWh\")".into(),
            );
        }
        if self.fields.is_empty() {
            bad(
                "fields",
                "name at least one (Home Assistant: \"value\")".into(),
            );
        }
        if self.page_hours == 0 {
            bad("page_hours", "must be greater than 0".into());
        }
        if self.poll_interval_secs == 0 {
            bad("poll_interval_secs", "must be greater than 0".into());
        }
        if let Err(e) = self.start_time() {
            bad("start", e);
        }
        if let Some(r) = &self.credential_ref {
            if r.is_empty() || !r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                bad(
                    "credential_ref",
                    format!("{r:?} is not a .env prefix (letters, digits, '_')"),
                );
            }
        }
        problems
    }
}
