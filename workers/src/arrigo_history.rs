//! History import from Arrigo (`sync {from, to}`), for a building's `building_system` rows and a
//! house's `heating_system` rows alike: walks the range in 30-day chunks; for each chunk pulls
//! every fetched signal's history one signal per request, following `hasNextPage` past the
//! server's per-query cap, merges the rows into one point per timestamp, and stores the chunk
//! (with the progress, `state.backfill.done_until`, where the worker keeps it). A sync of the
//! same range after an interruption resumes there; the store overwrites same-series same-time
//! points, so running it twice changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use hemflux_clients::arrigo::{Arrigo, HistoryPage, LoginError};
use hemflux_shared::config::{ArrigoConfig, SignalConfig};
use hemflux_shared::retry::RetryPolicy;
use hemflux_shared::time::to_nanos;
use hemflux_shared::Point;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::link::Link;

/// What is imported and as which rows.
#[derive(Clone)]
pub struct Source {
    pub arrigo: ArrigoConfig,
    pub signals: Vec<SignalConfig>,
    /// The measurement of the rows and the tag naming the entity: those of its live rows.
    pub measurement: &'static str,
    pub tag: (&'static str, String),
    /// Whether progress is saved as the worker's state (`{"backfill": job}`); a worker with
    /// state of its own to keep saves none, and a rerun starts afresh.
    pub save_progress: bool,
}

impl Source {
    pub fn fetched(&self) -> impl Iterator<Item = &SignalConfig> {
        self.signals.iter().filter(|s| s.fetch)
    }

    pub fn point(&self, time_ns: i64) -> Point {
        Point::new(self.measurement, time_ns).tag(self.tag.0, self.tag.1.as_str())
    }

    pub fn client(&self, username: &str, password: &str) -> Result<Arrigo> {
        let timeout = Duration::from_secs(self.arrigo.timeout_secs);
        Arrigo::new(&self.arrigo.base_url, username, password, timeout)
    }
}

/// 4 decimals, as stored before; keeps float noise out of the store.
pub fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// Waits after the n-th failure in a row: 1, 2, 4 ... s, never longer than `cap`.
pub fn backoff(failures: u32, cap: Duration) -> Duration {
    let policy = RetryPolicy {
        initial: Duration::from_secs(1),
        factor: 2,
        cap: cap.min(Duration::from_secs(64)),
        jitter: 0.0,
    };
    policy.delay(failures.saturating_sub(1), 0.0)
}

const CHUNK: SignedDuration = SignedDuration::from_hours(30 * 24);
const ATTEMPTS: u32 = 6;

/// A history import and how far it got; kept in the worker's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub from: Timestamp,
    pub to: Timestamp,
    pub done_until: Timestamp,
}

impl Job {
    pub fn from_state(state: Option<&Value>) -> Option<Job> {
        serde_json::from_value(state?.get("backfill")?.clone()).ok()
    }

    /// The same range as an unfinished saved job resumes it; anything else starts afresh.
    pub fn start(from: Timestamp, to: Timestamp, saved: Option<&Job>) -> Job {
        match saved {
            Some(j) if j.from == from && j.to == to && j.done_until < to => {
                tracing::info!(done_until = %j.done_until, "resuming an interrupted backfill");
                j.clone()
            }
            _ => Job {
                from,
                to,
                done_until: from,
            },
        }
    }

    fn chunks(&self, from: Timestamp) -> u64 {
        let secs = (self.to.as_second() - from.as_second()).max(0) as u64;
        secs.div_ceil(CHUNK.as_secs() as u64)
    }
}

/// Runs a job to its end and answers the sync `id`; returns the job as far as it got.
pub async fn run(
    link: Arc<Link>,
    mut client: Arrigo,
    cfg: Source,
    id: u64,
    mut job: Job,
) -> Option<Job> {
    let total = job.chunks(job.from);
    let mut points = 0u64;
    let result: Result<()> = async {
        while job.done_until < job.to {
            let start = job.done_until;
            let end = (start + CHUNK).min(job.to);
            let batch = fetch_window(&mut client, &cfg, (start, end)).await?;
            points += batch.len() as u64;
            job.done_until = end;
            let state = cfg.save_progress.then(|| json!({ "backfill": job }));
            if !batch.is_empty() {
                link.send_points(batch, state).await?;
            } else if let Some(state) = state {
                link.save_state(state).await?;
            }
            let done = total - job.chunks(end);
            link.status(format!(
                "backfill: {done}/{total} chunks, {points} points, through {end}"
            ));
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => {
            let msg = format!("backfilled {points} points from {} to {}", job.from, job.to);
            tracing::info!("{msg}");
            link.reply(id, true, msg);
        }
        Err(e) => {
            tracing::warn!("backfill stopped at {}: {e:#}", job.done_until);
            let (tag, entity) = &cfg.tag;
            let again = if cfg.save_progress { "resume" } else { "go on" };
            link.reply(
                id,
                false,
                format!(
                    "backfill of {} {entity} from Arrigo at {} stopped at {} (run it again to {again}): {e:#}",
                    tag.trim_end_matches("_id"),
                    cfg.arrigo.base_url,
                    job.done_until
                ),
            );
        }
    }
    Some(job)
}

/// Every fetched signal's history over [from, to), merged into one point per timestamp.
async fn fetch_window(
    client: &mut Arrigo,
    cfg: &Source,
    range: (Timestamp, Timestamp),
) -> Result<Vec<Point>> {
    let fields: HashMap<&str, &str> = cfg
        .fetched()
        .map(|s| (s.signal_id.as_str(), s.field.as_str()))
        .collect();
    let mut by_time: BTreeMap<Timestamp, Point> = BTreeMap::new();
    for signal_id in fields.keys() {
        let mut after: Option<String> = None;
        loop {
            let page = page_with_retries(client, cfg, signal_id, range, after.as_deref()).await?;
            for row in page.rows {
                let (Some(field), Some(v)) = (fields.get(row.signal_id.as_str()), row.value) else {
                    continue;
                };
                if row.time < range.0 || row.time >= range.1 || !v.is_finite() {
                    continue;
                }
                let point = by_time
                    .remove(&row.time)
                    .unwrap_or_else(|| cfg.point(to_nanos(row.time)));
                by_time.insert(row.time, point.field(*field, round4(v)));
            }
            match page.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
    }
    Ok(by_time.into_values().collect())
}

/// A 500, an HTML page, cut-off JSON or a timeout is retried with backoff before giving up;
/// refused credentials are not.
async fn page_with_retries(
    client: &mut Arrigo,
    cfg: &Source,
    signal_id: &str,
    range: (Timestamp, Timestamp),
    after: Option<&str>,
) -> Result<HistoryPage> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match client
            .history_page(signal_id, range, cfg.arrigo.history_resolution_secs, after)
            .await
        {
            Ok(p) => return Ok(p),
            Err(e) if attempt < ATTEMPTS && !refused(&e) => {
                let wait = backoff(attempt, Duration::from_secs(30));
                tracing::warn!(
                    "history page failed (attempt {attempt}), retrying in {wait:?}: {e:#}"
                );
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn refused(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<LoginError>()
            .is_some_and(|l| !l.is_retryable())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_same_unfinished_range_resumes_and_anything_else_starts_afresh() {
        let (from, to) = (t("2024-01-01T00:00:00Z"), t("2025-01-01T00:00:00Z"));
        let saved = Job {
            from,
            to,
            done_until: t("2024-03-31T00:00:00Z"),
        };
        assert_eq!(Job::start(from, to, Some(&saved)), saved);
        let fresh = Job {
            from,
            to,
            done_until: from,
        };
        let done = Job {
            done_until: to,
            ..saved.clone()
        };
        assert_eq!(
            Job::start(from, to, Some(&done)),
            fresh,
            "a finished job runs again"
        );
        let other = Job::start(from, t("2024-06-01T00:00:00Z"), Some(&saved));
        assert_eq!(other.done_until, from);
        assert_eq!(Job::start(from, to, None), fresh);
        assert_eq!(fresh.chunks(from), 13, "366 days in 30-day chunks");
        let state = serde_json::json!({"backfill": saved});
        assert_eq!(Job::from_state(Some(&state)), Some(saved));
        assert_eq!(Job::from_state(Some(&serde_json::json!({}))), None);
    }
}
