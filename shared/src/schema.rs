//! The measurements hemflux writes, with their tags and fields, in one place: the names our
//! users' dashboards and queries rely on (seed 002's table, the protocol pages, issues 5-7).
//! The Grafana dashboards in `deploy/` are checked against this list by a test
//! (`tests/e2e/tests/deploy.rs`), and that test also checks that every name listed here for a
//! source that exists appears in that source's code, so the list cannot drift from what is written.

/// One source's series of one measurement. A measurement written by two sources (such as
/// `electricity_consumption` from WattiVahti and Tibber) has one entry per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Series {
    pub measurement: &'static str,
    /// The folders (or files) of the code that writes it, relative to the repository root.
    pub writers: &'static [&'static str],
    pub tags: &'static [&'static str],
    pub fields: &'static [&'static str],
    /// Whether the config adds fields of its own names (building signals, HomeSide overrides).
    pub configured_fields: bool,
}

/// Every series hemflux writes.
pub const SERIES: &[Series] = &[
    Series {
        measurement: "heating_system",
        writers: &["workers/src/house"],
        tags: &["house_id"],
        fields: &[
            "room_temperature",
            "outdoor_temperature",
            "outdoor_temp_24h_avg",
            "supply_temp",
            "return_temp",
            "hot_water_temp",
            "system_pressure",
            "electric_heater",
            "heat_recovery",
            "away_mode",
            "target_temp_setpoint",
            "away_temp_setpoint",
            "dh_supply_temp",
            "dh_return_temp",
            "dh_power",
            "dh_flow",
            "supply_setpoint",
        ],
        configured_fields: true,
    },
    Series {
        measurement: "building_system",
        writers: &["workers/src/building"],
        tags: &["building_id"],
        fields: &[],
        configured_fields: true,
    },
    Series {
        measurement: "building_alarms",
        writers: &["workers/src/building"],
        tags: &["building_id"],
        fields: &[
            "total_count",
            "count_alarmed",
            "count_returned",
            "count_acknowledged",
            "count_blocked",
        ],
        configured_fields: false,
    },
    Series {
        measurement: "energy_meter",
        writers: &[
            "workers/src/district_heating",
            "shared/src/config/district_heating.rs",
        ],
        tags: &["house_id", "building_id", "meter_id"],
        fields: &[
            "meter_reading",
            "consumption",
            "volume",
            "primary_temp_in",
            "primary_temp_out",
        ],
        configured_fields: false,
    },
    Series {
        measurement: "electricity_consumption",
        writers: &["workers/src/meter/wattivahti.rs"],
        tags: &["metering_point"],
        fields: &["consumption_kwh", "consumption_wh", "resolution"],
        configured_fields: false,
    },
    Series {
        measurement: "electricity_consumption",
        writers: &["workers/src/meter/tibber.rs"],
        tags: &["home_id"],
        fields: &["consumption_kwh", "cost", "unit_price"],
        configured_fields: false,
    },
    // Seed 004's Home Assistant schema (`schema = "home_assistant"`): `value` is a cumulative
    // register; the measurement is named after its unit, as Home Assistant names it.
    Series {
        measurement: "kWh",
        writers: &["workers/src/meter/register.rs"],
        tags: &["entity_id", "domain"],
        fields: &["value", "cost", "unit_price"],
        configured_fields: false,
    },
    Series {
        measurement: "electricity_price",
        writers: &["workers/src/meter/tibber.rs"],
        tags: &["home_id", "resolution", "currency"],
        fields: &["total", "energy", "tax", "level"],
        configured_fields: false,
    },
    Series {
        measurement: "weather_observation",
        writers: &["workers/src/weather", "shared/src/config/weather.rs"],
        tags: &[
            "house_id",
            "building_id",
            "station_name",
            "station_id",
            "source",
        ],
        fields: &["temperature", "wind_speed", "humidity", "distance_km"],
        configured_fields: false,
    },
    Series {
        measurement: "weather_forecast",
        writers: &["workers/src/weather", "shared/src/config/weather.rs"],
        tags: &["house_id", "building_id", "trend", "cloud_condition"],
        fields: &[
            "current_temp",
            "avg_temp",
            "max_temp",
            "min_temp",
            "temp_change",
            "forecast_hours",
            "avg_cloud_cover",
        ],
        configured_fields: false,
    },
    Series {
        measurement: "weather_forecast_hourly",
        writers: &["workers/src/weather", "shared/src/config/weather.rs"],
        tags: &["house_id", "building_id"],
        fields: &[
            "temperature",
            "lead_time_hours",
            "cloud_cover",
            "wind_speed",
            "wind_gust",
            "wind_direction",
            "humidity",
            "precipitation",
            "visibility",
        ],
        configured_fields: false,
    },
    Series {
        measurement: "smart_meter",
        writers: &["workers/src/serial"],
        tags: &["house_id", "device"],
        fields: &[
            "cumulative_power_kwh",
            "instant_power_w",
            "current_a",
            "current_r_a",
            "current_t_a",
            "historical_timestamp",
            "historical_cumulative_power_kwh",
            "recent_30min_timestamp",
            "recent_30min_consumption_kwh",
        ],
        configured_fields: false,
    },
    Series {
        measurement: "synthetic",
        writers: &["workers/src/synthetic.rs"],
        tags: &["house_id", "series"],
        fields: &["n", "value"],
        configured_fields: false,
    },
    // Analytics (a later issue): the names of seed 002 and `../shared/analytics/heating.md`.
    Series {
        measurement: "constant",
        writers: &["workers/src/constant.rs"],
        tags: &["source"],
        fields: &["value"],
        configured_fields: false,
    },
    Series {
        measurement: "meter_interpolated_daily",
        writers: &["analytics/src/meters/records.rs"],
        tags: &["meter_id"],
        fields: &["value", "quality"],
        configured_fields: false,
    },
    Series {
        measurement: "meter_interpolated_monthly",
        writers: &["analytics/src/meters/records.rs"],
        tags: &["meter_id"],
        fields: &["value", "quality"],
        configured_fields: false,
    },
    Series {
        measurement: "meter_consumption",
        writers: &["analytics/src/meters/records.rs"],
        tags: &["meter_id", "period"],
        fields: &["consumption", "value", "quality"],
        configured_fields: false,
    },
    Series {
        measurement: "meter_anomaly",
        writers: &["analytics/src/meters/records.rs"],
        tags: &["meter_id", "flag"],
        fields: &["severity", "reason", "consumption", "value"],
        configured_fields: false,
    },
    Series {
        measurement: "analytics_run",
        writers: &["workers/src/analytics", "analytics/src/energy/inputs.rs"],
        tags: &["house_id", "building_id", "slot"],
        fields: &["occurrence", "points", "duration_ms"],
        configured_fields: false,
    },
    Series {
        measurement: "energy_separated",
        writers: &[
            "analytics/src/energy/records.rs",
            "analytics/src/energy/inputs.rs",
            "workers/src/analytics",
        ],
        tags: &["house_id", "building_id", "method"],
        fields: &[
            "actual_energy_kwh",
            "heating_energy_kwh",
            "dhw_energy_kwh",
            "excess_energy_kwh",
            "avg_temp_difference",
            "degree_hours",
            "k_value",
            "k_implied",
            "dhw_events",
            "dhw_minutes",
            "data_coverage",
            "avg_indoor_temp",
            "avg_effective_outdoor_temp",
            "no_breakdown",
            "base_energy_kwh",
        ],
        configured_fields: false,
    },
    Series {
        measurement: "k_value_history",
        writers: &[
            "analytics/src/energy/records.rs",
            "analytics/src/energy/inputs.rs",
            "workers/src/analytics",
        ],
        tags: &["house_id", "building_id", "method"],
        fields: &[
            "k_value",
            "k_median",
            "k_stddev",
            "days_used",
            "total_days",
            "avg_outdoor_temp",
            "confidence",
            "balance_point_c",
            "intercept_kwh_per_day",
            "slope_kwh_per_k_day",
            "r2_adj",
            "cvrmse",
            "k_low",
            "k_high",
            "heating_days",
            "usable",
            "base_kwh_per_day",
            "kwh_per_dhw_minute",
        ],
        configured_fields: false,
    },
    Series {
        measurement: "energy_forecast",
        writers: &[
            "analytics/src/energy/records.rs",
            "analytics/src/energy/inputs.rs",
            "workers/src/analytics",
        ],
        tags: &["house_id", "building_id"],
        fields: &[
            "heating_energy_kwh",
            "base_energy_kwh",
            "total_energy_kwh",
            "indoor_temp",
            "outdoor_temp",
            "effective_temp",
            "lead_time_hours",
        ],
        configured_fields: false,
    },
    Series {
        measurement: "heating_system",
        writers: &[
            "analytics/src/energy/records.rs",
            "analytics/src/energy/inputs.rs",
            "workers/src/analytics",
        ],
        tags: &["house_id"],
        fields: &[
            "effective_temp",
            "effective_temp_wind_effect",
            "effective_temp_solar_effect",
        ],
        configured_fields: false,
    }, // Heating analytics of one house, written by its `controller` worker.
    Series {
        measurement: "thermal_history",
        writers: &["analytics/src/thermal"],
        tags: &["house_id"],
        fields: &[
            "room_temperature",
            "outdoor_temperature",
            "supply_temp",
            "electric_heater",
            "return_temp",
        ],
        configured_fields: false,
    },
    Series {
        measurement: "temperature_forecast",
        writers: &["analytics/src/thermal"],
        tags: &["house_id", "forecast_type"],
        fields: &["value", "lead_time_hours", "forecast_time"],
        configured_fields: false,
    },
    Series {
        measurement: "forecast_accuracy",
        writers: &["analytics/src/thermal"],
        tags: &["house_id", "hour", "lead_time_hours"],
        fields: &["predicted", "actual", "error", "outdoor", "forecast_time"],
        configured_fields: false,
    },
    Series {
        measurement: "heat_curve_baseline",
        writers: &["analytics/src/thermal"],
        tags: &["house_id"],
        // y_1 .. y_10, one per curve point.
        fields: &[],
        configured_fields: true,
    },
    Series {
        measurement: "heat_curve_adjustment",
        writers: &["analytics/src/thermal"],
        tags: &["house_id", "action"],
        // Also point_1 .. point_10, the curve written.
        fields: &[
            "delta",
            "points_adjusted",
            "reason",
            "dry_run",
            "forecast_change",
            "duration_hours",
        ],
        configured_fields: true,
    },
];

/// A field's type. An InfluxDB bucket keeps the type a field was first written with and refuses
/// points that change it, so hemflux writes each field with the type the seeds wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Float,
    Integer,
    Boolean,
    String,
}

/// The listed fields that are not floats (every other listed field is one): the seeds' types
/// (seed 001: `resolution` a string; seed 002: `forecast_hours` and the flags integers; seed 003:
/// the power in whole watts, the timestamps as text).
pub const NOT_FLOAT: &[(&str, &str, FieldType)] = {
    use FieldType::*;
    &[
        ("heating_system", "electric_heater", Integer),
        ("heating_system", "heat_recovery", Integer),
        ("heating_system", "away_mode", Integer),
        ("building_alarms", "total_count", Integer),
        ("building_alarms", "count_alarmed", Integer),
        ("building_alarms", "count_returned", Integer),
        ("building_alarms", "count_acknowledged", Integer),
        ("building_alarms", "count_blocked", Integer),
        ("electricity_consumption", "resolution", String),
        ("electricity_price", "level", String),
        ("weather_forecast", "forecast_hours", Integer),
        ("smart_meter", "instant_power_w", Integer),
        ("smart_meter", "historical_timestamp", String),
        ("smart_meter", "recent_30min_timestamp", String),
        ("synthetic", "n", Integer),
        ("thermal_history", "electric_heater", Integer),
        ("temperature_forecast", "forecast_time", String),
        ("forecast_accuracy", "forecast_time", String),
        ("heat_curve_adjustment", "points_adjusted", Integer),
        ("heat_curve_adjustment", "reason", String),
        ("heat_curve_adjustment", "dry_run", Boolean),
        // Counts and flags of the seed's analytics (Python ints).
        ("energy_separated", "dhw_events", Integer),
        ("energy_separated", "no_breakdown", Integer),
        ("k_value_history", "days_used", Integer),
        ("k_value_history", "total_days", Integer),
        ("k_value_history", "heating_days", Integer),
        ("k_value_history", "usable", Integer),
        ("analytics_run", "occurrence", Integer),
        ("meter_interpolated_daily", "quality", String),
        ("meter_interpolated_monthly", "quality", String),
        ("meter_consumption", "quality", String),
        ("meter_anomaly", "severity", String),
        ("meter_anomaly", "reason", String),
        ("analytics_run", "points", Integer),
    ]
};

/// The type of a listed field; `None` for a field hemflux does not list (a configured one).
pub fn field_type(measurement: &str, field: &str) -> Option<FieldType> {
    if !has_field(measurement, field) {
        return None;
    }
    Some(
        NOT_FLOAT
            .iter()
            .find(|(m, f, _)| *m == measurement && *f == field)
            .map_or(FieldType::Float, |(_, _, t)| *t),
    )
}

/// The series of `measurement`; empty when hemflux does not write it.
pub fn series(measurement: &str) -> impl Iterator<Item = &'static Series> + '_ {
    SERIES.iter().filter(move |s| s.measurement == measurement)
}

pub fn is_measurement(name: &str) -> bool {
    series(name).next().is_some()
}

/// Whether `tag` is a tag of `measurement` (of any of its sources).
pub fn has_tag(measurement: &str, tag: &str) -> bool {
    series(measurement).any(|s| s.tags.contains(&tag))
}

/// Whether `field` is a listed field of `measurement`. Fields named by the user's config
/// (`configured_fields`) are not known here, so nothing shared may rely on them.
pub fn has_field(measurement: &str, field: &str) -> bool {
    series(measurement).any(|s| s.fields.contains(&field))
}

/// A Prometheus metric of the orchestrator's `/metrics`, with its labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub labels: &'static [&'static str],
}

/// The metrics the hemflux dashboard reads from `/metrics` (through Prometheus).
pub const METRICS: &[Metric] = &[
    Metric {
        name: "hemflux_workers",
        labels: &["state"],
    },
    Metric {
        name: "hemflux_worker_restarts_total",
        labels: &["worker", "kind"],
    },
    Metric {
        name: "hemflux_worker_points_total",
        labels: &["worker", "kind"],
    },
    Metric {
        name: "hemflux_sink_points_behind",
        labels: &["sink"],
    },
    Metric {
        name: "hemflux_sink_oldest_unsent_seconds",
        labels: &["sink"],
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn names_are_valid_influx_identifiers_and_unique_per_series() {
        let ident = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        for s in SERIES {
            // `kWh`: seed 004's name, kept as its dashboards query it.
            assert!(ident(s.measurement) || s.measurement == "kWh", "{s:?}");
            let mut seen = BTreeSet::new();
            for name in s.tags.iter().chain(s.fields) {
                assert!(ident(name), "{}: {name:?}", s.measurement);
                // A tag and a field of one name would make two columns Flux cannot tell apart.
                assert!(seen.insert(name), "{}: {name} twice", s.measurement);
            }
            assert!(
                !s.fields.is_empty() || s.configured_fields,
                "{} has no fields",
                s.measurement
            );
        }
    }

    #[test]
    fn every_typed_field_is_a_listed_one() {
        for (m, f, t) in NOT_FLOAT {
            assert_eq!(field_type(m, f), Some(*t), "{m}.{f} is not listed");
        }
        assert_eq!(
            field_type("weather_forecast", "avg_temp"),
            Some(FieldType::Float)
        );
        assert_eq!(field_type("building_system", "GT_UTE"), None);
    }

    #[test]
    fn lookups_follow_every_source_of_a_measurement() {
        assert!(has_tag("electricity_consumption", "metering_point"));
        assert!(has_tag("electricity_consumption", "home_id"));
        assert!(has_field("electricity_consumption", "cost"));
        assert!(!has_field("electricity_consumption", "total"));
        assert!(!has_field("building_system", "any_signal_field"));
        assert!(!has_field("heating_system", "room_temp"));
        assert!(!has_tag("heating_system", "building_id"));
        assert!(is_measurement("kWh") && has_tag("kWh", "entity_id"));
        assert_eq!(field_type("kWh", "value"), Some(FieldType::Float));
        assert!(!is_measurement("kwh"));
    }
}
