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
    is_retryable, nearest_active, observation_point, station_rows, ObservedAt, StationRows,
    TEMPERATURE,
};

/// SMHI's `latest-day` reaches about 25 hours back; older gaps need `latest-months`.
const LATEST_DAY_REACH: SignedDuration = SignedDuration::from_hours(23);

pub struct Refill {
    client: SmhiClient,
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
        Ok(missing_rows(&rows, gaps, observed)
            .map(|(time, fields)| observation_point(&at, time, fields, true))
            .collect())
    }
}

/// Says once per gap that SMHI had nothing for it: a gap within one in `reported` was said
/// (the same gap, or what is left of it as the window moves on). `reported` keeps what was said
/// and ends after `since` (the refill window's start), so it stays small.
pub fn report_empty(
    link: &Link,
    reported: &mut BTreeSet<(Timestamp, Timestamp)>,
    still_missing: &[WeatherRefill],
    since: Timestamp,
) {
    reported.retain(|(_, to)| *to > since);
    for g in still_missing {
        let within = |(from, to): &(Timestamp, Timestamp)| *from <= g.from && g.to <= *to;
        if reported.iter().any(within) {
            continue;
        }
        link.status(format!(
            "weather gap {} to {}: SMHI has no observations for it at the nearest station",
            g.from, g.to
        ));
        reported.retain(|(from, to)| !(g.from <= *from && *to <= g.to));
        reported.insert((g.from, g.to));
    }
}

/// The station's rows strictly inside a gap (its ends are stored hours or the window's ends)
/// whose hour is not stored (`observed`, ns) already.
fn missing_rows<'a>(
    rows: &'a StationRows,
    gaps: &'a [WeatherRefill],
    observed: &'a HashSet<i64>,
) -> impl Iterator<Item = (Timestamp, &'a [(&'static str, f64)])> + 'a {
    gaps.iter()
        .flat_map(move |g| rows.range(g.from.as_millisecond() + 1..g.to.as_millisecond()))
        .filter_map(|(date, fields)| Some((Timestamp::from_millisecond(*date).ok()?, fields)))
        .filter(|(time, _)| !observed.contains(&to_nanos(*time)))
        .map(|(time, fields)| (time, fields.as_slice()))
}

#[cfg(test)]
mod tests {
    use hemflux_shared::config::Location;

    use super::*;

    #[test]
    fn only_the_hours_inside_a_gap_that_are_not_stored_are_written() {
        let hour = |h: i64| Timestamp::from_second(1_768_471_200 + h * 3600).unwrap();
        let rows: StationRows = (0..12)
            .map(|h| (hour(h).as_millisecond(), vec![("temperature", h as f64)]))
            .collect();
        let at = Location {
            lat: 59.3,
            lon: 18.0,
        };
        let gaps = [
            WeatherRefill {
                from: hour(1),
                to: hour(5),
                at,
            },
            WeatherRefill {
                from: hour(8),
                to: hour(11),
                at,
            },
        ];
        // Hour 3 was stored meanwhile (by the weather worker, or an earlier refill).
        let observed: HashSet<i64> = [1, 3, 5, 8, 11].map(|h| to_nanos(hour(h))).into();
        let got: Vec<Timestamp> = missing_rows(&rows, &gaps, &observed)
            .map(|(t, _)| t)
            .collect();
        assert_eq!(got, [2, 4, 9, 10].map(hour));
    }
}
