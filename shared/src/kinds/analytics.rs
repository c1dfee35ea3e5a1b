//! `analytics:<id>`: the energy analytics of one house or building whose file has an enabled
//! `analytics` section (docs/energy.md). It reads the entity's history through the read path
//! (`crate::read`), so it needs no credentials. Weather gaps in that history it refills from
//! SMHI's observations (keyless), with hemflux.toml's `[weather]` URLs.

use serde::{Deserialize, Serialize};

use super::{Desired, Kind};
use crate::config::{
    AnalyticsConfig, ConfigError, Entity, Location, WeatherSettings, WorkerSpec, DEFAULT_TIMEZONE,
};
use crate::read::{Grant, ReadScope};

/// Everything the analytics of one entity need from its file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsWorker {
    pub entity_id: String,
    /// `house_id` or `building_id`: the tag of the entity's series, read and written.
    pub entity_tag: String,
    pub timezone: String,
    #[serde(default)]
    pub location: Option<Location>,
    /// How often the heating rows are polled (their expected cadence).
    pub poll_interval_secs: u64,
    pub analytics: AnalyticsConfig,
    /// hemflux.toml's `[weather]` (SMHI's observation URL and timeout) for the weather-gap
    /// refill; absent when weather is off (the gaps are then only reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weather: Option<WeatherSettings>,
}

impl AnalyticsWorker {
    /// The analytics of `entity` with these settings (its own section, or the defaults).
    pub fn of(entity: &Entity, analytics: AnalyticsConfig) -> AnalyticsWorker {
        let (id, tag, location, tz, poll) = match entity {
            Entity::House(h) => (
                &h.id,
                "house_id",
                h.location,
                &h.timezone,
                h.homeside.as_ref().map_or(300, |s| s.poll_interval_secs),
            ),
            Entity::Building(b) => (
                &b.id,
                "building_id",
                b.location,
                &b.timezone,
                b.arrigo.poll_interval_secs,
            ),
        };
        AnalyticsWorker {
            entity_id: id.clone(),
            entity_tag: tag.to_string(),
            timezone: tz.clone().unwrap_or_else(|| DEFAULT_TIMEZONE.to_string()),
            location,
            poll_interval_secs: poll,
            analytics,
            weather: None,
        }
    }
}

impl Kind for AnalyticsWorker {
    fn desired(cx: &mut Desired<'_>) -> Vec<WorkerSpec> {
        let weather = cx.globals.weather.clone().unwrap_or_default();
        let weather = weather.enabled.then_some(weather);
        let mut specs: Vec<WorkerSpec> = Vec::new();
        for (file, entity) in cx.entities {
            let section = match entity {
                Entity::House(h) => &h.analytics,
                Entity::Building(b) => &b.analytics,
            };
            let Some(analytics) = section.clone().filter(|a| a.enabled) else {
                continue;
            };
            let id = format!("analytics:{}", entity.id());
            if specs.iter().any(|s| s.id == id) {
                cx.errors.push(ConfigError {
                    file: file.clone(),
                    line: 0,
                    column: 0,
                    path: "analytics".into(),
                    message: format!(
                        "a house and a building share the id {:?}: only the first gets analytics",
                        entity.id()
                    ),
                });
                continue;
            }
            specs.push(WorkerSpec::new(
                id,
                AnalyticsWorker {
                    weather: weather.clone(),
                    ..AnalyticsWorker::of(entity, analytics)
                },
                Vec::new(),
                file,
            ));
        }
        specs
    }

    /// The entity's own series: every measurement pinned to its id (the weather of its position
    /// is tagged with the entity by the weather worker).
    fn reads(&self) -> ReadScope {
        ReadScope::new(vec![Grant::entity(&self.entity_tag, &self.entity_id)])
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::config::{desired_workers, parse_entity, EntityKind, Globals, WeatherSettings};
    use crate::kinds::WorkerConfig;

    /// The weather settings the analytics worker of one house with a location gets.
    fn weather_of(globals: &Globals) -> Option<WeatherSettings> {
        let text = r#"{"location": {"lat": 59.33, "lon": 18.07}, "analytics": {}}"#;
        let file = "profiles/villa.json";
        let entity = parse_entity(EntityKind::House, Path::new(file), text).unwrap();
        let (specs, _) = desired_workers(&[(PathBuf::from(file), entity)], globals);
        specs
            .into_iter()
            .find_map(|s| match s.config {
                WorkerConfig::Analytics(a) => Some(a.weather),
                _ => None,
            })
            .expect("an analytics worker")
    }

    #[test]
    fn the_weather_gap_refill_asks_smhi_only_while_weather_is_on() {
        let on = weather_of(&Globals::default()).expect("weather is on by default");
        assert_eq!(on, WeatherSettings::default());
        let off = Globals {
            weather: Some(WeatherSettings {
                enabled: false,
                ..WeatherSettings::default()
            }),
            ..Globals::default()
        };
        assert_eq!(weather_of(&off), None);
    }
}
