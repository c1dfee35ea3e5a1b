//! The weather-gap refill (heating.md §8, item 7 of issue 14): hours missing from the entity's
//! `weather_observation` are fetched from the observation history of the SMHI station nearest
//! to the entity's own position and written as the weather worker's catch-up writes them
//! (`source=gap_fill`), so that the gap fill can then give those hours' heating rows an
//! `effective_temp`. A failure is reported and the gaps are tried again at the next slot.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use anyhow::{Context, Result};
use hemflux_analytics::energy::analysis::Entity;
use hemflux_analytics::energy::gaps::WeatherRefill;
use hemflux_clients::smhi::SmhiClient;
use hemflux_shared::config::WeatherSettings;
use hemflux_shared::time::to_nanos;
use hemflux_shared::Point;
use jiff::{SignedDuration, Timestamp};

use crate::link::Link;
use crate::weather::observations::{
    is_retryable, nearest_active, observation_point, station_rows, ObservedAt, TEMPERATURE,
};

/// SMHI's `latest-day` reaches about 25 hours back; older gaps need `latest-months`.
const LATEST_DAY_REACH: SignedDuration = SignedDuration::from_hours(23);

pub struct Refill {
    client: SmhiClient,
    /// Gaps already reported as having no data at SMHI (said once, while they last).
    reported_empty: BTreeSet<(Timestamp, Timestamp)>,
}

impl Refill {
    pub fn new(settings: &WeatherSettings) -> Result<Refill> {
        Ok(Refill {
            client: SmhiClient::new(
                &settings.observations_url,
                &settings.forecast_url,
                Duration::from_secs(settings.timeout_secs),
            )
            .context("the SMHI client for the weather-gap refill")?,
            reported_empty: BTreeSet::new(),
        })
    }

    /// The weather rows SMHI has for the hours of `gaps` not in `observed` (ns); `None` when
    /// asking failed, which is reported on the link (an outage as status, anything else as an
    /// error: both are tried again at the next slot, as the gaps are still there).
    pub async fn fetch(
        &self,
        link: &Link,
        entity: &Entity,
        gaps: &[WeatherRefill],
        observed: &HashSet<i64>,
        now: Timestamp,
    ) -> Option<Vec<Point>> {
        match self.try_fetch(entity, gaps, observed, now).await {
            Ok(points) => Some(points),
            Err(e) if is_retryable(&e) => {
                link.status(format!(
                    "weather gaps not refilled, SMHI unavailable (tried again at the next slot): {e:#}"
                ));
                None
            }
            Err(e) => {
                link.error(format!(
                    "weather gaps not refilled (tried again at the next slot): {e:#}"
                ));
                None
            }
        }
    }

    async fn try_fetch(
        &self,
        entity: &Entity,
        gaps: &[WeatherRefill],
        observed: &HashSet<i64>,
        now: Timestamp,
    ) -> Result<Vec<Point>> {
        let Some(oldest) = gaps.iter().map(|g| g.from).min() else {
            return Ok(Vec::new());
        };
        let at = gaps[0].at;
        let stations = self.client.stations(TEMPERATURE).await?;
        let Some((station, distance_km)) = nearest_active(&stations, at.lat, at.lon) else {
            anyhow::bail!("SMHI lists no active temperature station");
        };
        let period = if oldest >= now - LATEST_DAY_REACH {
            "latest-day"
        } else {
            "latest-months"
        };
        let rows = station_rows(&self.client, station, period)
            .await
            .with_context(|| format!("station {} ({})", station.name, station.id))?;
        let at = ObservedAt {
            tag: entity.tag,
            id: &entity.id,
            station,
            distance_km,
        };
        let mut points = Vec::new();
        for gap in gaps {
            let range = gap.from.as_millisecond() + 1..gap.to.as_millisecond();
            for (date, fields) in rows.range(range) {
                let time = Timestamp::from_millisecond(*date)?;
                if !observed.contains(&to_nanos(time)) {
                    points.push(observation_point(&at, time, fields, true));
                }
            }
        }
        Ok(points)
    }

    /// Says once, per gap, that SMHI had nothing for it; forgets the gaps that are gone.
    pub fn report_empty(&mut self, link: &Link, still_missing: &[WeatherRefill]) {
        let now: BTreeSet<(Timestamp, Timestamp)> =
            still_missing.iter().map(|g| (g.from, g.to)).collect();
        for (from, to) in now.difference(&self.reported_empty) {
            link.status(format!(
                "weather gap {from} to {to}: SMHI has no observations for it at the nearest station"
            ));
        }
        self.reported_empty = now;
    }
}
