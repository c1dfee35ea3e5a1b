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

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use hemflux_shared::config::TibberConfig;
use hemflux_shared::time::to_nanos;
use hemflux_shared::Point;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::link::{Command, Link, Worker};

/// How long to stay away after a 429: longer than Tibber's ban, which each request renews.
const BAN_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// Consumption is re-read this far back each time: Tibber fills and corrects recent hours late.
const REFETCH: SignedDuration = SignedDuration::from_hours(48);
/// Tibber's largest HOURLY page.
const PAGE: u32 = 744;

const PRICE_FIELDS: &str = "total energy tax startsAt currency level";
const PRICES: &str = "query($id: ID!) { viewer { home(id: $id) { currentSubscription {
  hourly: priceInfo(resolution: HOURLY) { today { PRICE } tomorrow { PRICE } }
  quarterly: priceInfo(resolution: QUARTER_HOURLY) { today { PRICE } tomorrow { PRICE } } } } } }";
const CONSUMPTION: &str = "query($id: ID!, $after: String, $first: Int) { viewer { home(id: $id) {
  consumption(resolution: HOURLY, first: $first, after: $after) {
    pageInfo { endCursor hasNextPage }
    nodes { from cost unitPrice consumption currency } } } } }";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    /// Start of the newest hour of consumption stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    consumption_until: Option<Timestamp>,
}

/// Tibber answered 429: nothing more until the ban is surely over.
#[derive(Debug, thiserror::Error)]
#[error("Tibber's rate limit was hit (429, the IP is banned for a while): pausing 15 minutes")]
struct RateLimited;

struct Client {
    cfg: TibberConfig,
    token: String,
    token_env: String,
    http: reqwest::Client,
    link: Arc<Link>,
    state: State,
    last_request: Option<Instant>,
}

pub async fn run(mut worker: Worker, cfg: TibberConfig) -> Result<()> {
    let token_env = format!(
        "{}_TOKEN",
        cfg.credential_ref.as_deref().unwrap_or("TIBBER")
    );
    let token = worker.init.secrets.get("token").cloned().ok_or_else(|| {
        anyhow!("no Tibber token: put {token_env}=<your token from developer.tibber.com> in .env")
    })?;
    let state = match &worker.init.state {
        Some(v) => serde_json::from_value(v.clone()).context("the saved state")?,
        None => State::default(),
    };
    let poll = Duration::from_secs(cfg.poll_interval_secs);
    let mut client = Client {
        cfg,
        token,
        token_env,
        http: super::http_client()?,
        link: worker.link.clone(),
        state,
        last_request: None,
    };
    let mut next = Instant::now() + Duration::from_millis(worker.init.poll_offset_ms);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {
                let outcome = client.poll().await;
                next = Instant::now() + match &outcome {
                    Ok(_) => until_phase(&client.cfg),
                    Err(e) if e.is::<RateLimited>() => BAN_BACKOFF,
                    Err(e) if super::is_network_error(e) => poll.min(super::NETWORK_RETRY),
                    Err(_) => until_phase(&client.cfg),
                };
                match outcome {
                    Ok((prices, hours)) => client.link.status(format!("{prices} prices and {hours} hours of consumption")),
                    Err(e) => {
                        tracing::error!("{e:#}");
                        client.link.error(format!("{e:#}"));
                    }
                }
            }
            Some(cmd) = worker.commands.recv() => match cmd {
                Command::Sync { id, from, to } => match client.consumption(from, Some(to)).await {
                    Ok(n) => client.link.reply(id, true, format!("synced {n} hours of consumption from {from} to {to}")),
                    Err(e) => client.link.reply(id, false, format!("{e:#}")),
                },
                Command::Custom { id, name, .. } => {
                    client.link.reply(id, false, format!("a Tibber meter has no command {name:?}"));
                }
            },
        }
    }
}

/// Time until this home's next poll. Each home polls at its own phase within the interval (from
/// its id), so that a fleet started together spreads out over the hour instead of polling in
/// the same minute every hour.
fn until_phase(cfg: &TibberConfig) -> Duration {
    let interval = cfg.poll_interval_secs.max(1);
    let hash = cfg.home_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    let phase = hash % interval;
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

/// Standard base64, for Tibber's cursors (base64 of an ISO date-time).
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                ABC[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

impl Client {
    /// Prices, then consumption from the checkpoint (less a re-read margin).
    async fn poll(&mut self) -> Result<(usize, usize)> {
        let prices = self.prices().await?;
        let from = match self.state.consumption_until {
            Some(t) => t - REFETCH,
            None => {
                Timestamp::now()
                    - SignedDuration::from_hours(24 * i64::from(self.cfg.backfill_days))
            }
        };
        let hours = self.consumption(from, None).await?;
        Ok((prices, hours))
    }

    /// One GraphQL request, spaced from the previous one; the `data` of the answer.
    async fn query(&mut self, query: &str, variables: Value) -> Result<Value> {
        if let Some(last) = self.last_request {
            tokio::time::sleep_until(
                last + Duration::from_millis(self.cfg.min_request_interval_ms),
            )
            .await;
        }
        self.last_request = Some(Instant::now());
        let resp = self
            .http
            .post(&self.cfg.base_url)
            .bearer_auth(&self.token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .context("calling Tibber")?;
        let status = resp.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(RateLimited.into());
        }
        let text = resp.text().await.context("reading Tibber's answer")?;
        let body: Value = serde_json::from_str(&text).map_err(|_| {
            anyhow!(
                "Tibber answered {status} with no JSON: {}",
                text.chars().take(200).collect::<String>()
            )
        })?;
        if let Some(e) = body["errors"].get(0) {
            let message = e["message"].as_str().unwrap_or("no message");
            let code = e["extensions"]["code"].as_str().unwrap_or("no code");
            if code == "UNAUTHENTICATED" {
                bail!("Tibber refused the token ({message}): check {} in .env (a token from developer.tibber.com)", self.token_env);
            }
            bail!("Tibber answered {status}: {message} ({code})");
        }
        if !status.is_success() {
            bail!("Tibber answered {status}");
        }
        Ok(body["data"].clone())
    }

    async fn prices(&mut self) -> Result<usize> {
        let query = PRICES.replace("PRICE", PRICE_FIELDS);
        let data = self.query(&query, json!({"id": self.cfg.home_id})).await?;
        let sub = &data["viewer"]["home"]["currentSubscription"];
        if sub.is_null() {
            bail!(
                "Tibber home {} has no current subscription (or is not this token's)",
                self.cfg.home_id
            );
        }
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

    fn price_point(&self, p: &Value, resolution: &str) -> Result<Point> {
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
        // A cursor is exclusive: start one second early to include the hour starting at `from`.
        let mut after = base64((from - SignedDuration::from_secs(1)).to_string().as_bytes());
        let mut total = 0;
        loop {
            let vars = json!({"id": self.cfg.home_id, "after": after, "first": PAGE});
            let data = self.query(CONSUMPTION, vars).await?;
            let conn = &data["viewer"]["home"]["consumption"];
            let mut points = Vec::new();
            let mut past_end = false;
            let mut until = self.state.consumption_until;
            for n in conn["nodes"].as_array().into_iter().flatten() {
                let at: Timestamp = n["from"]
                    .as_str()
                    .unwrap_or_default()
                    .parse()
                    .with_context(|| format!("Tibber node {n}"))?;
                if to.is_some_and(|to| at >= to) {
                    past_end = true;
                    break;
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
                };
                self.link
                    .send_points(points, Some(serde_json::to_value(&state)?))
                    .await?;
                self.state = state;
            }
            match conn["pageInfo"]["endCursor"].as_str() {
                Some(end) if conn["pageInfo"]["hasNextPage"] == true && !past_end => {
                    after = end.to_string()
                }
                _ => return Ok(total),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn base64_matches_tibbers_cursors() {
        assert_eq!(base64(b"2026-01-15"), "MjAyNi0wMS0xNQ==");
        assert_eq!(
            base64(b"2026-01-15T00:00:00.000+01:00"),
            "MjAyNi0wMS0xNVQwMDowMDowMC4wMDArMDE6MDA="
        );
        assert_eq!(base64(b"ab"), "YWI=");
    }
}
