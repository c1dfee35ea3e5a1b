//! SMHI weather for every house and building with a `location`: the `[weather]` section of
//! `hemflux.toml`, and the one `weather` worker that serves all positions (so that houses near
//! one station or forecast cell cost one request, not one each).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::workers::WorkerSpec;
use super::{check_positive, check_url, ConfigError, Entity, Problems};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeatherSettings {
    /// `false` turns weather off for every entity.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// SMHI metobs, up to and including the version segment.
    #[serde(default = "WeatherSettings::default_observations_url")]
    pub observations_url: String,
    /// SMHI snow1g point forecasts, up to and including the version segment.
    #[serde(default = "WeatherSettings::default_forecast_url")]
    pub forecast_url: String,
    /// Station observations are hourly; asking more often only picks them up sooner.
    #[serde(default = "WeatherSettings::default_observation_interval")]
    pub observation_interval_secs: u64,
    #[serde(default = "WeatherSettings::default_forecast_interval")]
    pub forecast_interval_secs: u64,
    /// Hours ahead summarised in `weather_forecast` and written to `weather_forecast_hourly`.
    #[serde(default = "WeatherSettings::default_forecast_hours")]
    pub forecast_hours: u32,
    /// How long the station list (and so each position's nearest station) is reused.
    #[serde(default = "WeatherSettings::default_station_cache")]
    pub station_cache_hours: u64,
    #[serde(default = "yes")]
    pub observations: bool,
    #[serde(default = "yes")]
    pub forecasts: bool,
    /// Positions are snapped to this grid (degrees) before a forecast is asked for, so that
    /// neighbours share one request; SMHI's model grid is about 2.5 km.
    #[serde(default = "WeatherSettings::default_grid")]
    pub forecast_grid_deg: f64,
    #[serde(default = "WeatherSettings::default_timeout")]
    pub timeout_secs: u64,
}

fn yes() -> bool {
    true
}

impl Default for WeatherSettings {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("every weather setting has a default")
    }
}

impl WeatherSettings {
    fn default_observations_url() -> String {
        "https://opendata-download-metobs.smhi.se/api/version/latest".into()
    }
    fn default_forecast_url() -> String {
        "https://opendata-download-metfcst.smhi.se/api/category/snow1g/version/1".into()
    }
    fn default_observation_interval() -> u64 {
        600
    }
    fn default_forecast_interval() -> u64 {
        3600
    }
    fn default_forecast_hours() -> u32 {
        72
    }
    fn default_station_cache() -> u64 {
        24
    }
    fn default_grid() -> f64 {
        0.02
    }
    fn default_timeout() -> u64 {
        30
    }

    /// Problems as (path, message), reported against `hemflux.toml`.
    fn problems(&self) -> Problems {
        let mut problems: Problems = Vec::new();
        check_url(
            &self.observations_url,
            "weather.observations_url",
            &mut problems,
        );
        check_url(&self.forecast_url, "weather.forecast_url", &mut problems);
        for (v, at) in [
            (
                self.observation_interval_secs,
                "weather.observation_interval_secs",
            ),
            (
                self.forecast_interval_secs,
                "weather.forecast_interval_secs",
            ),
            (self.forecast_hours.into(), "weather.forecast_hours"),
            (self.station_cache_hours, "weather.station_cache_hours"),
            (self.timeout_secs, "weather.timeout_secs"),
        ] {
            check_positive(v, at, &mut problems);
        }
        if !(self.forecast_grid_deg > 0.0 && self.forecast_grid_deg <= 1.0) {
            problems.push((
                "weather.forecast_grid_deg".into(),
                format!("{} is not in (0, 1]", self.forecast_grid_deg),
            ));
        }
        problems
    }
}

/// One position the weather worker serves: `tag` is `house_id` or `building_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeatherPosition {
    pub tag: String,
    pub id: String,
    pub lat: f64,
    pub lon: f64,
}

/// The `weather` worker for every entity with a location (first file wins on a duplicate id,
/// as for the other workers), or none when weather is off, its settings are invalid (the
/// problems go to `errors`), or nobody has a location.
pub(crate) fn weather_worker(
    entities: &[(PathBuf, Entity)],
    settings: Option<&WeatherSettings>,
    errors: &mut Vec<ConfigError>,
) -> Option<WorkerSpec> {
    let settings = settings.cloned().unwrap_or_default();
    if !settings.enabled {
        return None;
    }
    let problems = settings.problems();
    if !problems.is_empty() {
        errors.extend(problems.into_iter().map(|(path, message)| ConfigError {
            file: PathBuf::from("hemflux.toml"),
            line: 0,
            column: 0,
            path,
            message,
        }));
        return None;
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut positions = Vec::new();
    let mut files = Vec::new();
    for (file, entity) in entities {
        let (tag, location) = match entity {
            Entity::House(h) => ("house_id", h.location),
            Entity::Building(b) => ("building_id", b.location),
        };
        if !seen.insert((tag, entity.id().to_string())) {
            continue;
        }
        if let Some(loc) = location {
            positions.push(WeatherPosition {
                tag: tag.into(),
                id: entity.id().into(),
                lat: loc.lat,
                lon: loc.lon,
            });
            files.push(file.clone());
        }
    }
    if positions.is_empty() {
        return None;
    }
    Some(WorkerSpec {
        id: "weather".into(),
        config: crate::kinds::WeatherWorker {
            settings,
            positions,
        }
        .into(),
        secrets: Vec::new(),
        credentials: Vec::new(),
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_entity, EntityKind};
    use std::path::Path;

    fn entity(kind: EntityKind, file: &str, text: &str) -> (PathBuf, Entity) {
        (
            PathBuf::from(file),
            parse_entity(kind, Path::new(file), text).unwrap(),
        )
    }

    #[test]
    fn one_worker_serves_every_located_entity() {
        let entities = [
            entity(
                EntityKind::House,
                "profiles/a.json",
                r#"{"location": {"lat": 56.05, "lon": 12.7}}"#,
            ),
            entity(
                EntityKind::House,
                "profiles/b.json",
                r#"{"name": "no location"}"#,
            ),
            entity(
                EntityKind::House,
                "profiles/c.json",
                r#"{"id": "a", "location": {"lat": 1, "lon": 1}}"#,
            ),
            entity(
                EntityKind::Building,
                "buildings/k.json",
                r#"{"location": {"lat": 59.3, "lon": 18.0}, "arrigo": {"base_url": "http://x"}}"#,
            ),
        ];
        let mut errors = Vec::new();
        let spec = weather_worker(&entities, None, &mut errors).unwrap();
        assert!(errors.is_empty());
        assert_eq!(
            (spec.id.as_str(), spec.kind()),
            ("weather", crate::kinds::WorkerKind::Weather)
        );
        let config = spec.config.to_value();
        let positions: Vec<WeatherPosition> =
            serde_json::from_value(config["positions"].clone()).unwrap();
        let ids: Vec<_> = positions
            .iter()
            .map(|p| (p.tag.as_str(), p.id.as_str(), p.lat))
            .collect();
        assert_eq!(ids, [("house_id", "a", 56.05), ("building_id", "k", 59.3)]);
        assert_eq!(config["settings"]["forecast_hours"], 72);

        let off: WeatherSettings = toml_like(r#"{"enabled": false}"#);
        assert!(weather_worker(&entities, Some(&off), &mut errors).is_none());
        let bad: WeatherSettings = toml_like(r#"{"forecast_url": "ftp://x", "forecast_hours": 0}"#);
        assert!(weather_worker(&entities, Some(&bad), &mut errors).is_none());
        let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["weather.forecast_url", "weather.forecast_hours"]);
        assert!(serde_json::from_str::<WeatherSettings>(r#"{"forecast_hour": 1}"#).is_err());
    }

    fn toml_like(text: &str) -> WeatherSettings {
        serde_json::from_str(text).unwrap()
    }
}
