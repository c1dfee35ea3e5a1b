//! The energy forecast (heating.md §9) with the k in use: with every pipeline run, and as soon
//! as the weather worker has stored a newer weather forecast than the last one used, so that a
//! fresh install shows one without waiting hours for the next pipeline slot.

use anyhow::Result;
use hemflux_analytics::energy::analysis::Entity;
use hemflux_analytics::energy::forecast::{energy_forecast, ForecastInputs, DEFAULT_TIME_CONSTANT_H};
use hemflux_analytics::energy::inputs::{self, heating_measurement};
use hemflux_analytics::energy::records;
use hemflux_analytics::energy::regression::DailyFit;
use hemflux_shared::read::ReadQuery;
use hemflux_shared::time::{from_nanos, to_nanos};
use hemflux_shared::Point;
use jiff::{SignedDuration, Timestamp};

use crate::link::Link;

/// The forecast covers this many hours.
pub const FORECAST_HOURS: u32 = 72;
/// The indoor temperature the forecast starts from is the newest of this long.
const INDOOR_RECENT: SignedDuration = SignedDuration::from_hours(2);

fn horizon() -> SignedDuration {
    SignedDuration::from_hours(i64::from(FORECAST_HOURS))
}

/// The issue time of the newest `weather_forecast` of the entity stored after `after` (and
/// within the forecast horizon before `now`), or `None`. Reads a handful of points at most:
/// the weather worker stores one summary per fetch.
pub async fn newer_weather_forecast(
    link: &Link,
    entity: &Entity,
    after: Option<Timestamp>,
    now: Timestamp,
) -> Result<Option<Timestamp>> {
    let oldest_useful = now - horizon();
    let from = after.map_or(oldest_useful, |t| {
        (t + SignedDuration::from_nanos(1)).max(oldest_useful)
    });
    let q = ReadQuery::new("weather_forecast")
        .tag(entity.tag, entity.id.as_str())
        .fields(["current_temp"])
        .between(Some(to_nanos(from)), None);
    let points = link.query(q).await?;
    Ok(points.iter().map(|p| p.time).max().map(from_nanos))
}

/// Whether an energy forecast for the coming hours is stored already.
pub async fn stored_for(link: &Link, entity: &Entity, now: Timestamp) -> Result<bool> {
    let mut q = ReadQuery::new("energy_forecast")
        .tag(entity.tag, entity.id.as_str())
        .between(
            Some(to_nanos(now)),
            Some(to_nanos(now + SignedDuration::from_hours(2))),
        );
    q.limit = Some(1);
    Ok(!link.query_page(&q).await?.0.is_empty())
}

/// The newest indoor temperature of the last two hours, if any.
pub async fn recent_indoor(link: &Link, entity: &Entity, now: Timestamp) -> Result<Option<f64>> {
    let q = ReadQuery::new(heating_measurement(entity))
        .tag(entity.tag, entity.id.as_str())
        .fields(["room_temperature"])
        .between(
            Some(to_nanos(now - INDOOR_RECENT)),
            Some(to_nanos(now) + 1),
        );
    let mut points = link.query(q).await?;
    points.sort_by_key(|p| p.time);
    Ok(points
        .iter()
        .rev()
        .find_map(|p| p.fields.get("room_temperature")?.as_f64()))
}

/// The `energy_forecast` points for the next hours from the stored hourly weather forecast
/// (none without one), starting from `indoor_now_c` (else the entity's assumed indoor).
pub async fn energy_forecast_points(
    link: &Link,
    entity: &Entity,
    fit: &DailyFit,
    indoor_now_c: Option<f64>,
    now: Timestamp,
) -> Result<Vec<Point>> {
    let forecast = inputs::weather_obs(
        link.query(inputs::forecast_query(entity, now, FORECAST_HOURS))
            .await?,
        "temperature",
    );
    let hours = energy_forecast(
        fit,
        &forecast,
        entity.location,
        &entity.coefficients,
        &ForecastInputs {
            now,
            hours: FORECAST_HOURS,
            indoor_now_c: indoor_now_c.unwrap_or(entity.assumed_indoor_c),
            target_indoor_c: entity.assumed_indoor_c,
            time_constant_h: DEFAULT_TIME_CONSTANT_H,
        },
    );
    Ok(records::energy_forecast(entity, &hours))
}
