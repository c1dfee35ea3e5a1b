//! What the energy analytics read from the store, as read queries, and how the points that come
//! back become their inputs. `hemflux analytics run` runs the queries on the store itself, the
//! analytics worker through the read path (`hemflux_shared::read`): both then call
//! [`HistoryData::from_points`], so they analyse exactly the same history.

use std::collections::BTreeMap;

use hemflux_shared::kinds::AnalyticsWorker;
use hemflux_shared::point::Point;
use hemflux_shared::read::ReadQuery;
use hemflux_shared::time::{from_nanos, to_nanos};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::analysis::{Entity, History, Settings};
use super::days::HourlyEnergy;
use super::effective::{Coefficients, WeatherObs};
use super::hot_water::HeatingRow;
use super::schedule::Slot;

/// Weather is read from this long before a range, for the as-of join at its start.
const WEATHER_LEAD: SignedDuration = SignedDuration::from_hours(3);

/// The entity an analytics worker config describes; an error names a bad time zone.
pub fn entity(config: &AnalyticsWorker) -> Result<Entity, String> {
    let tz = TimeZone::get(&config.timezone)
        .map_err(|e| format!("{}: time zone {:?}: {e}", config.entity_id, config.timezone))?;
    Ok(Entity {
        id: config.entity_id.clone(),
        tag: if config.entity_tag == "building_id" {
            "building_id"
        } else {
            "house_id"
        },
        tz,
        location: config.location,
        coefficients: config
            .analytics
            .coefficients
            .map_or_else(Coefficients::default, |c| Coefficients {
                wind: c.wind,
                humidity: c.humidity,
                solar: c.solar,
            }),
        assumed_indoor_c: config.analytics.assumed_indoor_temp,
        poll_interval: SignedDuration::from_secs(config.poll_interval_secs as i64),
    })
}

/// The analysis settings of a worker config.
pub fn settings(config: &AnalyticsWorker) -> Settings {
    Settings {
        calibration_days: config.analytics.calibration_days as usize,
        recalibration_hours: i64::from(config.analytics.recalibration_hours),
        ..Settings::default()
    }
}

/// The daily slots of a worker config (its `schedule`, else the seed's).
pub fn slots(config: &AnalyticsWorker) -> Vec<Slot> {
    config
        .analytics
        .schedule
        .as_ref()
        .map_or_else(super::schedule::default_slots, |slots| {
            slots.iter().map(|s| Slot::from(*s)).collect()
        })
}

/// The heating rows' measurement of the entity.
pub fn heating_measurement(entity: &Entity) -> &'static str {
    if entity.tag == "building_id" {
        "building_system"
    } else {
        "heating_system"
    }
}

/// The queries for the history of `[start, end)`.
#[derive(Debug, Clone)]
pub struct HistoryQueries {
    pub start: Timestamp,
    /// `energy_meter.consumption`, every `meter_id` of the entity.
    pub energy: ReadQuery,
    /// The heating rows (from `WEATHER_LEAD` earlier: their outdoor temperature stands in for
    /// missing weather).
    pub heating: ReadQuery,
    pub weather: ReadQuery,
}

/// The history of the local days `first..=last`.
pub fn history_queries(entity: &Entity, first: Date, last: Date) -> HistoryQueries {
    let midnight = |d: Date| {
        d.to_zoned(entity.tz.clone())
            .and_then(|z| z.start_of_day())
            .map(|z| z.timestamp())
            .expect("local days in range")
    };
    let start = midnight(first);
    let end = midnight(last.tomorrow().expect("dates in range"));
    range_queries(entity, start, end)
}

/// The history of `[start, end)`.
pub fn range_queries(entity: &Entity, start: Timestamp, end: Timestamp) -> HistoryQueries {
    let q = |m: &str, from: Timestamp| {
        ReadQuery::new(m)
            .tag(entity.tag, entity.id.as_str())
            .between(Some(to_nanos(from)), Some(to_nanos(end)))
    };
    HistoryQueries {
        start,
        energy: q("energy_meter", start).fields(["consumption"]),
        heating: q(heating_measurement(entity), start - WEATHER_LEAD).fields([
            "room_temperature",
            "hot_water_temp",
            "outdoor_temperature",
            "effective_temp",
        ]),
        weather: q("weather_observation", start - WEATHER_LEAD).fields([
            "temperature",
            "wind_speed",
            "humidity",
        ]),
    }
}

/// The hourly weather forecast of the entity for `[now, now + hours)`.
pub fn forecast_query(entity: &Entity, now: Timestamp, hours: u32) -> ReadQuery {
    let end = now + SignedDuration::from_hours(i64::from(hours) + 1);
    ReadQuery::new("weather_forecast_hourly")
        .tag(entity.tag, entity.id.as_str())
        .fields(["temperature", "wind_speed", "humidity", "cloud_cover"])
        .between(Some(to_nanos(now)), Some(to_nanos(end)))
}

/// The inputs of an analysis, from the points of [`HistoryQueries`].
#[derive(Debug, Clone, Default)]
pub struct HistoryData {
    pub meters: BTreeMap<String, Vec<HourlyEnergy>>,
    pub heating: Vec<HeatingRow>,
    pub weather: Vec<WeatherObs>,
    /// Heating rows without `effective_temp` (what the gap fill backfills).
    pub missing_effective_temp: Vec<Timestamp>,
}

fn number(p: &Point, field: &str) -> Option<f64> {
    p.fields.get(field).and_then(|v| v.as_f64())
}

/// Sorts by time; among points at one time the later series (in the store's order) wins.
fn by_time(mut points: Vec<Point>) -> Vec<Point> {
    points.sort_by_key(|p| p.time);
    points
}

impl HistoryData {
    /// Without weather observations, the heating rows' `outdoor_temperature` stands in.
    pub fn from_points(
        start: Timestamp,
        energy: Vec<Point>,
        heating: Vec<Point>,
        weather: Vec<Point>,
    ) -> HistoryData {
        let mut data = HistoryData::default();
        for p in energy {
            if let Some(kwh) = number(&p, "consumption") {
                let meter = p.tags.get("meter_id").cloned().unwrap_or_default();
                data.meters.entry(meter).or_default().push(HourlyEnergy {
                    start: from_nanos(p.time),
                    kwh,
                });
            }
        }
        for hours in data.meters.values_mut() {
            hours.sort_by_key(|h| h.start);
        }
        let mut outdoor = Vec::new();
        for p in by_time(heating) {
            let time = from_nanos(p.time);
            if let Some(t) = number(&p, "outdoor_temperature") {
                outdoor.push(observation(time, t));
            }
            if time >= start {
                data.heating.push(HeatingRow {
                    time,
                    indoor_c: number(&p, "room_temperature"),
                    hot_water_c: number(&p, "hot_water_temp"),
                });
                if !p.fields.contains_key("effective_temp") {
                    data.missing_effective_temp.push(time);
                }
            }
        }
        data.weather = weather_obs(by_time(weather), "temperature");
        if data.weather.is_empty() {
            data.weather = outdoor;
        }
        data
    }

    /// Calls `f` with the [`History`] view of these data.
    pub fn with_history<R>(&self, f: impl FnOnce(&History) -> R) -> R {
        let meters: Vec<&[HourlyEnergy]> = self.meters.values().map(Vec::as_slice).collect();
        f(&History {
            meters: &meters,
            heating: &self.heating,
            weather: &self.weather,
        })
    }
}

/// Weather observations or forecast steps, by time; `temp_field` is their temperature.
pub fn weather_obs(points: Vec<Point>, temp_field: &str) -> Vec<WeatherObs> {
    let mut out: Vec<WeatherObs> = Vec::new();
    for p in points {
        let Some(temp_c) = number(&p, temp_field).filter(|t| t.is_finite()) else {
            continue;
        };
        let obs = WeatherObs {
            time: from_nanos(p.time),
            temp_c,
            wind_ms: number(&p, "wind_speed"),
            humidity_pct: number(&p, "humidity"),
            cloud_octas: number(&p, "cloud_cover"),
        };
        // Two stations at one time (a station change): the later series wins.
        if out.last().is_some_and(|o| o.time == obs.time) {
            out.pop();
        }
        out.push(obs);
    }
    out
}

fn observation(time: Timestamp, temp_c: f64) -> WeatherObs {
    WeatherObs {
        time,
        temp_c,
        wind_ms: None,
        humidity_pct: None,
        cloud_octas: None,
    }
}
