//! `analytics:<id>`: the energy analytics of one house or building on its local wall clock.
//! Each due task reads the entity's history through the read path, runs the same functions as
//! `hemflux analytics run` and delivers its records with the new checkpoint in one batch, so a
//! task counts as run exactly when its results are durable: after a restart a slot that ran is
//! not rerun and a missed one runs once.

use anyhow::{Context, Result};
use hemflux_analytics::energy::analysis::{window_before, Entity, Settings};
use hemflux_analytics::energy::forecast::{energy_forecast, ForecastInputs, DEFAULT_TIME_CONSTANT_H};
use hemflux_analytics::energy::inputs::{self, HistoryData, HistoryQueries};
use hemflux_analytics::energy::records;
use hemflux_analytics::energy::run::{energy_pipeline, gap_fill, EnergyState};
use hemflux_analytics::energy::schedule::{next_slot, Due, Task};
use hemflux_shared::kinds::AnalyticsWorker;
use hemflux_shared::time::to_nanos;
use hemflux_shared::Point;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::link::{Command, Link, Worker};

/// The forecast covers this many hours.
const FORECAST_HOURS: u32 = 72;
/// The gap fill looks back this far.
const GAP_FILL_LOOKBACK: SignedDuration = SignedDuration::from_hours(72);
/// The loop wakes at least this often, so a clock change never delays a slot for long.
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(60);

/// The worker's checkpoint: the analytics' learned state and the slots that ran, plus what
/// `hemflux migrate` carried over from the seed (kept as it came; the first fit replaces its k).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    #[serde(default)]
    energy: EnergyState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    migrated: Option<Value>,
}

impl Checkpoint {
    fn from_init(state: Option<Value>, link: &Link) -> Checkpoint {
        match state {
            None => Checkpoint::default(),
            // `hemflux migrate`'s starting state: the seed's learned parameters.
            Some(v) if v.get("seed").is_some() => Checkpoint {
                energy: EnergyState::default(),
                migrated: Some(v),
            },
            Some(v) => serde_json::from_value(v).unwrap_or_else(|e| {
                link.error(format!("saved state unreadable ({e}): starting afresh"));
                Checkpoint::default()
            }),
        }
    }
}

pub async fn run(mut worker: Worker, config: AnalyticsWorker) -> Result<()> {
    let entity = inputs::entity(&config).map_err(anyhow::Error::msg)?;
    let settings = inputs::settings(&config);
    let slots = inputs::slots(&config);
    let link = worker.link.clone();
    let mut state = Checkpoint::from_init(worker.init.state.take(), &link);
    loop {
        let now = Timestamp::now();
        for due in state.energy.schedule.due(&slots, &entity.tz, now) {
            run_task(&link, &entity, &settings, &mut state, &due, now).await?;
        }
        let wait = next_slot(&slots, &entity.tz, Timestamp::now())
            .map(|t| t.duration_since(Timestamp::now()).unsigned_abs())
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            cmd = worker.commands.recv() => match cmd {
                Some(cmd) => answer(&link, cmd),
                None => return Ok(()),
            },
        }
    }
}

/// The schedule is the only trigger; `sync` and commands are answered, not obeyed.
fn answer(link: &Link, cmd: Command) {
    let (Command::Sync { id, .. } | Command::Custom { id, .. }) = cmd;
    link.reply(
        id,
        false,
        "the analytics run on their schedule; `hemflux analytics run` runs them now",
    );
}

/// Runs one due task and delivers its records, a run record and the checkpoint together.
async fn run_task(
    link: &Link,
    entity: &Entity,
    settings: &Settings,
    state: &mut Checkpoint,
    due: &Due,
    now: Timestamp,
) -> Result<()> {
    let started = std::time::Instant::now();
    let mut points = match due.task {
        Task::GapFill => gap_fill_task(link, entity, now).await?,
        Task::EnergyPipeline => {
            let mut points = gap_fill_task(link, entity, now).await?;
            points.extend(pipeline_task(link, entity, settings, &mut state.energy, now).await?);
            points
        }
    };
    let written = points.len();
    state.energy.schedule.mark_done(due);
    for (slot, at) in due.occurrences() {
        points.push(
            Point::new("analytics_run", to_nanos(now))
                .tag(entity.tag, entity.id.as_str())
                .tag("slot", slot.as_str())
                .field("occurrence", to_nanos(*at))
                .field("points", written as i64)
                .field("duration_ms", started.elapsed().as_secs_f64() * 1e3),
        );
    }
    let checkpoint = serde_json::to_value(&*state).context("encoding the checkpoint")?;
    link.send_points(points, Some(checkpoint)).await?;
    link.status(format!(
        "{} ran at {now}: {written} points",
        slot_names(due.occurrences())
    ));
    Ok(())
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

/// `effective_temp` for the heating rows of the last 72 hours that lack it; weather gaps are
/// reported (fetching them is the weather worker's).
async fn gap_fill_task(link: &Link, entity: &Entity, now: Timestamp) -> Result<Vec<Point>> {
    let from = now - GAP_FILL_LOOKBACK;
    let data = read(link, &inputs::range_queries(entity, from, now)).await?;
    let (refills, points) = gap_fill(
        entity,
        &data.weather,
        &data.missing_effective_temp,
        from,
        now,
    );
    if !refills.is_empty() {
        let hours: i64 = refills
            .iter()
            .map(|r| r.to.duration_since(r.from).as_hours())
            .sum();
        link.status(format!(
            "weather gaps: {} ({hours} h) in the last 72 h",
            refills.len()
        ));
    }
    Ok(points)
}

/// The daily split (and the refit of k when due) over the calibration window, and the energy
/// forecast with the k in use.
async fn pipeline_task(
    link: &Link,
    entity: &Entity,
    settings: &Settings,
    state: &mut EnergyState,
    now: Timestamp,
) -> Result<Vec<Point>> {
    let (first, last) = window_before(now, &entity.tz, settings.calibration_days);
    let data = read(link, &inputs::history_queries(entity, first, last)).await?;
    let run = data.with_history(|h| energy_pipeline(entity, h, state, settings, now));
    let mut points = run.points;
    if let Some(cal) = &run.calibration {
        if let Err(why) = &cal.fit {
            link.error(format!("no fit of k: {why}"));
        }
    }
    if let Some(fit) = &state.fit {
        let forecast = inputs::weather_obs(
            link.query(inputs::forecast_query(entity, now, FORECAST_HOURS))
                .await?,
            "temperature",
        );
        let indoor_now_c = data
            .heating
            .iter()
            .rev()
            .find_map(|r| r.indoor_c)
            .unwrap_or(entity.assumed_indoor_c);
        let hours = energy_forecast(
            fit,
            &forecast,
            entity.location,
            &entity.coefficients,
            &ForecastInputs {
                now,
                hours: FORECAST_HOURS,
                indoor_now_c,
                target_indoor_c: entity.assumed_indoor_c,
                time_constant_h: DEFAULT_TIME_CONSTANT_H,
            },
        );
        points.extend(records::energy_forecast(entity, &hours));
    }
    Ok(points)
}
