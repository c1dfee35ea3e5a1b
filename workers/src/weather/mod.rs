//! The `weather` worker: SMHI observations and forecasts for every house and building with a
//! location, in one process so that positions share requests: observations are fetched once
//! per nearest station, forecasts once per grid cell, whatever the number of houses.
//!
//! Writes `weather_observation` (time = SMHI's observation time), `weather_forecast` (a summary
//! per fetch, at fetch time) and `weather_forecast_hourly` (time = the forecast's valid time),
//! each tagged `house_id` or `building_id`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use hemflux_shared::config::{WeatherPosition, WeatherSettings};
use hemflux_shared::kinds::WeatherWorker;
use hemflux_shared::time::to_nanos;
use hemflux_shared::Point;
use jiff::Timestamp;
use serde_json::json;
use tokio::time::Instant;

use crate::link::{Link, Worker};
use crate::runtime::{self, Reply, Source};
use hemflux_clients::smhi::{SmhiClient, Station, Step};
use observations::{
    nearest_active, observation_point, round2, station_rows, ObservedAt, TEMPERATURE,
};

pub mod observations;

struct Weather {
    client: SmhiClient,
    settings: WeatherSettings,
    positions: Vec<WeatherPosition>,
    /// The station list for air temperature and when it was fetched.
    stations: Option<(Instant, Vec<Station>)>,
    /// Per position (`tag/id`): the newest observation stored, epoch ms.
    last_observation: BTreeMap<String, i64>,
    /// Forecast cells whose last request failed.
    failed_cells: HashSet<(i64, i64)>,
    link: Arc<Link>,
    next_obs: Instant,
    next_fcst: Instant,
    /// When the next forecast round for every cell is due.
    next_full_fcst: Instant,
}

pub async fn run(worker: Worker, config: WeatherWorker) -> Result<()> {
    let WeatherWorker {
        settings,
        positions,
    } = config;
    let last_observation = worker
        .init
        .state
        .as_ref()
        .and_then(|s| serde_json::from_value(s["last_observation"].clone()).ok())
        .unwrap_or_default();
    let start = Instant::now() + Duration::from_millis(worker.init.poll_offset_ms);
    let w = Weather {
        link: worker.link.clone(),
        next_obs: start,
        next_fcst: start,
        next_full_fcst: start,
        client: SmhiClient::new(
            &settings.observations_url,
            &settings.forecast_url,
            Duration::from_secs(settings.timeout_secs),
        )?,
        settings,
        positions,
        stations: None,
        last_observation,
        failed_cells: HashSet::new(),
    };
    runtime::drive(worker, w).await
}

impl Source for Weather {
    type Error = std::convert::Infallible;

    /// Observations and forecasts, whichever are due; what fails is logged and tried again.
    async fn poll(&mut self) -> Result<String, Self::Error> {
        let now = Instant::now();
        let settings = &self.settings;
        let obs_every = Duration::from_secs(settings.observation_interval_secs);
        let fcst_every = Duration::from_secs(settings.forecast_interval_secs);
        if settings.observations && self.next_obs <= now {
            self.next_obs = now + obs_every;
            let before = self.last_observation.clone();
            let points = self.observe().await;
            let state = json!({ "last_observation": self.last_observation });
            if !send(&self.link, points, Some(state)).await {
                // Not stored: send these rows again next round.
                self.last_observation = before;
            }
        }
        if self.settings.forecasts && self.next_fcst <= now {
            // A full round on schedule; cells that failed are tried again sooner.
            let full = now >= self.next_full_fcst;
            if full {
                self.next_full_fcst = now + fcst_every;
            }
            let points = self.forecast(full).await;
            send(&self.link, points, None).await;
            self.next_fcst = if self.failed_cells.is_empty() {
                self.next_full_fcst
            } else {
                (now + obs_every.min(fcst_every)).min(self.next_full_fcst)
            };
        }
        Ok(String::new())
    }

    fn next_delay(&mut self, _outcome: &Result<String, Self::Error>) -> Duration {
        let due = match (self.settings.observations, self.settings.forecasts) {
            (true, true) => self.next_obs.min(self.next_fcst),
            (true, false) => self.next_obs,
            _ => self.next_fcst,
        };
        due.saturating_duration_since(Instant::now())
    }

    async fn sync(&mut self, _id: u64, _from: Timestamp, _to: Timestamp) -> Result<Reply> {
        bail!("the weather worker takes no commands")
    }

    async fn command(&mut self, _name: &str, _args: serde_json::Value) -> Result<Reply> {
        bail!("the weather worker takes no commands")
    }
}

/// Points per batch: hundreds of houses times 72 forecast hours would make one huge line.
const BATCH: usize = 2000;

/// Sends points in batches; the state rides with the last one, so it moves only when all of
/// them are durable. A refused batch is reported, not fatal (exiting would only repeat it);
/// returns whether everything was stored.
async fn send(link: &Link, mut points: Vec<Point>, state: Option<serde_json::Value>) -> bool {
    let mut result = Ok(());
    while result.is_ok() && points.len() > BATCH {
        let rest = points.split_off(BATCH);
        result = link
            .send_points(std::mem::replace(&mut points, rest), None)
            .await;
    }
    if result.is_ok() && !points.is_empty() {
        result = link.send_points(points, state).await;
    }
    if let Err(e) = &result {
        tracing::error!("weather points not stored: {e:#}");
        link.error(format!("weather points not stored: {e:#}"));
    }
    result.is_ok()
}

fn key(p: &WeatherPosition) -> String {
    format!("{}/{}", p.tag, p.id)
}

impl Weather {
    /// The temperature stations, from the cache while it is fresh; a failed refresh keeps the
    /// old list.
    async fn stations(&mut self) -> Result<&[Station]> {
        let max_age = Duration::from_secs(self.settings.station_cache_hours * 3600);
        let fresh = self
            .stations
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < max_age);
        if !fresh {
            match self.client.stations(TEMPERATURE).await {
                Ok(list) => self.stations = Some((Instant::now(), list)),
                Err(e) if self.stations.is_some() => {
                    tracing::warn!("refreshing the station list failed, keeping the old one: {e:#}")
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(&self.stations.as_ref().expect("set above").1)
    }

    /// New observations for every position, one set of requests per nearest active station.
    async fn observe(&mut self) -> Vec<Point> {
        let stations = match self.stations().await {
            Ok(s) => s.to_vec(),
            Err(e) => {
                tracing::warn!("weather observations skipped: {e:#}");
                return Vec::new();
            }
        };
        let mut by_station: BTreeMap<u64, (Station, Vec<(WeatherPosition, f64)>)> = BTreeMap::new();
        for p in &self.positions {
            if let Some((s, km)) = nearest_active(&stations, p.lat, p.lon) {
                by_station
                    .entry(s.id)
                    .or_insert_with(|| (s.clone(), Vec::new()))
                    .1
                    .push((p.clone(), km));
            }
        }
        let mut points = Vec::new();
        for (station, positions) in by_station.into_values() {
            // A position that has been without observations for more than a day (an outage, a
            // long stop) catches up from the last four months instead of the last day.
            let day_ago = Timestamp::now().as_millisecond() - 24 * 3_600_000;
            let behind = positions.iter().any(|(p, _)| {
                self.last_observation
                    .get(&key(p))
                    .is_some_and(|last| *last < day_ago)
            });
            let period = if behind {
                "latest-months"
            } else {
                "latest-day"
            };
            // A failure fails the whole station: it waits for the next round rather than
            // store rows without a field for good (rows are sent once).
            let rows = match station_rows(&self.client, &station, period).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(station = %station.name, "observations failed: {e:#}");
                    continue;
                }
            };
            for (p, km) in positions {
                let last = self
                    .last_observation
                    .get(&key(&p))
                    .copied()
                    .unwrap_or(i64::MIN);
                for (date, fields) in rows.range(last + 1..) {
                    let Some(time) = Timestamp::from_millisecond(*date).ok() else {
                        continue;
                    };
                    let at = ObservedAt {
                        tag: &p.tag,
                        id: &p.id,
                        station: &station,
                        distance_km: km,
                    };
                    // Hours a catch-up fills in after an outage are gap-filled hours.
                    let gap_fill = last != i64::MIN && *date < day_ago;
                    points.push(observation_point(&at, time, fields, gap_fill));
                }
                if let Some((newest, _)) = rows.last_key_value() {
                    self.last_observation.insert(key(&p), *newest);
                }
            }
        }
        points
    }

    /// A forecast for every position (`full`) or for those whose cell failed last time, one
    /// request per grid cell.
    async fn forecast(&mut self, full: bool) -> Vec<Point> {
        let grid = self.settings.forecast_grid_deg;
        let mut cells: HashMap<(i64, i64), Vec<&WeatherPosition>> = HashMap::new();
        for p in &self.positions {
            let cell = ((p.lat / grid).round() as i64, (p.lon / grid).round() as i64);
            if full || self.failed_cells.contains(&cell) {
                cells.entry(cell).or_default().push(p);
            }
        }
        let now = Timestamp::now();
        let horizon = now + jiff::SignedDuration::from_hours(self.settings.forecast_hours.into());
        let mut points = Vec::new();
        for ((lat, lon), positions) in cells {
            let steps = match self
                .client
                .forecast(lat as f64 * grid, lon as f64 * grid)
                .await
            {
                Ok(s) => {
                    self.failed_cells.remove(&(lat, lon));
                    s
                }
                Err(e) => {
                    tracing::warn!("forecast failed, trying again soon: {e:#}");
                    self.failed_cells.insert((lat, lon));
                    continue;
                }
            };
            let ahead: Vec<&Step> = steps
                .iter()
                .filter(|s| s.time > now && s.time <= horizon)
                .collect();
            for p in positions {
                points.extend(summary(p, now, &ahead, self.settings.forecast_hours));
                points.extend(ahead.iter().map(|s| hourly(p, now, s)));
            }
        }
        points
    }
}

/// `weather_forecast`: the forecast summarised as our users' dashboards know it.
fn summary(p: &WeatherPosition, now: Timestamp, steps: &[&Step], hours: u32) -> Option<Point> {
    let temps: Vec<f64> = steps
        .iter()
        .filter_map(|s| s.data.get("air_temperature").copied())
        .collect();
    let clouds: Vec<f64> = steps
        .iter()
        .filter_map(|s| s.data.get("cloud_area_fraction").copied())
        .collect();
    let (first, last) = (*temps.first()?, *temps.last()?);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let change = last - first;
    let trend = if change > 1.0 {
        "rising"
    } else if change < -1.0 {
        "falling"
    } else {
        "stable"
    };
    let cloud = mean(&clouds);
    let condition = match cloud {
        c if c < 2.0 => "clear",
        c if c < 5.0 => "partly cloudy",
        c if c < 7.0 => "cloudy",
        _ => "overcast",
    };
    let at = Timestamp::from_second(now.as_second()).ok()?;
    Some(
        Point::new("weather_forecast", to_nanos(at))
            .tag(p.tag.as_str(), p.id.as_str())
            .tag("trend", trend)
            .tag("cloud_condition", condition)
            .field("current_temp", round2(first))
            .field("avg_temp", round2(mean(&temps)))
            .field(
                "max_temp",
                round2(temps.iter().copied().fold(f64::MIN, f64::max)),
            )
            .field(
                "min_temp",
                round2(temps.iter().copied().fold(f64::MAX, f64::min)),
            )
            .field("temp_change", round2(change))
            .field("forecast_hours", i64::from(hours)) // an integer, as the seed wrote it
            .field("avg_cloud_cover", round2(cloud)),
    )
}

/// `weather_forecast_hourly`: one step; precipitation per hour of its interval (as pmp3g had it).
fn hourly(p: &WeatherPosition, now: Timestamp, s: &Step) -> Point {
    let lead = (s.time.as_second() - now.as_second()) as f64 / 3600.0;
    let mut point = Point::new("weather_forecast_hourly", to_nanos(s.time))
        .tag(p.tag.as_str(), p.id.as_str())
        .field("lead_time_hours", (lead * 10.0).round() / 10.0);
    let interval_h = ((s.time.as_second() - s.start.as_second()) as f64 / 3600.0).max(1.0);
    for (key, field) in [
        ("air_temperature", "temperature"),
        ("cloud_area_fraction", "cloud_cover"),
        ("wind_speed", "wind_speed"),
        ("wind_speed_of_gust", "wind_gust"),
        ("wind_from_direction", "wind_direction"),
        ("relative_humidity", "humidity"),
        ("precipitation_amount_mean", "precipitation"),
        ("visibility_in_air", "visibility"),
    ] {
        if let Some(v) = s.data.get(key) {
            let v = if field == "precipitation" {
                v / interval_h
            } else {
                *v
            };
            point = point.field(field, round2(v));
        }
    }
    point
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        let t = |h: i64| Timestamp::from_second(1_768_471_200 + h * 3600).unwrap();
        let step = |h: i64, temp: f64, precip: f64| Step {
            time: t(h),
            start: t(h - 6),
            data: [
                ("air_temperature".to_string(), temp),
                ("cloud_area_fraction".to_string(), 8.0),
                ("precipitation_amount_mean".to_string(), precip),
            ]
            .into(),
        };
        let (a, b) = (step(1, -2.0, 0.0), step(7, 1.5, 3.0));
        let p = WeatherPosition {
            tag: "house_id".into(),
            id: "v".into(),
            lat: 56.0,
            lon: 12.0,
        };
        let s = summary(&p, t(0), &[&a, &b], 72).unwrap();
        assert_eq!(s.tags["trend"], "rising");
        assert_eq!(s.tags["cloud_condition"], "overcast");
        let h = hourly(&p, t(0), &b);
        assert_eq!(
            h.fields["precipitation"],
            hemflux_shared::FieldValue::Float(0.5)
        );
        assert_eq!(
            h.fields["lead_time_hours"],
            hemflux_shared::FieldValue::Float(7.0)
        );
    }
}
