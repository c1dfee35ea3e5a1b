//! The `influxdb` source: reads series from an existing InfluxDB with InfluxQL, time page by
//! time page, and stores them under the same measurement, tags and fields (Home Assistant's
//! `kWh` / `entity_id` / `value` stays as it is, which is what meter analytics read). The last
//! time read is the checkpoint, stored with the points of the page that reached it.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use hemflux_clients::influxdb::{
    quote_ident, quote_str, Answer, Auth, Influx, InfluxError, Series,
};
use hemflux_shared::config::InfluxSourceConfig;
use hemflux_shared::kinds::InfluxdbWorker;
use hemflux_shared::retry::{Backoff, RetryPolicy};
use hemflux_shared::time::to_nanos;
use hemflux_shared::{FieldValue, Point};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use crate::link::{Link, Worker};
use crate::runtime::{self, Reply, Source};

/// Points per batch to the orchestrator: well under a protocol line's limit.
const BATCH: usize = 5_000;
/// After a failure that may pass (the server is down, restarting), retry sooner than a poll.
const RETRY: RetryPolicy = RetryPolicy {
    initial: Duration::from_secs(5),
    factor: 2,
    cap: Duration::from_secs(300),
    jitter: 0.2,
};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    /// Everything before this time has been read and stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    until: Option<Timestamp>,
}

struct Reader {
    src: InfluxSourceConfig,
    client: Influx,
    link: std::sync::Arc<Link>,
    state: State,
    poll: Duration,
    backoff: Backoff,
}

pub async fn run(worker: Worker, config: InfluxdbWorker) -> Result<()> {
    let src = config.source;
    let client = Influx::new(
        &src.url,
        auth(&worker.init.secrets),
        Duration::from_secs(src.timeout_secs),
    )?;
    let state = match &worker.init.state {
        Some(v) => serde_json::from_value(v.clone()).context("the saved state")?,
        None => State::default(),
    };
    let reader = Reader {
        poll: Duration::from_secs(src.poll_interval_secs),
        backoff: RETRY.backoff(),
        src,
        client,
        link: worker.link.clone(),
        state,
    };
    runtime::drive(worker, reader).await
}

/// Why a read failed: InfluxDB's answer (which decides how soon to retry) or anything else.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("querying {url} database {database:?}")]
    Influx {
        url: String,
        database: String,
        #[source]
        source: InfluxError,
    },
    #[error(transparent)]
    Time(#[from] jiff::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Source for Reader {
    type Error = Failure;

    async fn poll(&mut self) -> Result<String, Failure> {
        let n = self.catch_up().await?;
        let until = self.state.until.map(|t| t.to_string());
        let until = until.unwrap_or_else(|| "nothing yet".into());
        Ok(format!("{n} points read; read up to {until}"))
    }

    /// After a failure that may pass, sooner than a poll, with backoff.
    fn next_delay(&mut self, outcome: &Result<String, Failure>) -> Duration {
        match outcome {
            Ok(_) => {
                self.backoff = RETRY.backoff();
                self.poll
            }
            Err(Failure::Influx { source, .. }) if source.is_transient() => {
                self.backoff.next_delay().min(self.poll)
            }
            Err(_) => self.poll,
        }
    }

    async fn sync(&mut self, _id: u64, from: Timestamp, to: Timestamp) -> Result<Reply> {
        let n = self.read(from, to, false).await?;
        Ok(Reply::Now(format!("read {n} points from {from} to {to}")))
    }

    async fn command(&mut self, name: &str, _args: Value) -> Result<Reply> {
        anyhow::bail!("an influxdb source has no command {name:?}")
    }
}

/// A token when there is one (2.x), else a user and password (1.x), else none.
fn auth(secrets: &BTreeMap<String, String>) -> Auth {
    if let Some(token) = secrets.get("token") {
        return Auth::Token(token.clone());
    }
    match (secrets.get("username"), secrets.get("password")) {
        (Some(username), Some(password)) => Auth::Basic {
            username: username.clone(),
            password: password.clone(),
        },
        _ => Auth::None,
    }
}

impl Reader {
    /// Reads from the checkpoint (less the overlap), or from the start, up to now.
    async fn catch_up(&mut self) -> Result<usize, Failure> {
        let overlap = SignedDuration::from_secs(self.src.overlap_secs as i64);
        let from = match self.state.until {
            Some(until) => until - overlap,
            None => match self.src.start_time().map_err(anyhow::Error::msg)? {
                Some(start) => start,
                None => match self.oldest().await? {
                    Some(oldest) => oldest,
                    None => return Ok(0),
                },
            },
        };
        self.read(from, Timestamp::now(), true).await
    }

    /// Reads `[from, to)` page by page; with `checkpoint`, each page moves the checkpoint.
    async fn read(
        &mut self,
        from: Timestamp,
        to: Timestamp,
        checkpoint: bool,
    ) -> Result<usize, Failure> {
        let mut page = SignedDuration::from_hours(self.src.page_hours as i64);
        let mut start = from;
        let mut read = 0;
        while start < to {
            let end = (start + page).min(to);
            let answer = self.select(start, end).await?;
            let span = end.duration_since(start);
            if answer.partial && span > SignedDuration::from_secs(1) {
                // The server's row limit cut the page: ask for half as much time.
                page = span / 2;
                continue;
            }
            let points = to_points(answer.series, &self.src.fields)
                .with_context(|| format!("reading {} from {start} to {end}", self.src.url))?;
            read += points.len();
            if checkpoint {
                self.state.until = Some(end);
            }
            self.store(points, checkpoint.then(|| self.state.clone()))
                .await?;
            start = end;
        }
        Ok(read)
    }

    /// Sends the points in batches, the checkpoint with the last one.
    async fn store(&self, mut points: Vec<Point>, state: Option<State>) -> Result<()> {
        while points.len() > BATCH {
            let rest = points.split_off(BATCH);
            self.link.send_points(points, None).await?;
            points = rest;
        }
        if points.is_empty() && state.is_none() {
            return Ok(());
        }
        let state = state.map(|s| serde_json::to_value(s).expect("state serializes"));
        self.link.send_points(points, state).await
    }

    async fn select(&self, start: Timestamp, end: Timestamp) -> Result<Answer, Failure> {
        let fields: Vec<_> = self.src.fields.iter().map(|f| quote_ident(f)).collect();
        let statement = format!(
            "SELECT {} FROM {} WHERE time >= {} AND time < {}{} GROUP BY *",
            fields.join(", "),
            self.measurements(),
            to_nanos(start),
            to_nanos(end),
            self.entity_filter(" AND "),
        );
        self.query(&statement).await
    }

    /// The time of the oldest point of the first field, in any of the measurements.
    async fn oldest(&self) -> Result<Option<Timestamp>, Failure> {
        let statement = format!(
            "SELECT first({}) FROM {}{}",
            quote_ident(&self.src.fields[0]),
            self.measurements(),
            self.entity_filter(" WHERE "),
        );
        let answer = self.query(&statement).await?;
        let oldest = answer
            .series
            .iter()
            .filter_map(|s| s.values.first()?.first()?.as_i64())
            .min();
        Ok(oldest
            .map(|ns| Timestamp::from_nanosecond(i128::from(ns)))
            .transpose()?)
    }

    async fn query(&self, statement: &str) -> Result<Answer, Failure> {
        let src = &self.src;
        self.client
            .query(&src.database, src.retention_policy.as_deref(), statement)
            .await
            .map_err(|source| Failure::Influx {
                url: src.url.clone(),
                database: src.database.clone(),
                source,
            })
    }

    fn measurements(&self) -> String {
        let names: Vec<_> = self.src.measurements.iter().map(|m| quote_ident(m)).collect();
        names.join(", ")
    }

    /// `<joiner>("entity_id" = 'a' OR ...)` when only some series are wanted.
    fn entity_filter(&self, joiner: &str) -> String {
        if self.src.entities.is_empty() {
            return String::new();
        }
        let tag = quote_ident(&self.src.tag);
        let any: Vec<_> = self
            .src
            .entities
            .iter()
            .map(|e| format!("{tag} = {}", quote_str(e)))
            .collect();
        format!("{joiner}({})", any.join(" OR "))
    }
}

/// Each row of each series as a point; numbers become floats (InfluxQL's JSON writes a float
/// 2.0 as `2`, so the two cannot be told apart), rows whose fields are all null are skipped.
fn to_points(series: Vec<Series>, fields: &[String]) -> Result<Vec<Point>> {
    let mut points = Vec::new();
    for s in series {
        let time_col = s.columns.iter().position(|c| c == "time");
        let Some(time_col) = time_col else {
            anyhow::bail!("series {:?} has no time column", s.measurement);
        };
        let columns: Vec<(usize, &String)> = s
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| fields.contains(c))
            .collect();
        for row in &s.values {
            let time = row
                .get(time_col)
                .and_then(Value::as_i64)
                .with_context(|| format!("a row of {:?} without a time in ns", s.measurement))?;
            let mut point = Point::new(s.measurement.clone(), time);
            for (key, value) in s.tags.iter().filter(|(_, v)| !v.is_empty()) {
                point = point.tag(key.clone(), value.clone());
            }
            for &(i, name) in &columns {
                let value = match row.get(i) {
                    Some(Value::Number(n)) => n.as_f64().map(FieldValue::Float),
                    Some(Value::String(s)) => Some(FieldValue::Str(s.clone())),
                    Some(Value::Bool(b)) => Some(FieldValue::Bool(*b)),
                    _ => None,
                };
                if let Some(value) = value {
                    point = point.field(name.clone(), value);
                }
            }
            if !point.fields.is_empty() {
                points.push(point);
            }
        }
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_points_with_their_tags_and_null_fields_left_out() {
        let series: Vec<Series> = serde_json::from_str(
            r#"[{"name":"kWh","tags":{"entity_id":"sensor.el","domain":""},"columns":["time","value","cost"],
                "values":[[1000,2,null],[2000,null,null],[3000,2.5,"x"]]}]"#,
        )
        .unwrap();
        let fields = ["value".to_string(), "cost".to_string()];
        let points = to_points(series, &fields).unwrap();
        assert_eq!(points.len(), 2, "the all-null row is skipped");
        assert_eq!(points[0].time, 1000);
        assert_eq!(points[0].fields["value"], FieldValue::Float(2.0));
        assert!(!points[0].fields.contains_key("cost"));
        assert_eq!(points[0].tags.len(), 1, "empty tag values are not tags");
        assert_eq!(points[1].fields["cost"], FieldValue::Str("x".into()));
    }
}
