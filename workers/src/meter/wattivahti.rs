//! WattiVahti (Pori Energia, Finland): 15-minute or hourly electricity consumption.
//!
//! The refresh token rotates on every redemption and the old one stops working, so the new one
//! is made durable (`save_state`) before the access token is used at all: a crash at any point
//! leaves the only valid token in the store.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use hemflux_clients::wattivahti::{helsinki, WattivahtiClient, WattivahtiError};
use hemflux_shared::config::WattivahtiConfig;
use hemflux_shared::time::to_nanos;
use hemflux_shared::Point;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use crate::link::{Link, Worker};
use crate::runtime::{self, Reply, Source};

/// A long range is fetched in pieces this many local days long (one request per resolution each).
const CHUNK_DAYS: i64 = 7;

/// What survives restarts, in the worker's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    /// The current (rotated) refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    /// Fingerprint of the token file's content last taken in: only a changed file is read again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_file_fp: Option<String>,
    /// Fingerprint of a token the service refused: it is not presented again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refused_token_fp: Option<String>,
    /// Interval start (UTC) of the newest point stored: where the next sync resumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    synced_until: Option<Timestamp>,
}

/// Why a sync failed, which decides when the next one comes.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// No usable refresh token: the worker waits for a new one instead of retrying.
    #[error("{0}")]
    NeedsToken(String),
    #[error(transparent)]
    Vendor(#[from] WattivahtiError),
    #[error(transparent)]
    Time(#[from] jiff::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

type Result<T, E = Failure> = std::result::Result<T, E>;

struct Meter {
    cfg: WattivahtiConfig,
    worker_id: String,
    client: WattivahtiClient,
    link: Arc<Link>,
    state: State,
    access: Option<(String, Instant)>,
    poll: Duration,
    /// The error last reported, so that a repeat is not reported again.
    last_error: String,
}

pub async fn run(worker: Worker, cfg: WattivahtiConfig) -> anyhow::Result<()> {
    let state: State = match &worker.init.state {
        Some(v) => serde_json::from_value(v.clone()).context("the saved state")?,
        None => State::default(),
    };
    let meter = Meter {
        client: WattivahtiClient::new(super::http_client()?, &cfg.base_url, &cfg.token_url),
        poll: Duration::from_secs(cfg.poll_interval_secs),
        cfg,
        worker_id: worker.init.id.clone(),
        link: worker.link.clone(),
        state,
        access: None,
        last_error: String::new(),
    };
    runtime::drive(worker, meter).await
}

impl Source for Meter {
    type Error = Failure;

    async fn poll(&mut self) -> Result<String> {
        let (from, to) = self.incremental_window();
        let n = self.sync_range(from, to, false).await?;
        self.last_error.clear();
        let to = to.strftime("%Y-%m-%d %H:%M UTC");
        Ok(format!("synced {n} readings up to {to}"))
    }

    fn next_delay(&mut self, outcome: &Result<String>) -> Duration {
        match outcome {
            Err(Failure::NeedsToken(_)) => self.poll.min(Duration::from_secs(60)),
            Err(Failure::Vendor(e)) if e.is_retryable() => self.poll.min(super::NETWORK_RETRY),
            _ => self.poll,
        }
    }

    /// Waiting for a token repeats the same message every minute: say it once.
    fn report(&mut self, error: &anyhow::Error, _next: Duration) -> Option<String> {
        let message = format!("{error:#}");
        (message != self.last_error).then(|| {
            tracing::error!("{message}");
            self.last_error = message.clone();
            message
        })
    }

    async fn sync(&mut self, _id: u64, from: Timestamp, to: Timestamp) -> anyhow::Result<Reply> {
        let n = self.sync_range(from, to, true).await?;
        Ok(Reply::Now(format!("synced {n} readings from {from} to {to}")))
    }

    async fn command(&mut self, name: &str, _args: Value) -> anyhow::Result<Reply> {
        Err(anyhow!("a WattiVahti meter has no command {name:?}"))
    }
}

/// A short, stable fingerprint of a token, so that state can recognise it without keeping it.
fn fingerprint(token: &str) -> String {
    format!("{:016x}", super::fnv1a(token.as_bytes()))
}

impl Meter {
    /// From the checkpoint minus the buffer (first run: `initial_sync_days` back) to now.
    fn incremental_window(&self) -> (Timestamp, Timestamp) {
        let now = Timestamp::now();
        let from = match self.state.synced_until {
            Some(t) => t - SignedDuration::from_hours(self.cfg.sync_buffer_hours.into()),
            None => now - SignedDuration::from_hours(24 * i64::from(self.cfg.initial_sync_days)),
        };
        (from, now)
    }

    fn state_value(&self) -> Value {
        serde_json::to_value(&self.state).expect("state serializes")
    }

    fn how_to_get_a_token(&self) -> String {
        format!(
            "write a refresh token to {} (or run `hemflux meter-token {}` and paste it); get one by \
             signing in to wattivahti.fi with wattivahti-influx's get_token.py",
            self.cfg.token_path(),
            self.worker_id
        )
    }

    fn refused(&self) -> Failure {
        Failure::NeedsToken(format!(
            "the WattiVahti refresh token was refused; re-authentication needed: {}",
            self.how_to_get_a_token()
        ))
    }

    /// A token dropped into the token file since it was last read, with its fingerprint.
    fn new_file_token(&self) -> Option<(String, String)> {
        let text = std::fs::read_to_string(self.cfg.token_path()).ok()?;
        let token = text.trim().to_string();
        let fp = fingerprint(&token);
        (!token.is_empty() && self.state.token_file_fp.as_deref() != Some(fp.as_str()))
            .then_some((token, fp))
    }

    /// A valid access token: the cached one, or a new one from redeeming the refresh token,
    /// whose rotated successor is durable before this returns.
    async fn access_token(&mut self) -> Result<String> {
        if let Some((token, until)) = &self.access {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let (refresh, file_fp) = match self.new_file_token() {
            Some((token, fp)) => (token, Some(fp)),
            None => match &self.state.refresh_token {
                Some(t) => (t.clone(), None),
                None if self.state.refused_token_fp.is_some() => {
                    return Err(self.refused());
                }
                None => {
                    return Err(Failure::NeedsToken(format!(
                        "no WattiVahti refresh token for metering point {}: {}",
                        self.cfg.metering_point,
                        self.how_to_get_a_token()
                    )))
                }
            },
        };
        let fp = fingerprint(&refresh);
        if self.state.refused_token_fp.as_deref() == Some(fp.as_str()) {
            return Err(self.refused());
        }
        let redeemed = self.client.redeem(&refresh).await;
        if let Some(fp) = file_fp {
            self.state.token_file_fp = Some(fp);
        }
        let tokens = match redeemed {
            Err(WattivahtiError::TokenRefused { why }) => {
                self.state.refused_token_fp = Some(fingerprint(&refresh));
                self.link.save_state(self.state_value()).await?;
                return Err(Failure::NeedsToken(format!(
                    "WattiVahti refused the refresh token ({why}); re-authentication needed: {}",
                    self.how_to_get_a_token()
                )));
            }
            other => other?,
        };
        self.state.refresh_token = Some(tokens.refresh.unwrap_or(refresh));
        self.state.refused_token_fp = None;
        // Durable before the access token is used: a crash from here on finds the new token.
        self.link
            .save_state(self.state_value())
            .await
            .context("persisting the rotated refresh token")?;
        let lifetime = tokens.expires_in_secs;
        // Treat it as expired 5 minutes early (or halfway, for short-lived tokens).
        let usable = lifetime.saturating_sub(300).max(lifetime / 2);
        let access = tokens.access;
        self.access = Some((access.clone(), Instant::now() + Duration::from_secs(usable)));
        Ok(access)
    }

    /// Readings whose interval starts in [start, stop), at one resolution, as UTC instants.
    async fn fetch(
        &mut self,
        start: Timestamp,
        stop: Timestamp,
        step: &str,
    ) -> Result<Vec<(Timestamp, f64)>> {
        let token = self.access_token().await?;
        let point = &self.cfg.metering_point;
        match self.client.meter_data(&token, point, start, stop, step).await {
            Err(WattivahtiError::Unauthorized { .. }) => {
                // Expired early or revoked: redeem once more and retry.
                self.access = None;
                let token = self.access_token().await?;
                let point = &self.cfg.metering_point;
                Ok(self.client.meter_data(&token, point, start, stop, step).await?)
            }
            other => Ok(other?),
        }
    }

    /// Fetches [from, to) in chunks of local days, PT15MIN first and PT1H for the days that
    /// have no quarter-hours, and stores each chunk with the advanced checkpoint. With
    /// `progress`, reports `backfill: <done>/<chunks> chunks, <n> points` (`hemflux sync` shows it).
    async fn sync_range(
        &mut self,
        from: Timestamp,
        to: Timestamp,
        progress: bool,
    ) -> Result<usize> {
        let tz = helsinki();
        let day_start = |d: Date| -> Result<Timestamp> { Ok(d.to_zoned(tz.clone())?.timestamp()) };
        let local_date = |t: Timestamp| t.to_zoned(tz.clone()).date();
        let mut chunks = Vec::new();
        let mut cursor = from;
        while cursor < to {
            let next = local_date(cursor).checked_add(jiff::Span::new().days(CHUNK_DAYS))?;
            let end = day_start(next)?.min(to);
            chunks.push((cursor, end));
            cursor = end;
        }
        let mut total = 0;
        for (done, &(cursor, end)) in chunks.iter().enumerate() {
            let mut rows = self.fetch(cursor, end, "PT15MIN").await?;
            let mut resolution: HashMap<Timestamp, &str> =
                rows.iter().map(|(t, _)| (*t, "PT15MIN")).collect();
            let with_quarters: BTreeSet<Date> = rows.iter().map(|(t, _)| local_date(*t)).collect();
            let last_day = local_date(end - SignedDuration::from_nanos(1));
            let missing: Vec<Date> = local_date(cursor)
                .series(jiff::Span::new().days(1))
                .take_while(|d| *d <= last_day)
                .filter(|d| !with_quarters.contains(d))
                .collect();
            if let (Some(first), Some(last)) = (missing.first(), missing.last()) {
                let start = day_start(*first)?.max(cursor);
                let stop = day_start(last.tomorrow()?)?.min(end);
                for (t, kwh) in self.fetch(start, stop, "PT1H").await? {
                    if missing.contains(&local_date(t)) {
                        resolution.insert(t, "PT1H");
                        rows.push((t, kwh));
                    }
                }
            }
            if let Some(newest) = rows.iter().map(|(t, _)| *t).max() {
                let points: Vec<Point> = rows
                    .iter()
                    .map(|(t, kwh)| {
                        Point::new("electricity_consumption", to_nanos(*t))
                            .tag("metering_point", self.cfg.metering_point.as_str())
                            .field("consumption_kwh", *kwh)
                            .field("consumption_wh", (kwh * 1000.0 * 1000.0).round() / 1000.0)
                            .field("resolution", resolution[t])
                    })
                    .collect();
                total += points.len();
                let mut state = self.state.clone();
                state.synced_until = Some(state.synced_until.map_or(newest, |s| s.max(newest)));
                let value = serde_json::to_value(&state).map_err(anyhow::Error::from)?;
                self.link.send_points(points, Some(value)).await?;
                self.state = state;
            }
            if progress {
                let n = chunks.len();
                self.link
                    .status(format!("backfill: {}/{n} chunks, {total} points", done + 1));
            }
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_differ_and_hide_the_token() {
        assert_ne!(fingerprint("a"), fingerprint("b"));
        assert!(!fingerprint("secret-token").contains("secret"));
    }
}
