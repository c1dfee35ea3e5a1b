//! `analytics:<id>`: the energy analytics of one house or building on its local wall clock.
//! Each due task reads the entity's history through the read path, runs the same functions as
//! `hemflux analytics run` and delivers its records with the new checkpoint in one batch, so a
//! task counts as run exactly when its results are durable: after a restart a slot that ran is
//! not rerun and a missed one runs once. Between slots it watches for a newer weather forecast,
//! which gets an energy forecast at once. It runs as a [`Source`] of the shared runtime: a poll
//! is "whatever is due now", the next delay the time to the next slot (at most 30 s), or after a
//! failed task the shared retry policy's backoff (reset by a success).

mod forecast;
mod refill;

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use hemflux_analytics::energy::analysis::{window_before, Entity, Settings};
use hemflux_analytics::energy::gaps::weather_refills;
use hemflux_analytics::energy::inputs::{self, HistoryData, HistoryQueries};
use hemflux_analytics::energy::run::{energy_pipeline, gap_fill, EnergyState};
use hemflux_analytics::energy::schedule::{next_slot, Due, Slot, Task};
use hemflux_shared::kinds::AnalyticsWorker;
use hemflux_shared::retry::{Backoff, RetryPolicy};
use hemflux_shared::time::to_nanos;
use hemflux_shared::Point;
use jiff::{SignedDuration, Timestamp, Unit};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::link::{Link, Worker};
use crate::runtime::{self, Reply, Source};
use refill::Refill;

/// The gap fill looks back this far.
const GAP_FILL_LOOKBACK: SignedDuration = SignedDuration::from_hours(72);
/// The worker wakes at least this often: to look for a newer weather forecast (one small
/// query), and so that a clock change never delays a slot for long.
const MAX_SLEEP: Duration = Duration::from_secs(30);
/// After a failed task (store unreachable, a bad input): 30 s, doubling to 15 minutes, with
/// jitter; a success starts afresh.
const RETRY: RetryPolicy = RetryPolicy {
    initial: Duration::from_secs(30),
    factor: 2,
    cap: Duration::from_secs(15 * 60),
    jitter: 0.1,
};
/// What a `sync` or command is told: the schedule is the only trigger.
const SCHEDULE_ONLY: &str =
    "the analytics run on their schedule; `hemflux analytics run` runs them now";

/// The worker's checkpoint: the analytics' learned state and the slots that ran, the weather
/// forecast the last energy forecast used, plus what `hemflux migrate` carried over from the
/// seed (kept as it came; the first fit replaces its k).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Checkpoint {
    #[serde(default)]
    energy: EnergyState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    forecast_issued: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    migrated: Option<Value>,
    /// Weather gaps (from, to) already reported as having no data at SMHI, so that a restart
    /// does not report them again; those that ended before the refill window are dropped.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    gaps_reported: BTreeSet<(Timestamp, Timestamp)>,
}

impl Checkpoint {
    fn from_init(state: Option<Value>, link: &Link) -> Checkpoint {
        match state {
            None => Checkpoint::default(),
            // `hemflux migrate`'s starting state: the seed's learned parameters.
            Some(v) if v.get("seed").is_some() => Checkpoint {
                migrated: Some(v),
                ..Checkpoint::default()
            },
            Some(v) => serde_json::from_value(v).unwrap_or_else(|e| {
                link.error(format!("saved state unreadable ({e}): starting afresh"));
                Checkpoint::default()
            }),
        }
    }
}

struct Analytics {
    link: Arc<Link>,
    entity: Entity,
    settings: Settings,
    slots: Vec<Slot>,
    state: Checkpoint,
    /// SMHI for weather gaps; `None` when weather is off.
    refill: Option<Refill>,
    /// Whether the first poll (which checks for a missing energy forecast) has been.
    started: bool,
    /// The delays after consecutive failed polls.
    backoff: Backoff,
}

pub async fn run(mut worker: Worker, config: AnalyticsWorker) -> Result<()> {
    let link = worker.link.clone();
    let analytics = Analytics {
        entity: inputs::entity(&config).map_err(anyhow::Error::msg)?,
        settings: inputs::settings(&config),
        slots: inputs::slots(&config),
        state: Checkpoint::from_init(worker.init.state.take(), &link),
        refill: config.weather.as_ref().map(Refill::new).transpose()?,
        started: false,
        backoff: RETRY.backoff(),
        link,
    };
    runtime::drive(worker, analytics).await
}

impl Source for Analytics {
    type Error = anyhow::Error;

    /// The due slots, then the energy forecast if a newer weather forecast is there. A task
    /// that fails leaves the state as it was: it is due again at the next poll, after a backoff.
    async fn poll(&mut self) -> Result<String> {
        let now = Timestamp::now();
        let mut said = Vec::new();
        for due in self.state.energy.schedule.due(&self.slots, &self.entity.tz, now) {
            let before = self.state.clone();
            match self.run_task(&due, now).await {
                Ok(status) => said.push(status),
                Err(e) => {
                    self.state = before;
                    return Err(e);
                }
            }
        }
        let before = self.state.clone();
        match self.forecast_if_new(now).await {
            Ok(Some(status)) => said.push(status),
            Ok(None) => {}
            Err(e) => {
                self.state = before;
                return Err(e.context("energy forecast"));
            }
        }
        Ok(said.join("; "))
    }

    fn next_delay(&mut self, outcome: &Result<String>) -> Duration {
        if outcome.is_err() {
            return self.backoff.next_delay();
        }
        self.backoff = RETRY.backoff();
        let now = Timestamp::now();
        next_slot(&self.slots, &self.entity.tz, now)
            .map(|t| t.duration_since(now).unsigned_abs())
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP)
    }

    fn report(&mut self, error: &anyhow::Error, next: Duration) -> Option<String> {
        let at = Timestamp::now()
            .checked_add(next)
            .and_then(|t| t.round(Unit::Second))
            .map_or_else(|_| "later".to_string(), |t| format!("at {t}"));
        tracing::warn!("{error:#}; next try in {} s", next.as_secs());
        Some(format!("{error:#}; next try in {} s ({at})", next.as_secs()))
    }

    async fn sync(&mut self, _id: u64, _from: Timestamp, _to: Timestamp) -> Result<Reply> {
        Err(anyhow!(SCHEDULE_ONLY))
    }

    async fn command(&mut self, _name: &str, _args: Value) -> Result<Reply> {
        Err(anyhow!(SCHEDULE_ONLY))
    }
}

impl Analytics {
    /// Runs one due task and delivers its records, a run record and the checkpoint together.
    async fn run_task(&mut self, due: &Due, now: Timestamp) -> Result<String> {
        let started = std::time::Instant::now();
        let mut points = self.gap_fill_task(now).await?;
        if due.task == Task::EnergyPipeline {
            points.extend(self.pipeline_task(now).await?);
        }
        let written = points.len();
        self.state.energy.schedule.mark_done(due);
        for (slot, at) in due.occurrences() {
            points.push(
                Point::new("analytics_run", to_nanos(now))
                    .tag(self.entity.tag, self.entity.id.as_str())
                    .tag("slot", slot.as_str())
                    .field("occurrence", to_nanos(*at))
                    .field("points", written as i64)
                    .field("duration_ms", started.elapsed().as_secs_f64() * 1e3),
            );
        }
        self.deliver(points).await?;
        Ok(format!(
            "{} ran at {now}: {written} points",
            slot_names(due.occurrences())
        ))
    }

    /// Sends points with the checkpoint.
    async fn deliver(&self, points: Vec<Point>) -> Result<()> {
        let checkpoint = serde_json::to_value(&self.state).context("encoding the checkpoint")?;
        self.link.send_points(points, Some(checkpoint)).await
    }

    /// Weather gaps of the last 72 hours refilled from SMHI (where weather is on), then
    /// `effective_temp` for the heating rows that lack it, with the refilled hours.
    async fn gap_fill_task(&mut self, now: Timestamp) -> Result<Vec<Point>> {
        let (entity, link) = (&self.entity, &self.link);
        let from = now - GAP_FILL_LOOKBACK;
        let q = inputs::range_queries(entity, from, now);
        let weather = link.query(q.weather).await?;
        let observed: HashSet<i64> = weather.iter().map(|p| p.time).collect();
        let mut times: Vec<Timestamp> = weather
            .iter()
            .map(|p| hemflux_shared::time::from_nanos(p.time))
            .collect();
        times.sort();
        let gaps = weather_refills(&times, from, now, entity.location);
        let refilled = match &self.refill {
            Some(refill) if !gaps.is_empty() => {
                refill.fetch(link, entity, &gaps, &observed, now).await
            }
            Some(_) => Some(Vec::new()),
            None => None,
        };
        // How many hours SMHI gave; `None`: weather is off, or asking failed.
        let fetched = refilled.as_ref().map(Vec::len);
        let mut points = refilled.unwrap_or_default();
        let data = HistoryData::from_points(
            q.start,
            Vec::new(),
            link.query(q.heating).await?,
            weather.into_iter().chain(points.iter().cloned()).collect(),
        );
        let (still_missing, effective) = gap_fill(
            entity,
            &data.weather,
            &data.missing_effective_temp,
            from,
            now,
        );
        points.extend(effective);
        match (&self.refill, fetched) {
            (Some(_), Some(hours)) => {
                if hours > 0 {
                    link.status(format!("weather gaps: {hours} hours refilled from SMHI"));
                }
                let reported = &mut self.state.gaps_reported;
                refill::report_empty(link, reported, &still_missing, from);
            }
            (None, _) if !gaps.is_empty() => {
                let hours: i64 = gaps
                    .iter()
                    .map(|r| r.to.duration_since(r.from).as_hours())
                    .sum();
                link.status(format!(
                    "weather gaps: {} ({hours} h) in the last 72 h, not refilled: weather is off",
                    gaps.len()
                ));
            }
            _ => {}
        }
        Ok(points)
    }

    /// The daily split (and the refit of k when due) over the calibration window, and the
    /// energy forecast with the k in use.
    async fn pipeline_task(&mut self, now: Timestamp) -> Result<Vec<Point>> {
        let (entity, link) = (&self.entity, &self.link);
        let (first, last) = window_before(now, &entity.tz, self.settings.calibration_days);
        let data = read(link, &inputs::history_queries(entity, first, last)).await?;
        let state = &mut self.state.energy;
        let run = data.with_history(|h| energy_pipeline(entity, h, state, &self.settings, now));
        let mut points = run.points;
        if let Some(cal) = &run.calibration {
            if let Err(why) = &cal.fit {
                link.error(format!("no fit of k: {why}"));
            }
        }
        if let Some(fit) = &state.fit {
            let issued =
                forecast::newer_weather_forecast(link, entity, self.state.forecast_issued, now)
                    .await?;
            let indoor = data.heating.iter().rev().find_map(|r| r.indoor_c);
            points.extend(forecast::energy_forecast_points(link, entity, fit, indoor, now).await?);
            self.state.forecast_issued = issued.or(self.state.forecast_issued);
        }
        Ok(points)
    }

    /// The energy forecast alone, with the k in use, when a newer weather forecast is stored
    /// than the last one used, or (at start) when none covers the coming hours.
    async fn forecast_if_new(&mut self, now: Timestamp) -> Result<Option<String>> {
        let first_poll = !std::mem::replace(&mut self.started, true);
        let (entity, link) = (&self.entity, &self.link);
        let Some(fit) = &self.state.energy.fit else {
            return Ok(None);
        };
        let issued =
            forecast::newer_weather_forecast(link, entity, self.state.forecast_issued, now).await?;
        let missing_at_start =
            issued.is_none() && first_poll && !forecast::stored_for(link, entity, now).await?;
        if issued.is_none() && !missing_at_start {
            return Ok(None);
        }
        let indoor = forecast::recent_indoor(link, entity, now).await?;
        let points = forecast::energy_forecast_points(link, entity, fit, indoor, now).await?;
        if points.is_empty() && issued.is_none() {
            return Ok(None);
        }
        let n = points.len();
        self.state.forecast_issued = issued.or(self.state.forecast_issued);
        self.deliver(points).await?;
        Ok(Some(match issued {
            Some(t) => format!("energy forecast: {n} hours, from the weather forecast of {t}"),
            None => format!("energy forecast: {n} hours"),
        }))
    }
}

fn slot_names(occurrences: &[(String, Timestamp)]) -> String {
    let names: Vec<&str> = occurrences.iter().map(|(s, _)| s.as_str()).collect();
    names.join(", ")
}

async fn read(link: &Link, q: &HistoryQueries) -> Result<HistoryData> {
    Ok(HistoryData::from_points(
        q.start,
        link.query(q.energy.clone()).await?,
        link.query(q.heating.clone()).await?,
        link.query(q.weather.clone()).await?,
    ))
}
