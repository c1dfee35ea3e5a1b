//! WattiVahti (Pori Energia, Finland): 15-minute or hourly electricity consumption.
//!
//! The refresh token rotates on every redemption and the old one stops working, so the new one
//! is made durable (`save_state`) before the access token is used at all: a crash at any point
//! leaves the only valid token in the store. The API speaks naive Helsinki local time; the
//! repeated autumn hour comes as pairs with identical strings, the first of each pair being the
//! earlier instant (EEST).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use hemflux_shared::config::WattivahtiConfig;
use hemflux_shared::time::to_nanos;
use hemflux_shared::Point;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use crate::link::{Command, Link, Worker};

const DATA_PATH: &str = "/api/onlineapi/v1/meterdata2";
const CLIENT_ID: &str = "84ebdb93-9ea6-42c7-bd7d-302abf7556fa";
const SCOPE: &str =
    "https://pesv.onmicrosoft.com/salpa/customer.read openid profile offline_access";
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

/// No usable refresh token: the worker waits for a new one instead of retrying.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct NeedsToken(String);

struct Client {
    cfg: WattivahtiConfig,
    worker_id: String,
    http: reqwest::Client,
    link: Arc<Link>,
    state: State,
    access: Option<(String, Instant)>,
}

pub async fn run(mut worker: Worker, cfg: WattivahtiConfig) -> Result<()> {
    let state: State = match &worker.init.state {
        Some(v) => serde_json::from_value(v.clone()).context("the saved state")?,
        None => State::default(),
    };
    let poll = Duration::from_secs(cfg.poll_interval_secs);
    let token_recheck = poll.min(Duration::from_secs(60));
    let mut client = Client {
        cfg,
        worker_id: worker.init.id.clone(),
        http: super::http_client()?,
        link: worker.link.clone(),
        state,
        access: None,
    };
    let mut next = Instant::now() + Duration::from_millis(worker.init.poll_offset_ms);
    let mut last_error = String::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {
                let (from, to) = client.incremental_window();
                let outcome = client.sync_range(from, to, false).await;
                next = Instant::now() + match &outcome {
                    Ok(_) => poll,
                    Err(e) if e.is::<NeedsToken>() => token_recheck,
                    Err(e) if super::is_network_error(e) => poll.min(super::NETWORK_RETRY),
                    Err(_) => poll,
                };
                match outcome {
                    Ok(n) => {
                        last_error.clear();
                        client.link.status(format!("synced {n} readings up to {}", to.strftime("%Y-%m-%d %H:%M UTC")));
                    }
                    Err(e) => {
                        let msg = format!("{e:#}");
                        // Waiting for a token repeats the same message every minute: say it once.
                        if msg != last_error {
                            tracing::error!("{msg}");
                            client.link.error(msg.clone());
                            last_error = msg;
                        }
                    }
                }
            }
            Some(cmd) = worker.commands.recv() => match cmd {
                Command::Sync { id, from, to } => match client.sync_range(from, to, true).await {
                    Ok(n) => client.link.reply(id, true, format!("synced {n} readings from {from} to {to}")),
                    Err(e) => client.link.reply(id, false, format!("{e:#}")),
                },
                Command::Custom { id, name, .. } => {
                    client.link.reply(id, false, format!("a WattiVahti meter has no command {name:?}"));
                }
            },
        }
    }
}

fn helsinki() -> TimeZone {
    TimeZone::get("Europe/Helsinki").expect("bundled tz database has Europe/Helsinki")
}

/// A short, stable fingerprint of a token, so that state can recognise it without keeping it.
fn fingerprint(token: &str) -> String {
    let hash = token.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

impl Client {
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

    fn refused(&self) -> anyhow::Error {
        NeedsToken(format!(
            "the WattiVahti refresh token was refused; re-authentication needed: {}",
            self.how_to_get_a_token()
        ))
        .into()
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
                    return Err(NeedsToken(format!(
                        "no WattiVahti refresh token for metering point {}: {}",
                        self.cfg.metering_point,
                        self.how_to_get_a_token()
                    ))
                    .into())
                }
            },
        };
        let fp = fingerprint(&refresh);
        if self.state.refused_token_fp.as_deref() == Some(fp.as_str()) {
            return Err(self.refused());
        }
        let form = [
            ("client_id", CLIENT_ID),
            ("scope", SCOPE),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_info", "1"),
        ];
        let resp = self
            .http
            .post(&self.cfg.token_url)
            .form(&form)
            .send()
            .await
            .context("redeeming the WattiVahti refresh token")?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if let Some(fp) = file_fp {
            self.state.token_file_fp = Some(fp);
        }
        if status == reqwest::StatusCode::BAD_REQUEST && body["error"] == "invalid_grant" {
            self.state.refused_token_fp = Some(fingerprint(&refresh));
            self.link.save_state(self.state_value()).await?;
            let why = body["error_description"].as_str().unwrap_or_default();
            let why = why.lines().next().unwrap_or_default();
            return Err(NeedsToken(format!(
                "WattiVahti refused the refresh token ({why}); re-authentication needed: {}",
                self.how_to_get_a_token()
            ))
            .into());
        }
        if !status.is_success() {
            let what = body["error_description"]
                .as_str()
                .or(body["error"].as_str());
            bail!(
                "the WattiVahti token endpoint answered {status}: {}",
                what.unwrap_or("no description")
            );
        }
        let access = body["access_token"]
            .as_str()
            .ok_or_else(|| anyhow!("the WattiVahti token answer has no access_token"))?
            .to_string();
        let rotated = body["refresh_token"]
            .as_str()
            .unwrap_or(&refresh)
            .to_string();
        self.state.refresh_token = Some(rotated);
        self.state.refused_token_fp = None;
        // Durable before the access token is used: a crash from here on finds the new token.
        self.link
            .save_state(self.state_value())
            .await
            .context("persisting the rotated refresh token")?;
        let lifetime = body["expires_in"].as_u64().unwrap_or(3600);
        // Treat it as expired 5 minutes early (or halfway, for short-lived tokens).
        let usable = lifetime.saturating_sub(300).max(lifetime / 2);
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
        let tz = helsinki();
        let fmt = |t: Timestamp| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        };
        let query = [
            ("meteringPointCode", self.cfg.metering_point.clone()),
            ("measurementType", "1".into()),
            ("start", fmt(start)),
            ("stop", fmt(stop)),
            ("resultStep", step.into()),
        ];
        let url = format!("{}{DATA_PATH}", self.cfg.base_url.trim_end_matches('/'));
        for attempt in 0..2 {
            let token = self.access_token().await?;
            let resp = self
                .http
                .get(&url)
                .query(&query)
                .bearer_auth(token)
                .header("Accept", "application/json")
                .send()
                .await
                .context("fetching WattiVahti meter data")?;
            let status = resp.status();
            if status == reqwest::StatusCode::UNAUTHORIZED && attempt == 0 {
                // Expired early or revoked: redeem once more and retry.
                self.access = None;
                continue;
            }
            if status == reqwest::StatusCode::FORBIDDEN {
                bail!(
                    "WattiVahti refused metering point {} (403): the token belongs to a customer \
                     account that does not own it; check metering_point and the token file",
                    self.cfg.metering_point
                );
            }
            if !status.is_success() {
                let text = resp.text().await.unwrap_or_default();
                bail!(
                    "WattiVahti meterdata2 answered {status}: {}",
                    text.chars().take(200).collect::<String>()
                );
            }
            let body: Value = resp
                .json()
                .await
                .context("WattiVahti meter data is not JSON")?;
            return decode_rows(&body, &tz);
        }
        bail!("WattiVahti refused a freshly issued access token")
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
                let value = serde_json::to_value(&state)?;
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

/// Decodes `tsv` rows into UTC instants. A local time seen twice in one answer is the repeated
/// autumn hour: its first reading is the earlier instant, its second the later one.
fn decode_rows(body: &Value, tz: &TimeZone) -> Result<Vec<(Timestamp, f64)>> {
    let rows = &body["getconsumptionsresult"]["consumptiondata"]["timeseries"]["values"]["tsv"];
    let Some(rows) = rows.as_array() else {
        return Ok(Vec::new());
    };
    let mut seen: HashMap<DateTime, u32> = HashMap::new();
    let mut out = Vec::new();
    for row in rows {
        let Some(time) = row["time"].as_str() else {
            continue;
        };
        let local: DateTime = time
            .trim_end_matches('Z')
            .parse()
            .with_context(|| format!("WattiVahti time {time:?} is not a local date-time"))?;
        let nth = seen.entry(local).or_default();
        let zoned = tz.to_ambiguous_zoned(local);
        let zoned = if *nth == 0 {
            zoned.compatible()
        } else {
            zoned.later()
        }?;
        *nth += 1;
        if let Some(kwh) = row["quantity"].as_f64() {
            out.push((zoned.timestamp(), kwh));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(times: &[&str]) -> Value {
        let tsv: Vec<Value> = times
            .iter()
            .map(|t| json!({"quantity": 0.1, "time": t}))
            .collect();
        json!({"getconsumptionsresult": {"consumptiondata": {"timeseries": {"values": {"tsv": tsv}}}}})
    }

    #[test]
    fn the_repeated_autumn_hour_becomes_two_utc_instants() {
        let rows = decode_rows(
            &answer(&[
                "2025-10-26T02:45:00",
                "2025-10-26T03:00:00",
                "2025-10-26T03:00:00",
                "2025-10-26T03:15:00",
                "2025-10-26T03:15:00",
                "2025-10-26T04:00:00",
            ]),
            &helsinki(),
        )
        .unwrap();
        let utc: Vec<String> = rows.iter().map(|(t, _)| t.to_string()).collect();
        assert_eq!(
            utc,
            [
                "2025-10-25T23:45:00Z",
                "2025-10-26T00:00:00Z",
                "2025-10-26T01:00:00Z",
                "2025-10-26T00:15:00Z",
                "2025-10-26T01:15:00Z",
                "2025-10-26T02:00:00Z"
            ]
        );
    }

    #[test]
    fn missing_keys_and_null_quantities_are_no_data() {
        assert!(
            decode_rows(&json!({"getconsumptionsresult": null}), &helsinki())
                .unwrap()
                .is_empty()
        );
        let nulls = json!({"getconsumptionsresult": {"consumptiondata": {"timeseries": {"values": {"tsv": [{"quantity": null, "time": "2025-01-01T00:00:00"}]}}}}});
        assert!(decode_rows(&nulls, &helsinki()).unwrap().is_empty());
    }

    #[test]
    fn fingerprints_differ_and_hide_the_token() {
        assert_ne!(fingerprint("a"), fingerprint("b"));
        assert!(!fingerprint("secret-token").contains("secret"));
    }
}
