//! The `building` worker: polls a building's configured Arrigo signals into `building_system`
//! points (tag `building_id`, one field per signal) stamped with the server's own time, and
//! imports history on a `sync` command (see `crate::arrigo_history`).
//!
//! Tokens are not persisted: the worker holds the password, so a restart costs one login, and
//! no live token ever sits in the store or in `hemflux status`.

pub use hemflux_clients::arrigo as client;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hemflux_shared::kinds::BuildingWorker;
use hemflux_shared::time::to_nanos;
use hemflux_shared::Point;
use tokio::task::JoinHandle;
use jiff::Timestamp;
use tokio::time::Instant;

use crate::arrigo_history::{self as backfill, backoff, round4};
use crate::link::{Link, Worker};
use crate::runtime::{self, Reply, Source};
use client::Arrigo;

pub const MEASUREMENT: &str = "building_system";
const ALARMS_MEASUREMENT: &str = "building_alarms";
const ALARM_FIELDS: [(&str, &str); 4] = [
    ("ALARMED", "count_alarmed"),
    ("RETURNED", "count_returned"),
    ("ACKNOWLEDGED", "count_acknowledged"),
    ("BLOCKED", "count_blocked"),
];

/// What polling and backfill use: the building's signals, as `building_system` rows.
type Config = backfill::Source;

fn source(c: BuildingWorker) -> Config {
    backfill::Source {
        arrigo: c.arrigo,
        signals: c.signals,
        measurement: MEASUREMENT,
        tag: ("building_id", c.building_id),
        save_progress: true,
    }
}

/// Username and password from `init.secrets`.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    fn client(&self, cfg: &Config) -> Result<Arrigo> {
        cfg.client(&self.username, &self.password)
    }
}

struct Building {
    cfg: Config,
    creds: Credentials,
    client: Arrigo,
    link: Arc<Link>,
    interval: Duration,
    /// When the next poll is due: polls that succeed keep to the interval.
    slot: Instant,
    failures: u32,
    /// The backfill job saved in state, or left by the last one that ran.
    saved_job: Option<backfill::Job>,
    running: Option<JoinHandle<Option<backfill::Job>>>,
}

pub async fn run(worker: Worker, config: BuildingWorker) -> Result<()> {
    let cfg = source(config);
    let creds = Credentials {
        username: worker.init.secret("username")?.to_string(),
        password: worker.init.secret("password")?.to_string(),
    };
    let link = worker.link.clone();
    if cfg.fetched().next().is_none() {
        link.status("no signals with fetch: true: nothing to poll");
    }
    let building = Building {
        client: creds.client(&cfg)?,
        saved_job: backfill::Job::from_state(worker.init.state.as_ref()),
        interval: Duration::from_secs(cfg.arrigo.poll_interval_secs),
        slot: Instant::now() + Duration::from_millis(worker.init.poll_offset_ms),
        failures: 0,
        running: None,
        cfg,
        creds,
        link,
    };
    runtime::drive(worker, building).await
}

impl Source for Building {
    type Error = anyhow::Error;

    async fn poll(&mut self) -> Result<String> {
        poll(&mut self.client, &self.cfg, &self.link).await?;
        Ok(String::new())
    }

    fn next_delay(&mut self, outcome: &Result<String>) -> Duration {
        let now = Instant::now();
        if outcome.is_ok() {
            self.failures = 0;
            self.slot += self.interval;
            if self.slot < now {
                self.slot = now + self.interval;
            }
        } else {
            self.failures += 1;
            self.slot = now + backoff(self.failures, self.interval);
        }
        self.slot - now
    }

    fn report(&mut self, error: &anyhow::Error, next: Duration) -> Option<String> {
        let n = self.failures;
        tracing::warn!("poll failed ({n} in a row), retrying in {next:?}: {error:#}");
        Some(format!("poll failed: {error:#}"))
    }

    /// History import in the background: the reply comes when it is done.
    async fn sync(&mut self, id: u64, from: Timestamp, to: Timestamp) -> Result<Reply> {
        if let Some(h) = self.running.take_if(|h| h.is_finished()) {
            self.saved_job = h.await.unwrap_or(self.saved_job.take());
        }
        if self.running.is_some() {
            bail!("a backfill is already running");
        }
        let job = backfill::Job::start(from, to, self.saved_job.as_ref());
        let (link, cfg) = (self.link.clone(), self.cfg.clone());
        let client = self.creds.client(&cfg)?;
        self.running = Some(tokio::spawn(backfill::run(link, client, cfg, id, job)));
        Ok(Reply::Later)
    }

    async fn command(&mut self, name: &str, _args: serde_json::Value) -> Result<Reply> {
        if name != "discover" {
            bail!("the building worker has no command {name:?}; it knows sync and discover");
        }
        let reading = self.client.analogs().await.context("discovery failed")?;
        Ok(Reply::Now(discovered(&reading.analogs).to_string()))
    }
}

/// The signals the server lists, as JSON for the `discover` command's reply.
fn discovered(analogs: &[client::Analog]) -> serde_json::Value {
    analogs
        .iter()
        .map(|a| serde_json::json!({"signal_id": a.id, "name": a.name, "unit": a.unit, "value": a.value}))
        .collect()
}

/// Reads the current values and sends one `building_system` point with a field per fetched
/// signal, and one `building_alarms` point with the alarm counts, both at the server's time.
async fn poll(client: &mut Arrigo, cfg: &Config, link: &Link) -> Result<()> {
    let reading = client.analogs().await?;
    let time = to_nanos(reading.time);
    let mut point = cfg.point(time);
    let mut missing = Vec::new();
    for signal in cfg.fetched() {
        match reading.analogs.iter().find(|a| a.id == signal.signal_id) {
            Some(a) => {
                if let Some(v) = a.value.filter(|v| v.is_finite()) {
                    point = point.field(signal.field.as_str(), round4(v));
                }
            }
            None => missing.push(signal.field.as_str()),
        }
    }
    if !missing.is_empty() {
        tracing::warn!(?missing, "configured signals the server does not list");
    }
    let mut points = Vec::new();
    if point.fields.is_empty() {
        link.status("poll: no values (all null or missing)");
    } else {
        points.push(point);
    }
    // Alarms are extra: a server that cannot list them still has its values stored.
    match client.alarm_counts().await {
        Ok(counts) => points.push(alarm_point(&cfg.tag.1, time, &counts)),
        Err(e) => tracing::warn!("reading the alarms failed: {e:#}"),
    }
    if !points.is_empty() {
        link.send_points(points, None).await?;
    }
    Ok(())
}

/// `building_alarms`: `total_count` and `count_<status>`, the four known statuses always present.
fn alarm_point(building_id: &str, time: i64, counts: &BTreeMap<String, u64>) -> Point {
    let total: u64 = counts.values().sum();
    let mut point = Point::new(ALARMS_MEASUREMENT, time)
        .tag("building_id", building_id)
        .field("total_count", total as i64);
    for (status, field) in ALARM_FIELDS {
        point = point.field(field, counts.get(status).copied().unwrap_or(0) as i64);
    }
    for (status, n) in counts {
        if !ALARM_FIELDS.iter().any(|(s, _)| s == status) {
            point = point.field(format!("count_{}", status.to_lowercase()), *n as i64);
        }
    }
    point
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarm_points_count_every_known_status_and_any_other() {
        let counts = BTreeMap::from([("ALARMED".to_string(), 2), ("Strange".to_string(), 1)]);
        let p = alarm_point("b1", 7, &counts);
        assert_eq!(p.measurement, "building_alarms");
        assert_eq!(p.tags["building_id"], "b1");
        let field = |k: &str| p.fields[k].as_f64().unwrap();
        assert_eq!(field("total_count"), 3.0);
        assert_eq!(field("count_alarmed"), 2.0);
        assert_eq!(field("count_blocked"), 0.0);
        assert_eq!(field("count_strange"), 1.0);
        assert_eq!(p.fields.len(), 6);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let cap = Duration::from_secs(10);
        let waits: Vec<u64> = (1..=6).map(|n| backoff(n, cap).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 10, 10]);
    }
}
