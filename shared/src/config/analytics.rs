//! The `analytics` section of a house profile or building config, and the entity's time zone.

use serde::{Deserialize, Serialize};

use super::{Location, Problems};

/// The time zone whose local days and wall clock the analytics use when a file names none.
pub const DEFAULT_TIMEZONE: &str = "Europe/Stockholm";

/// Energy analytics of one entity (docs/energy.md). Every key is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsConfig {
    #[serde(default = "AnalyticsConfig::yes")]
    pub enabled: bool,
    /// k is fitted on the complete days among this many most recent local days.
    #[serde(default = "AnalyticsConfig::default_calibration_days")]
    pub calibration_days: u32,
    /// Refit k this often.
    #[serde(default = "AnalyticsConfig::default_recalibration_hours")]
    pub recalibration_hours: u32,
    /// Effective-temperature coefficients (wind, humidity, solar); default 0.56, 0.01, 15.
    #[serde(default)]
    pub coefficients: Option<EffectiveTempCoefficients>,
    /// Indoor temperature assumed where none is measured (buildings).
    #[serde(default = "AnalyticsConfig::default_indoor")]
    pub assumed_indoor_temp: f64,
    /// The daily tasks on the entity's local wall clock; default the seed's: gap fill at 07:30
    /// and 12:00, the energy pipeline at 08:00.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Vec<ScheduleSlot>>,
}

/// One daily task at a local time of day (`"08:00"`, or `"08:00:30"` with seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSlot {
    pub task: ScheduledTask,
    pub at: jiff::civil::Time,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduledTask {
    /// Weather gap check and the effective-temperature backfill.
    GapFill,
    /// Gap fill, the daily split, recalibration of k when due, and the energy forecast.
    EnergyPipeline,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EffectiveTempCoefficients {
    pub wind: f64,
    pub humidity: f64,
    pub solar: f64,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        AnalyticsConfig {
            enabled: true,
            calibration_days: Self::default_calibration_days(),
            recalibration_hours: Self::default_recalibration_hours(),
            coefficients: None,
            assumed_indoor_temp: Self::default_indoor(),
            schedule: None,
        }
    }
}

impl AnalyticsConfig {
    fn yes() -> bool {
        true
    }
    fn default_calibration_days() -> u32 {
        30
    }
    fn default_recalibration_hours() -> u32 {
        72
    }
    fn default_indoor() -> f64 {
        21.0
    }

    pub(crate) fn validate(&self, problems: &mut Problems) {
        if self.calibration_days < 10 {
            problems.push((
                "analytics.calibration_days".into(),
                format!(
                    "{} days cannot give the 10 heating days a fit needs",
                    self.calibration_days
                ),
            ));
        }
        if self.schedule.as_ref().is_some_and(Vec::is_empty) {
            problems.push((
                "analytics.schedule".into(),
                "is empty: leave it out for the default slots, or set enabled: false".into(),
            ));
        }
        if self.recalibration_hours == 0 {
            problems.push((
                "analytics.recalibration_hours".into(),
                "must be greater than 0".into(),
            ));
        }
    }
}

/// Checks what a house profile and a building config share for the analytics: the location,
/// the time zone and the `analytics` section.
pub(crate) fn check_site(
    location: &Option<Location>,
    timezone: &Option<String>,
    analytics: &Option<AnalyticsConfig>,
    problems: &mut Problems,
) {
    if let Some(loc) = location {
        loc.validate("location", problems);
    }
    check_timezone(timezone, problems);
    if let Some(a) = analytics {
        a.validate(problems);
    }
}

/// Checks a `timezone` setting against the bundled time-zone database.
fn check_timezone(tz: &Option<String>, problems: &mut Problems) {
    if let Some(tz) = tz {
        if jiff::tz::TimeZone::get(tz).is_err() {
            problems.push((
                "timezone".into(),
                format!("{tz:?} is not a known time zone"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{parse_entity, Entity, EntityKind};

    fn house(text: &str) -> Result<Entity, Vec<String>> {
        parse_entity(EntityKind::House, Path::new("profiles/villa_12.json"), text)
            .map_err(|errs| errs.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn a_schedule_names_its_tasks_and_local_times() {
        let Entity::House(h) = house(
            r#"{"analytics": {"schedule": [{"task": "gap_fill", "at": "07:30"},
                {"task": "energy_pipeline", "at": "08:00:05"}]}}"#,
        )
        .unwrap() else {
            panic!("a house")
        };
        let slots = h.analytics.unwrap().schedule.unwrap();
        assert_eq!(slots[1].task, crate::config::ScheduledTask::EnergyPipeline);
        assert_eq!(slots[1].at, jiff::civil::time(8, 0, 5, 0));
        let errs = house(r#"{"analytics": {"schedule": [{"task": "gap_fill", "at": "25:00"}]}}"#)
            .unwrap_err();
        assert!(errs[0].contains("analytics.schedule[0].at"), "{errs:?}");
        let errs = house(r#"{"analytics": {"schedule": []}}"#).unwrap_err();
        assert!(errs[0].contains("analytics.schedule"), "{errs:?}");
    }

    #[test]
    fn an_imported_only_house_has_an_id_a_position_a_time_zone_and_analytics() {
        let Entity::House(h) = house(
            r#"{"location": {"lat": 59.3, "lon": 18.1}, "timezone": "Europe/Helsinki",
                "analytics": {"calibration_days": 45, "coefficients": {"wind": 0.15, "humidity": 0.01, "solar": 6}}}"#,
        )
        .unwrap() else {
            panic!("a house")
        };
        assert_eq!(h.timezone.as_deref(), Some("Europe/Helsinki"));
        let a = h.analytics.unwrap();
        assert_eq!(
            (a.enabled, a.calibration_days, a.recalibration_hours),
            (true, 45, 72)
        );
        assert_eq!(a.coefficients.unwrap().solar, 6.0);
    }

    #[test]
    fn bad_time_zones_and_windows_name_their_field() {
        let errs =
            house(r#"{"timezone": "Europe/Stokholm", "analytics": {"calibration_days": 7}}"#)
                .unwrap_err();
        assert!(
            errs.iter()
                .any(|e| e.contains("timezone") && e.contains("Europe/Stokholm")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("analytics.calibration_days")),
            "{errs:?}"
        );
        let errs = house(r#"{"analytics": {"calibraton_days": 30}}"#).unwrap_err();
        assert!(errs[0].contains("analytics.calibraton_days"), "{errs:?}");
    }
}
