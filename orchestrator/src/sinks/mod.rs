//! Sinks: each forwards the store's points, in order, from its own durable cursor.
//!
//! A sink is anything that implements [`Sink`] (send one batch). The [`runner`] around it does the
//! rest, the same for every kind: read the next batch after the cursor, send it, retry with
//! backoff, set aside what the server refuses as bad data, advance the cursor durably.

mod runner;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hemflux_shared::retry::RetryPolicy;
use hemflux_shared::Point;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::Store;
pub use runner::Batching;

/// Registers the sink kinds. Each line is one file of this folder and the kinds it defines:
/// `"type" => Variant(ConfigType)`, the config type implementing [`KindConfig`]. That line makes
/// the module, the [`Kind`] variant (so `[[sinks]]` accepts the `type`) and its dispatch.
macro_rules! sink_kinds {
    ($( $(#[$doc:meta])* mod $module:ident { $( $name:literal => $variant:ident($config:ident) ),+ } )+) => {
        $( $(#[$doc])* pub mod $module; pub use $module::{$($config),+}; )+

        /// A `[[sinks]]` entry's kind-specific settings; `type` picks the kind.
        #[derive(Debug, Clone, Deserialize)]
        #[serde(tag = "type")]
        pub enum Kind {
            $( $( #[serde(rename = $name)] $variant($config), )+ )+
        }

        impl Kind {
            /// The `type`.
            pub fn name(&self) -> &'static str {
                match self { $( $( Kind::$variant(_) => $name, )+ )+ }
            }

            fn defaults(&self) -> Batching {
                match self { $( $( Kind::$variant(_) => <$config as KindConfig>::BATCH, )+ )+ }
            }

            fn spawn(&self, ctx: runner::Context) -> Result<JoinHandle<()>> {
                Ok(match self {
                    $( $( Kind::$variant(c) => tokio::spawn(runner::run(c.build()?, ctx)), )+ )+
                })
            }

            async fn delete_by_tag(&self, key: &str, value: &str) -> Option<Result<()>> {
                match self {
                    $( $( Kind::$variant(c) => c.delete_by_tag(key, value).await, )+ )+
                }
            }
        }

        $( $( impl From<$config> for SinkConfig {
            fn from(c: $config) -> SinkConfig {
                SinkConfig { name: None, batch: BatchSettings::default(), kind: Kind::$variant(c) }
            }
        } )+ )+
    };
}

sink_kinds! {
    /// InfluxDB v2 write API (`/api/v2/write`: InfluxDB 1.8+, 2.x, 3.x, VictoriaMetrics) and v1
    /// (`/write`) for 1.x servers.
    mod influx { "influxdb_v2" => InfluxdbV2(InfluxV2Config), "influxdb_v1" => InfluxdbV1(InfluxV1Config) }
    /// A local file: CSV with a header, JSON lines or YAML.
    mod file { "file" => File(FileConfig) }
    /// An HTTP endpoint that receives each point as a JSON object.
    mod webhook { "webhook" => Webhook(WebhookConfig) }
    /// The orchestrator's standard output.
    mod stdout { "stdout" => Stdout(StdoutConfig) }
}

/// One kind's settings (what `[[sinks]]` says beside `type`, `name` and the [`BatchSettings`]);
/// they build the kind's [`Sink`].
pub trait KindConfig {
    type Sink: Sink;
    /// This kind's batching when `[[sinks]]` does not say.
    const BATCH: Batching = Batching::DEFAULT;

    /// The sink, checked: a bad URL or secret is an error here, before anything runs.
    fn build(&self) -> Result<Self::Sink>;

    /// Deletes every point tagged `key=value` at the destination (offboarding); `None` when
    /// the kind cannot (what was written to a file or posted is out of our hands).
    fn delete_by_tag(
        &self,
        _key: &str,
        _value: &str,
    ) -> impl Future<Output = Option<Result<()>>> + Send {
        async { None }
    }
}

/// The settings every `[[sinks]]` entry accepts, whatever its kind; unset ones take the kind's
/// defaults ([`KindConfig::BATCH`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
pub struct BatchSettings {
    /// At most this many points per request.
    pub batch_size: Option<usize>,
    /// A partial batch waits at most this long for more points.
    pub flush_interval_ms: Option<u64>,
    /// After a failed send the wait doubles from 0.5 s up to this.
    pub retry_max_ms: Option<u64>,
}

/// One `[[sinks]]` entry in hemflux.toml. The common settings are stated here once; the rest
/// goes to the kind's config, which refuses keys it does not know (so does this struct, through
/// it: `flatten` hands the kind every key not taken here).
#[derive(Debug, Clone, Deserialize)]
pub struct SinkConfig {
    /// The sink's name, default its `type`: its key for the cursor, so renaming a sink starts it
    /// from the beginning.
    pub name: Option<String>,
    #[serde(flatten)]
    pub batch: BatchSettings,
    #[serde(flatten)]
    pub kind: Kind,
}

impl SinkConfig {
    /// The sink's name: its key for the cursor, so renaming a sink starts it from the beginning.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(self.kind.name())
    }

    pub fn kind(&self) -> &'static str {
        self.kind.name()
    }

    /// This config with a name.
    pub fn named(self, name: &str) -> SinkConfig {
        SinkConfig {
            name: Some(name.into()),
            ..self
        }
    }

    fn batching(&self) -> Batching {
        let d = self.kind.defaults();
        let b = &self.batch;
        Batching {
            size: b.batch_size.unwrap_or(d.size).max(1),
            interval: b
                .flush_interval_ms
                .map_or(d.interval, Duration::from_millis),
            retry: RetryPolicy {
                cap: b.retry_max_ms.map_or(d.retry.cap, Duration::from_millis),
                ..d.retry
            },
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
    let config = SinkConfig::from(InfluxV2Config {
        url,
        org: var("INFLUXDB_ORG")?,
        bucket: var("INFLUXDB_BUCKET")?,
        token: Some(var("INFLUXDB_TOKEN")?),
        ..InfluxV2Config::default()
    });
    Ok(Some(config.named(ENV_SINK)))
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
#[derive(Debug, Clone, Default, Serialize)]
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
                ..SinkStatus::default()
            }));
            let ctx = runner::Context {
                name: config.name().to_string(),
                store: store.clone(),
                batching: config.batching(),
                status: status.clone(),
                stop: stopped.clone(),
            };
            let task = config
                .kind
                .spawn(ctx)
                .with_context(|| format!("sink {:?}", config.name()))?;
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
        if let Some(result) = config.kind.delete_by_tag(key, value).await {
            outcomes.push((config.name().to_string(), result));
        }
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
    fn every_kind_takes_the_batch_settings_and_typos_stay_errors() {
        let kinds = [
            "type = \"influxdb_v2\"\nurl = \"http://x\"\norg = \"o\"\nbucket = \"b\"",
            "type = \"influxdb_v1\"\nurl = \"http://x\"\ndb = \"d\"",
            "type = \"file\"\npath = \"out.csv\"",
            "type = \"webhook\"\nurl = \"http://x\"",
            "type = \"stdout\"",
        ];
        for kind in kinds {
            let batched =
                format!("{kind}\nbatch_size = 7\nflush_interval_ms = 9\nretry_max_ms = 1000");
            let b = toml::from_str::<SinkConfig>(&batched).unwrap().batching();
            assert_eq!(
                (b.size, b.interval, b.retry.cap),
                (7, Duration::from_millis(9), Duration::from_secs(1)),
                "{kind}"
            );
            let err = toml::from_str::<File>(&format!("[[sinks]]\n{kind}\nbatch_sise = 7"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("unknown field `batch_sise`"), "{kind}: {err}");
        }
        let defaults = |kind: &str| toml::from_str::<SinkConfig>(kind).unwrap().batching();
        assert_eq!(defaults(kinds[0]).size, 5000);
        assert_eq!(defaults(kinds[4]).size, 500);
        assert_eq!(defaults(kinds[4]).retry, Batching::DEFAULT.retry);
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
        let Kind::InfluxdbV2(c) = from_vars(vars(&[
            ("INFLUXDB_URL", "http://influx:8086"),
            ("INFLUX_TOKEN", "t4"),
            ("INFLUX_ORG", "o4"),
            ("INFLUXDB_BUCKET", "lampfi"),
        ]))
        .unwrap()
        .unwrap()
        .kind
        else {
            panic!("a v2 sink")
        };
        assert_eq!((c.token.as_deref(), c.org.as_str()), (Some("t4"), "o4"));
    }

    #[test]
    fn duplicate_names_are_refused() {
        let c = SinkConfig::from(InfluxV1Config {
            url: "http://127.0.0.1:1".into(),
            db: "d".into(),
            ..InfluxV1Config::default()
        });
        let err = all_configs(&[c.clone(), c]).unwrap_err().to_string();
        assert!(err.contains("two sinks are named \"influxdb_v1\""), "{err}");
    }
}
