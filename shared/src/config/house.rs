//! A house profile: `profiles/<id>.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::analytics::{check_site, AnalyticsConfig};
use super::building::{ArrigoConfig, SignalConfig};
use super::control::{self, ControlConfig};
use super::{
    check_positive, check_url, Location, MeterConfig, Problems, SerialConfig, SyntheticConfig,
};

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
    /// Where the house's past `heating_system` data is imported from (`hemflux backfill`):
    /// HomeSide keeps no history, the Arrigo server behind it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrigo_history: Option<Box<ArrigoHistoryConfig>>,
    /// Meters of this house, each its own worker `meter:<id>/<name>`.
    #[serde(default)]
    pub meters: Vec<MeterConfig>,
    /// District-heating meter ids, read through the energy company's file exchange.
    #[serde(default)]
    pub meter_ids: Vec<String>,
    /// The first day the file exchange asks for this entity's meters (Swedish local midnight),
    /// as the seed's `energy_data_start_date`; default `[district_heating] initial_days` ago.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_data_start_date: Option<jiff::civil::Date>,
    /// Serial devices of this house, each its own worker `serial:<id>/<name>`.
    #[serde(default)]
    pub serial: Vec<SerialConfig>,
    /// A synthetic source (worker `synthetic:<id>`), for tests, benchmarks and the demo.
    #[serde(default)]
    pub synthetic: Option<SyntheticConfig>,
    /// The time zone of local days and daily schedules; default `Europe/Stockholm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Energy analytics (k, hot-water split, forecast); absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics: Option<AnalyticsConfig>,
    /// Heat-curve control (worker `controller:<id>`); absent: no controller. Its `enabled` is
    /// off by default: the controller then records what it would write and writes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heat_curve_control: Option<Box<ControlConfig>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomesideConfig {
    #[serde(default = "HomesideConfig::default_base_url")]
    pub base_url: String,
    #[serde(default = "HomesideConfig::default_poll")]
    pub poll_interval_secs: u64,
    /// The controller name, the last segment of HomeSide's `restapiurl` (such as
    /// `HEM_FJV_Villa_149`); defaults to the house id.
    #[serde(default)]
    pub controller: Option<String>,
    /// Per-request timeout; HomeSide answers slowly at times.
    #[serde(default = "HomesideConfig::default_timeout")]
    pub timeout_secs: u64,
    /// While most wanted variables are `Pending` (warm-up after a new BMS token), read again
    /// after this long...
    #[serde(default = "HomesideConfig::default_pending_retry")]
    pub pending_retry_ms: u64,
    /// ...for at most this long, then store what is there.
    #[serde(default = "HomesideConfig::default_pending_max")]
    pub pending_max_ms: u64,
    /// First wait after a failed poll (5xx, HTML, truncated JSON, timeout); doubles up to the
    /// poll interval.
    #[serde(default = "HomesideConfig::default_retry")]
    pub retry_initial_ms: u64,
    /// `{"<variable>": "<field>"}`: read this variable (short name, after the controller
    /// prefix) into this field, replacing the built-in variable for that field or adding a field.
    #[serde(default)]
    pub variable_overrides: BTreeMap<String, String>,
}

impl HomesideConfig {
    pub const VENDOR_URL: &str = "https://homeside.systeminstallation.se";

    fn default_base_url() -> String {
        Self::VENDOR_URL.into()
    }
    fn default_poll() -> u64 {
        300
    }
    fn default_timeout() -> u64 {
        30
    }
    fn default_pending_retry() -> u64 {
        5_000
    }
    fn default_pending_max() -> u64 {
        60_000
    }
    fn default_retry() -> u64 {
        2_000
    }

    fn validate(&self, problems: &mut Problems) {
        check_positive(
            self.poll_interval_secs,
            "homeside.poll_interval_secs",
            problems,
        );
        check_positive(self.timeout_secs, "homeside.timeout_secs", problems);
        check_positive(self.pending_retry_ms, "homeside.pending_retry_ms", problems);
        check_positive(self.retry_initial_ms, "homeside.retry_initial_ms", problems);
        check_url(&self.base_url, "homeside.base_url", problems);
        if self
            .controller
            .as_deref()
            .is_some_and(|c| c.trim().is_empty() || c.contains('/'))
        {
            problems.push((
                "homeside.controller".into(),
                "must be the last segment of restapiurl, such as HEM_FJV_Villa_149".into(),
            ));
        }
        for (variable, field) in &self.variable_overrides {
            let at = format!("homeside.variable_overrides.{variable}");
            if variable.trim().is_empty() || field.trim().is_empty() {
                problems.push((at, "variable and field must not be empty".into()));
            } else if field.contains([' ', ',', '=']) {
                problems.push((at, format!("{field:?} is not a usable field name")));
            }
        }
    }
}

/// `arrigo_history`: the Arrigo server that keeps the house's history, and which of its signals
/// become which `heating_system` field (the seed's `<house>_signals.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrigoHistoryConfig {
    /// The `.env` prefix of the Arrigo login; default `HOUSE_<id>_ARRIGO`, which reads
    /// `HOUSE_<id>_ARRIGO_USERNAME` and `HOUSE_<id>_ARRIGO_PASSWORD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_ref: Option<String>,
    /// As a building's (`base_url`, `history_resolution_secs`, `timeout_secs`); the poll
    /// interval is not used: live values come from HomeSide.
    pub arrigo: ArrigoConfig,
    /// Signal id -> field; only `fetch: true` signals are imported.
    pub signals: Vec<SignalConfig>,
}

impl ArrigoHistoryConfig {
    fn validate(&self, problems: &mut Problems) {
        let mut inner = Problems::new();
        self.arrigo.validate(&mut inner);
        super::building::validate_signals(&self.signals, &mut inner);
        if !self.signals.iter().any(|s| s.fetch) {
            inner.push((
                "signals".into(),
                "no signal has \"fetch\": true: nothing to import".into(),
            ));
        }
        for (i, s) in self.signals.iter().enumerate() {
            if s.fetch
                && crate::schema::field_type("heating_system", &s.field)
                    .is_some_and(|t| t != crate::schema::FieldType::Float)
            {
                inner.push((
                    format!("signals[{i}].field"),
                    format!("{:?} is an integer flag in heating_system; Arrigo history is analog values", s.field),
                ));
            }
        }
        problems.extend(
            inner
                .into_iter()
                .map(|(at, m)| (format!("arrigo_history.{at}"), m)),
        );
    }
}

impl HouseProfile {
    pub fn credential_prefix(&self) -> String {
        self.credential_ref
            .clone()
            .unwrap_or_else(|| format!("HOUSE_{}", self.id))
    }

    /// The `.env` prefix of the Arrigo history login, if the house has that section.
    pub fn arrigo_credential_prefix(&self) -> Option<String> {
        let h = self.arrigo_history.as_ref()?;
        Some(
            h.credential_ref
                .clone()
                .unwrap_or_else(|| format!("HOUSE_{}_ARRIGO", self.id)),
        )
    }

    pub(crate) fn validate(&self, problems: &mut Problems) {
        check_site(&self.location, &self.timezone, &self.analytics, problems);
        if let Some(hs) = &self.homeside {
            hs.validate(problems);
        }
        if let Some(h) = &self.arrigo_history {
            h.validate(problems);
            if self.homeside.is_none() {
                problems.push((
                    "arrigo_history".into(),
                    "needs a homeside section: the history is imported by the house's worker, as its live rows".into(),
                ));
            }
        }
        let meters = self.meters.iter().map(|m| (m.name.as_str(), m));
        validate_named(meters, "meters", "meter", MeterConfig::validate, problems);
        for (i, id) in self.meter_ids.iter().enumerate() {
            if id.trim().is_empty() || id.contains(';') {
                problems.push((
                    format!("meter_ids[{i}]"),
                    format!("{id:?} is not a meter id"),
                ));
            }
        }
        let devices = self.serial.iter().map(|s| (s.name.as_str(), s));
        validate_named(
            devices,
            "serial",
            "serial device",
            SerialConfig::validate,
            problems,
        );
        if let Some(s) = &self.synthetic {
            s.validate("synthetic", problems);
        }
        if let Some(c) = &self.heat_curve_control {
            self.validate_control(c, problems);
        }
    }

    fn validate_control(&self, control: &ControlConfig, problems: &mut Problems) {
        if let Err(control::ConfigError::Invalid { field, value, why }) = control.validate() {
            problems.push((
                format!("heat_curve_control.{field}"),
                format!("{value}: {why}"),
            ));
        }
        if self.homeside.is_none() {
            problems.push((
                "heat_curve_control".into(),
                "needs a homeside section: the curve is written through the house's substation"
                    .into(),
            ));
        }
        if self.location.is_none() {
            problems.push((
                "heat_curve_control".into(),
                "needs a location: control follows the weather forecast there".into(),
            ));
        }
    }
}

/// Checks each `(name, item)` of the list `key` with `check` at `key[i]`, and that no two share
/// a name (`<what> name "x" is used twice`): the names are parts of their worker ids.
fn validate_named<'a, T: 'a>(
    items: impl Iterator<Item = (&'a str, &'a T)>,
    key: &str,
    what: &str,
    check: fn(&T, &str, &mut Problems),
    problems: &mut Problems,
) {
    let mut names = std::collections::BTreeSet::new();
    for (i, (name, item)) in items.enumerate() {
        check(item, &format!("{key}[{i}]"), problems);
        if !names.insert(name) {
            problems.push((
                format!("{key}[{i}].name"),
                format!("{what} name {name:?} is used twice"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{parse_entity, Entity, EntityKind};
    use std::path::Path;

    fn house(text: &str) -> Result<Entity, Vec<crate::config::ConfigError>> {
        parse_entity(
            EntityKind::House,
            Path::new("profiles/HEM_FJV_Villa_149.json"),
            text,
        )
    }

    #[test]
    fn homeside_settings_have_defaults_and_are_checked() {
        let Entity::House(h) = house(r#"{"homeside": {}}"#).unwrap() else {
            panic!()
        };
        let hs = h.homeside.unwrap();
        assert_eq!(hs.base_url, "https://homeside.systeminstallation.se");
        assert_eq!((hs.poll_interval_secs, hs.timeout_secs), (300, 30));
        let text = r#"{"homeside": {"base_url": "homeside.se", "controller": "a/b",
            "variable_overrides": {"AI_ZON1_GT_RUM_1_Output": "room temperature"}}}"#;
        let paths: Vec<String> = house(text)
            .unwrap_err()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(
            paths,
            [
                "homeside.base_url",
                "homeside.controller",
                "homeside.variable_overrides.AI_ZON1_GT_RUM_1_Output"
            ]
        );
    }

    #[test]
    fn heat_curve_control_is_checked_with_its_file_and_field() {
        let ok = r#"{"location": {"lat": 59.3, "lon": 18.1}, "homeside": {},
            "heat_curve_control": {"enabled": true, "mode": "reduction", "target": 21.5}}"#;
        let Entity::House(h) = house(ok).unwrap() else {
            panic!()
        };
        let c = h.heat_curve_control.unwrap();
        assert!(c.enabled && c.target == 21.5 && c.tolerance == 1.0);
        let zero = r#"{"location": {"lat": 59.3, "lon": 18.1}, "homeside": {},
            "heat_curve_control": {"tolerance": 0}}"#;
        let errors = house(zero).unwrap_err();
        assert_eq!(errors[0].path, "heat_curve_control.tolerance");
        let shown = errors[0].to_string();
        assert!(
            shown.contains("profiles/HEM_FJV_Villa_149.json") && shown.contains("above 0"),
            "{shown}"
        );
        let alone = house(r#"{"heat_curve_control": {}}"#).unwrap_err();
        let why: Vec<&str> = alone.iter().map(|e| e.message.as_str()).collect();
        assert!(
            why[0].contains("homeside") && why[1].contains("location"),
            "{why:?}"
        );
    }

    #[test]
    fn arrigo_history_is_checked_with_its_file_and_field() {
        let ok = r#"{"homeside": {}, "arrigo_history": {
            "arrigo": {"base_url": "https://arrigo.example/arrigo/api", "history_resolution_secs": 300},
            "signals": [{"signal_id": "ODAyNjc=", "field": "outdoor_temperature"},
                        {"signal_id": "ODAyOTU=", "field": "dh_power", "fetch": false}]}}"#;
        let Entity::House(h) = house(ok).unwrap() else {
            panic!()
        };
        assert_eq!(
            h.arrigo_credential_prefix().unwrap(),
            "HOUSE_HEM_FJV_Villa_149_ARRIGO"
        );
        assert_eq!(
            h.arrigo_history.unwrap().arrigo.history_resolution_secs,
            300
        );
        let bad = r#"{"arrigo_history": {
            "arrigo": {"base_url": "arrigo.example", "history_resolution_secs": 60},
            "signals": [{"signal_id": "A", "field": "away_mode"},
                        {"signal_id": "A", "field": "supply_temp"}]}}"#;
        let errors = house(bad).unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "arrigo_history.arrigo.history_resolution_secs",
                "arrigo_history.arrigo.base_url",
                "arrigo_history.signals[1].signal_id",
                "arrigo_history.signals[0].field",
                "arrigo_history",
            ]
        );
        let shown = errors[3].to_string();
        assert!(
            shown.contains("profiles/HEM_FJV_Villa_149.json") && shown.contains("integer flag"),
            "{shown}"
        );
        let none = r#"{"homeside": {}, "arrigo_history": {"arrigo": {"base_url": "https://a"},
            "signals": [{"signal_id": "A", "field": "x", "fetch": false}]}}"#;
        assert_eq!(house(none).unwrap_err()[0].path, "arrigo_history.signals");
    }
}
