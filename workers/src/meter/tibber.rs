//! Tibber: today's and tomorrow's prices (hourly and quarter-hourly, in one request) and hourly
//! consumption with cost, paged forward with cursors from the last stored hour.
//!
//! Rate limit: Tibber allows about 100 requests per 5 minutes per IP and bans for ~10 minutes
//! after that. Every worker is its own process, so each keeps its own pace low: one price
//! request and usually one consumption page per poll (hourly), and at least
//! `min_request_interval_ms` (15 s) between any two requests, so that one worker never makes
//! more than 20 requests in 5 minutes even while backfilling; each home polls at its own phase
//! of the hour, so a fleet spreads out (docs/meters.md has the numbers). After a 429 the worker
//! waits 15 minutes.
//!
//! Consumption is written as `electricity_consumption` or, with `schema = "home_assistant"`, as
//! seed 004's cumulative `kWh` register ([`super::register`]).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use hemflux_clients::tibber::{cursor_at, TibberClient, TibberError};
use hemflux_shared::config::{TibberConfig, TibberSchema};
use hemflux_shared::time::to_nanos;
use hemflux_shared::Point;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use super::register::Register;
use crate::link::{Link, Worker};
use crate::runtime::{self, Reply, Source};

/// How long to stay away after a 429: longer than Tibber's ban, which each request renews.
const BAN_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// Consumption is re-read this far back each time: Tibber fills and corrects recent hours late.
const REFETCH: SignedDuration = SignedDuration::from_hours(48);
/// Tibber's largest HOURLY page.
const PAGE: u32 = 744;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    /// Start of the newest hour of consumption stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    consumption_until: Option<Timestamp>,
    /// The `home_assistant` schema's register, as far as it has counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    register: Option<Register>,
}

/// Why a poll failed: Tibber's answer (which decides the next delay) or anything else.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Tibber(#[from] TibberError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

type Result<T, E = Failure> = std::result::Result<T, E>;

struct Meter {
    cfg: TibberConfig,
    poll: Duration,
    client: TibberClient,
    link: Arc<Link>,
    state: State,
}

pub async fn run(worker: Worker, cfg: TibberConfig) -> anyhow::Result<()> {
    let token_env = format!(
        "{}_TOKEN",
        cfg.credential_ref.as_deref().unwrap_or("TIBBER")
    );
    let token = worker.init.secrets.get("token").cloned().ok_or_else(|| {
        anyhow!("no Tibber token: put {token_env}=<your token from developer.tibber.com> in .env")
    })?;
    let mut state: State = match &worker.init.state {
        Some(v) => serde_json::from_value(v.clone()).context("the saved state")?,
        None => State::default(),
    };
    if let (TibberSchema::HomeAssistant, None, Some(entity)) =
        (cfg.schema, state.register, &cfg.entity_id)
    {
        state.register = Register::from_store(&worker.link, entity)
            .await
            .with_context(|| format!("reading the last kWh value of entity_id {entity} from the store"))?;
        if let Some(r) = state.register {
            tracing::info!(entity, value = r.total, at = %r.until, "continuing the stored kWh register");
        }
    }
    let client = TibberClient::new(
        super::http_client()?,
        &cfg.base_url,
        token,
        token_env,
        Duration::from_millis(cfg.min_request_interval_ms),
    );
    let meter = Meter {
        poll: Duration::from_secs(cfg.poll_interval_secs),
        cfg,
        client,
        link: worker.link.clone(),
        state,
    };
    runtime::drive(worker, meter).await
}

impl Source for Meter {
    type Error = Failure;

    async fn poll(&mut self) -> Result<String> {
        let prices = self.prices().await?;
        let from = match self.state.consumption_until {
            Some(t) => t - REFETCH,
            None => {
                Timestamp::now()
                    - SignedDuration::from_hours(24 * i64::from(self.cfg.backfill_days))
            }
        };
        let hours = self.consumption(from, None).await?;
        Ok(format!("{prices} prices and {hours} hours of consumption"))
    }

    fn next_delay(&mut self, outcome: &Result<String>) -> Duration {
        match outcome {
            Err(Failure::Tibber(e)) if e.is_rate_limited() => BAN_BACKOFF,
            Err(Failure::Tibber(e)) if e.is_retryable() => self.poll.min(super::NETWORK_RETRY),
            _ => until_phase(&self.cfg),
        }
    }

    async fn sync(&mut self, _id: u64, from: Timestamp, to: Timestamp) -> anyhow::Result<Reply> {
        let n = self.consumption(from, Some(to)).await?;
        Ok(Reply::Now(format!(
            "synced {n} hours of consumption from {from} to {to}"
        )))
    }

    async fn command(&mut self, name: &str, _args: Value) -> anyhow::Result<Reply> {
        Err(anyhow!("a Tibber meter has no command {name:?}"))
    }
}

/// Time until this home's next poll. Each home polls at its own phase within the interval (from
/// its id), so that a fleet started together spreads out over the hour instead of polling in
/// the same minute every hour.
fn until_phase(cfg: &TibberConfig) -> Duration {
    let interval = cfg.poll_interval_secs.max(1);
    let phase = super::fnv1a(cfg.home_id.as_bytes()) % interval;
    let now = Timestamp::now().as_millisecond().max(0) as u64;
    let into = now % (interval * 1000);
    let wait = (phase * 1000 + interval * 1000 - into) % (interval * 1000);
    // Just past the phase (a fast poll): the next one, not a second poll right away.
    Duration::from_millis(if wait < 1000 {
        wait + interval * 1000
    } else {
        wait
    })
}

impl Meter {
    async fn prices(&mut self) -> Result<usize> {
        let sub = self.client.prices(&self.cfg.home_id).await?;
        let mut points = Vec::new();
        for (key, resolution) in [("hourly", "HOURLY"), ("quarterly", "QUARTER_HOURLY")] {
            for day in ["today", "tomorrow"] {
                for p in sub[key][day].as_array().into_iter().flatten() {
                    points.push(self.price_point(p, resolution)?);
                }
            }
        }
        let n = points.len();
        if n > 0 {
            self.link.send_points(points, None).await?;
        }
        Ok(n)
    }

    fn price_point(&self, p: &Value, resolution: &str) -> anyhow::Result<Point> {
        let at = p["startsAt"]
            .as_str()
            .ok_or_else(|| anyhow!("a Tibber price without startsAt: {p}"))?;
        let at: Timestamp = at
            .parse()
            .with_context(|| format!("Tibber startsAt {at:?}"))?;
        let mut point = Point::new("electricity_price", to_nanos(at))
            .tag("home_id", self.cfg.home_id.as_str())
            .tag("resolution", resolution)
            .tag("currency", p["currency"].as_str().unwrap_or("unknown"));
        for f in ["total", "energy", "tax"] {
            if let Some(v) = p[f].as_f64() {
                point = point.field(f, v);
            }
        }
        if let Some(level) = p["level"].as_str() {
            point = point.field("level", level);
        }
        Ok(point)
    }

    /// Hourly consumption starting after `from` (up to `to`), page by page, each page stored
    /// with the advanced checkpoint. Hours not yet metered (`null`) are skipped.
    async fn consumption(&mut self, from: Timestamp, to: Option<Timestamp>) -> Result<usize> {
        let mut after = cursor_at(from);
        let mut total = 0;
        // A recent hour not yet metered holds the register back (on this page and the next)
        // until Tibber fills it in.
        let mut held = false;
        loop {
            let page = self
                .client
                .consumption(&self.cfg.home_id, &after, PAGE)
                .await?;
            let mut points = Vec::new();
            let mut past_end = false;
            let mut until = self.state.consumption_until;
            let mut register = self.state.register;
            for n in &page.nodes {
                let at: Timestamp = n["from"]
                    .as_str()
                    .unwrap_or_default()
                    .parse()
                    .with_context(|| format!("Tibber node {n}"))?;
                if to.is_some_and(|to| at >= to) {
                    past_end = true;
                    break;
                }
                if let (TibberSchema::HomeAssistant, Some(entity)) =
                    (self.cfg.schema, &self.cfg.entity_id)
                {
                    held |= n["consumption"].is_null() && at > Timestamp::now() - REFETCH;
                    if held {
                        continue;
                    }
                    if let Some(p) = Register::add(&mut register, entity, at, n) {
                        until = until.max(Some(at));
                        points.push(p);
                    }
                    continue;
                }
                let Some(kwh) = n["consumption"].as_f64() else {
                    continue;
                };
                let mut p = Point::new("electricity_consumption", to_nanos(at))
                    .tag("home_id", self.cfg.home_id.as_str())
                    .field("consumption_kwh", kwh);
                for (field, key) in [("cost", "cost"), ("unit_price", "unitPrice")] {
                    if let Some(v) = n[key].as_f64() {
                        p = p.field(field, v);
                    }
                }
                if until.is_none_or(|u| at > u) {
                    until = Some(at);
                }
                points.push(p);
            }
            total += points.len();
            if !points.is_empty() {
                let state = State {
                    consumption_until: until,
                    register,
                };
                let value = serde_json::to_value(&state).map_err(anyhow::Error::from)?;
                self.link.send_points(points, Some(value)).await?;
                self.state = state;
            }
            match page.next {
                Some(end) if !past_end => after = end,
                _ => return Ok(total),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn homes_poll_at_their_own_phase_of_the_interval() {
        let cfg = |home: &str| -> TibberConfig {
            serde_json::from_value(json!({"home_id": home, "poll_interval_secs": 3600})).unwrap()
        };
        let waits: Vec<Duration> = ["a", "b", "c", "d"]
            .iter()
            .map(|h| until_phase(&cfg(h)))
            .collect();
        assert!(
            waits
                .iter()
                .all(|w| *w >= Duration::from_secs(1) && *w <= Duration::from_secs(3601)),
            "{waits:?}"
        );
        let distinct: std::collections::BTreeSet<u64> =
            waits.iter().map(|w| w.as_secs() / 60).collect();
        assert!(distinct.len() >= 3, "spread over the hour: {waits:?}");
    }
}
