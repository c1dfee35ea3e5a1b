//! Sinks: each forwards the store's points, in order, from its own durable cursor.
//!
//! A sink is anything that implements [`Sink`] (send one batch). The [`runner`] around it does the
//! rest, the same for every kind: read the next batch after the cursor, send it, retry with
//! backoff, set aside what the server refuses as bad data, advance the cursor durably.

mod file;
mod influx;
mod runner;
mod stdout;
mod webhook;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hemflux_shared::Point;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::Store;
pub use file::{FileConfig, Format};
pub use influx::{InfluxV1Config, InfluxV2Config, Precision};
use runner::Batching;
pub use stdout::StdoutConfig;
pub use webhook::WebhookConfig;

/// One `[[sinks]]` entry in hemflux.toml; `type` picks the kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkConfig {
    /// InfluxDB v2 write API (`/api/v2/write`): InfluxDB 1.8+, 2.x, 3.x, VictoriaMetrics.
    InfluxdbV2(InfluxV2Config),
    /// InfluxDB v1 write API (`/write`) for 1.x servers.
    InfluxdbV1(InfluxV1Config),
    /// A local file: CSV with a header, JSON lines or YAML.
    File(FileConfig),
    /// An HTTP endpoint that receives each point as a JSON object.
    Webhook(WebhookConfig),
    /// The orchestrator's standard output.
    Stdout(StdoutConfig),
}

impl SinkConfig {
    /// The sink's name: its key for the cursor, so renaming a sink starts it from the beginning.
    pub fn name(&self) -> &str {
        match self {
            SinkConfig::InfluxdbV2(c) => c.name.as_deref().unwrap_or("influxdb_v2"),
            SinkConfig::InfluxdbV1(c) => c.name.as_deref().unwrap_or("influxdb_v1"),
            SinkConfig::File(c) => c.name.as_deref().unwrap_or("file"),
            SinkConfig::Webhook(c) => c.name.as_deref().unwrap_or("webhook"),
            SinkConfig::Stdout(c) => c.name.as_deref().unwrap_or("stdout"),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::InfluxdbV2(_) => "influxdb_v2",
            SinkConfig::InfluxdbV1(_) => "influxdb_v1",
            SinkConfig::File(_) => "file",
            SinkConfig::Webhook(_) => "webhook",
            SinkConfig::Stdout(_) => "stdout",
        }
    }

    fn batching(&self) -> Batching {
        let (size, interval) = match self {
            SinkConfig::InfluxdbV2(c) => (c.batch_size, c.flush_interval_ms),
            SinkConfig::InfluxdbV1(c) => (c.batch_size, c.flush_interval_ms),
            SinkConfig::File(c) => (c.batch_size, c.flush_interval_ms),
            SinkConfig::Webhook(c) => (c.batch_size, c.flush_interval_ms),
            SinkConfig::Stdout(c) => (c.batch_size, c.flush_interval_ms),
        };
        Batching {
            size: size.max(1),
            interval: Duration::from_millis(interval),
        }
    }
}

/// The name of the sink built from `INFLUXDB_*` variables.
pub const ENV_SINK: &str = "influxdb-env";

/// The InfluxDB v2 sink our users configure today with `INFLUXDB_URL`, `INFLUXDB_TOKEN`,
/// `INFLUXDB_ORG` and `INFLUXDB_BUCKET`, looked up with `get` (e.g. `.env`, then the process
/// environment); `None` when `INFLUXDB_URL` is not set. Seed 004's `INFLUX_TOKEN` and
/// `INFLUX_ORG` stand in for the token and org.
pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Option<SinkConfig>> {
    let Some(url) = get("INFLUXDB_URL").filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let var = |name: &str| {
        let seed_004 = name.replace("INFLUXDB_", "INFLUX_");
        get(name)
            .or_else(|| get(&seed_004).filter(|_| name != "INFLUXDB_BUCKET"))
            .with_context(|| {
                format!(
                    "INFLUXDB_URL is set but {name} is not (both are needed for the InfluxDB sink)"
                )
            })
    };
    Ok(Some(SinkConfig::InfluxdbV2(InfluxV2Config {
        name: Some(ENV_SINK.into()),
        url,
        org: var("INFLUXDB_ORG")?,
        bucket: var("INFLUXDB_BUCKET")?,
        token: Some(var("INFLUXDB_TOKEN")?),
        ..InfluxV2Config::default()
    })))
}

/// The configured sinks plus the one from the process environment (unless `configs` already has
/// one named [`ENV_SINK`], e.g. built by [`from_vars`] from `.env`), checked: names unique.
pub fn all_configs(configs: &[SinkConfig]) -> Result<Vec<SinkConfig>> {
    let mut all = configs.to_vec();
    if !all.iter().any(|c| c.name() == ENV_SINK) {
        all.extend(from_vars(|k| std::env::var(k).ok())?);
    }
    let mut names = std::collections::BTreeSet::new();
    for c in &all {
        if !names.insert(c.name()) {
            bail!(
                "two sinks are named {:?}; give each [[sinks]] entry its own `name`",
                c.name()
            );
        }
    }
    Ok(all)
}

/// Why a batch did not arrive.
#[derive(Debug)]
pub enum SendError {
    /// The server refused the data itself (a 4xx other than auth and rate limit): sending it
    /// again cannot help. The runner narrows it down to the bad points and sets them aside.
    Rejected(String),
    /// Anything else (down, auth, rate limit, 5xx): retried with backoff, forever.
    Failed(String),
}

/// A destination for points. Small on purpose: a file, webhook or MQTT sink fits it too.
pub trait Sink: Send + 'static {
    /// Delivers `points` (in store order). Must be idempotent: after a crash a batch may be sent
    /// again.
    fn send(&mut self, points: &[Point]) -> impl Future<Output = Result<(), SendError>> + Send;
}

/// What `/api/sinks` and `/metrics` show of one sink.
#[derive(Debug, Clone, Serialize)]
pub struct SinkStatus {
    pub name: String,
    pub kind: String,
    /// The seq of the last point forwarded (or set aside).
    pub cursor: u64,
    pub points_behind: u64,
    /// How long ago the oldest point not yet forwarded was stored.
    pub oldest_unsent_age_secs: Option<f64>,
    /// What keeps the sink from forwarding now; cleared when a send succeeds again.
    pub error: Option<String>,
    /// The most recent problem, kept after recovery, with its time (RFC 3339).
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    /// Points forwarded since start.
    pub points_sent: u64,
    /// Points the server refused as bad data since start (kept in the store's `rejected_batches`).
    pub points_rejected: u64,
}

impl SinkStatus {
    /// A problem that stops forwarding until it passes.
    fn failing(&mut self, error: String) {
        self.error = Some(error.clone());
        self.noted(error);
    }

    /// A problem worth keeping that does not stop forwarding (a point set aside).
    fn noted(&mut self, error: String) {
        self.last_error = Some(error);
        self.last_error_at = Some(jiff::Timestamp::now().to_string());
    }
}

struct Running {
    status: Arc<Mutex<SinkStatus>>,
    task: JoinHandle<()>,
}

/// The running sinks.
pub struct Sinks {
    running: Vec<Running>,
    stop: watch::Sender<bool>,
}

impl Sinks {
    /// Starts one task per configured sink (plus one from the INFLUXDB_* environment, if set).
    /// A bad URL or secret is an error here, before anything runs.
    pub fn start(store: &Store, configs: &[SinkConfig]) -> Result<Sinks> {
        let configs = all_configs(configs)?;
        let (stop, stopped) = watch::channel(false);
        let mut running = Vec::new();
        for config in &configs {
            let status = Arc::new(Mutex::new(SinkStatus {
                name: config.name().to_string(),
                kind: config.kind().to_string(),
                cursor: 0,
                points_behind: 0,
                oldest_unsent_age_secs: None,
                error: None,
                last_error: None,
                last_error_at: None,
                points_sent: 0,
                points_rejected: 0,
            }));
            let ctx = runner::Context {
                name: config.name().to_string(),
                store: store.clone(),
                batching: config.batching(),
                status: status.clone(),
                stop: stopped.clone(),
            };
            let what = || format!("sink {:?}", config.name());
            let task = match config {
                SinkConfig::InfluxdbV2(c) => {
                    tokio::spawn(runner::run(influx::Writer::v2(c).with_context(what)?, ctx))
                }
                SinkConfig::InfluxdbV1(c) => {
                    tokio::spawn(runner::run(influx::Writer::v1(c).with_context(what)?, ctx))
                }
                SinkConfig::File(c) => tokio::spawn(runner::run(file::FileSink::new(c), ctx)),
                SinkConfig::Webhook(c) => tokio::spawn(runner::run(
                    webhook::WebhookSink::new(c).with_context(what)?,
                    ctx,
                )),
                SinkConfig::Stdout(c) => tokio::spawn(runner::run(stdout::StdoutSink::new(c), ctx)),
            };
            running.push(Running { status, task });
        }
        Ok(Sinks { running, stop })
    }

    pub fn status(&self) -> Vec<SinkStatus> {
        self.running
            .iter()
            .map(|r| {
                r.status
                    .lock()
                    .map(|s| s.clone())
                    .unwrap_or_else(|e| e.into_inner().clone())
            })
            .collect()
    }

    /// Stops the tasks, letting each finish the batch it is sending (bounded: 2 s, then they are
    /// cut off; a batch cut off is sent again at the next start, which is harmless).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        for r in self.running {
            let abort = r.task.abort_handle();
            if tokio::time::timeout_at(deadline, r.task).await.is_err() {
                abort.abort();
            }
        }
    }
}

/// Deletes every point carrying tag `key=value` from every sink that can delete (offboarding).
/// Returns each sink's name with its outcome; one failing sink does not stop the others.
pub async fn delete_by_tag(
    configs: &[SinkConfig],
    key: &str,
    value: &str,
) -> Result<Vec<(String, Result<()>)>> {
    let mut outcomes = Vec::new();
    for config in all_configs(configs)? {
        let result = match &config {
            SinkConfig::InfluxdbV2(c) => influx::delete_v2(c, key, value).await,
            SinkConfig::InfluxdbV1(c) => influx::delete_v1(c, key, value).await,
            // What was written or posted is out of our hands.
            SinkConfig::File(_) | SinkConfig::Webhook(_) | SinkConfig::Stdout(_) => continue,
        };
        outcomes.push((config.name().to_string(), result));
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        sinks: Vec<SinkConfig>,
    }

    #[test]
    fn both_kinds_parse_and_unknown_keys_are_errors() {
        let file: File = toml::from_str(
            r#"
            [[sinks]]
            type = "influxdb_v2"
            url = "http://localhost:8086"
            org = "o"
            bucket = "b"
            token_file = "/run/secrets/influx"
            [[sinks]]
            type = "influxdb_v1"
            name = "old"
            url = "http://localhost:8087"
            db = "energy"
            rp = "autogen"
            precision = "s"
            gzip = false
            "#,
        )
        .unwrap();
        assert_eq!(file.sinks[0].name(), "influxdb_v2");
        assert_eq!(file.sinks[1].name(), "old");
        let err = toml::from_str::<File>(
            "[[sinks]]\ntype = \"influxdb_v1\"\nurl = \"http://x\"\ndb = \"d\"\nbucket = \"b\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `bucket`"), "{err}");
        let err = toml::from_str::<File>("[[sinks]]\ntype = \"influx\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant"), "{err}");
    }

    #[test]
    fn influxdb_variables_make_a_v2_sink_and_half_of_them_is_an_error() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(from_vars(vars(&[])).unwrap().is_none());
        let sink = from_vars(vars(&[
            ("INFLUXDB_URL", "http://influx:8086"),
            ("INFLUXDB_TOKEN", "t"),
            ("INFLUXDB_ORG", "o"),
            ("INFLUXDB_BUCKET", "b"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((sink.name(), sink.kind()), (ENV_SINK, "influxdb_v2"));
        let err = from_vars(vars(&[
            ("INFLUXDB_URL", "http://influx:8086"),
            ("INFLUXDB_TOKEN", "t"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("INFLUXDB_ORG"), "{err}");
        // Seed 004's names for the token and org.
        let SinkConfig::InfluxdbV2(c) = from_vars(vars(&[
            ("INFLUXDB_URL", "http://influx:8086"),
            ("INFLUX_TOKEN", "t4"),
            ("INFLUX_ORG", "o4"),
            ("INFLUXDB_BUCKET", "lampfi"),
        ]))
        .unwrap()
        .unwrap() else {
            panic!("a v2 sink")
        };
        assert_eq!((c.token.as_deref(), c.org.as_str()), (Some("t4"), "o4"));
    }

    #[test]
    fn duplicate_names_are_refused() {
        let c = SinkConfig::InfluxdbV1(InfluxV1Config {
            url: "http://127.0.0.1:1".into(),
            db: "d".into(),
            ..InfluxV1Config::default()
        });
        let err = all_configs(&[c.clone(), c]).unwrap_err().to_string();
        assert!(err.contains("two sinks are named \"influxdb_v1\""), "{err}");
    }
}
