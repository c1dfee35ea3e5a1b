//! The `house` worker: one HomeSide substation. Logs in (session token, then BMS token), reads
//! the variables every poll interval, and writes one `heating_system` point per read, stamped
//! with the source's time. Expiry (401 or an empty answer) means log in again and read again at
//! once; `Pending` values mean read again shortly (bounded); server errors are retried with
//! backoff. Commands: `set {variable, value}` writes a variable, keeping the old value in state
//! for `restore {variable?}`; `observe`, `write_curve` and `restore_curve` serve the house's
//! heat-curve controller ([`curve`]). `sync {from, to}` imports the house's history from the
//! Arrigo server named in the profile's `arrigo_history` (HomeSide itself keeps none).

pub use hemflux_clients::homeside as client;
mod curve;
mod mapping;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use hemflux_shared::config::HomesideConfig;
use hemflux_shared::kinds::HouseWorker;
use serde_json::{json, Value};
use hemflux_shared::retry::{Backoff, RetryPolicy};
use jiff::Timestamp;
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant};

use crate::arrigo_history::{self, Job};
use crate::link::{Link, Worker};
use crate::runtime::{self, Reply, Source};
use client::{BmsToken, HomesideClient, HomesideError, Session, Variable};
use mapping::{FieldMap, Snapshot};

/// A logged-in connection to one house.
struct Conn {
    session: Session,
    clientid: String,
    bms: BmsToken,
}

struct House {
    client: HomesideClient,
    cfg: HomesideConfig,
    house_id: String,
    controller: String,
    username: String,
    password: String,
    mapping: Vec<FieldMap>,
    conn: Option<Conn>,
    /// Original values of variables changed by `set`, as written back by `restore`.
    restore: BTreeMap<String, String>,
    /// The user's curve and `Adaption` while the controller's curve is on the device.
    curve_baseline: BTreeMap<String, String>,
    link: Arc<Link>,
    interval: Duration,
    /// The interval's next slot: polls that succeed keep to them.
    slot: Instant,
    retry: RetryPolicy,
    backoff: Backoff,
    history: Option<History>,
}

/// The profile's `arrigo_history`: where `sync` imports the house's past rows from.
struct History {
    source: arrigo_history::Source,
    /// The `.env` prefix of the login, for messages.
    prefix: String,
    /// Username and password; `None` when `.env` has not got them.
    login: Option<(String, String)>,
    running: Option<JoinHandle<Option<Job>>>,
}

pub async fn run(worker: Worker, config: HouseWorker) -> Result<()> {
    let HouseWorker {
        house_id,
        homeside: cfg,
        arrigo_history,
        ..
    } = config;
    let history = arrigo_history.map(|h| History {
        prefix: h
            .credential_ref
            .clone()
            .unwrap_or_else(|| format!("HOUSE_{house_id}_ARRIGO")),
        login: worker
            .init
            .secrets
            .get("arrigo_username")
            .cloned()
            .zip(worker.init.secrets.get("arrigo_password").cloned()),
        source: arrigo_history::Source {
            arrigo: h.arrigo,
            signals: h.signals,
            measurement: "heating_system",
            tag: ("house_id", house_id.clone()),
            // The worker's state holds the user's curve and restore values: not overwritten.
            save_progress: false,
        },
        running: None,
    });
    let secret = |name: &str| {
        worker.init.secrets.get(name).cloned().ok_or_else(|| {
            anyhow!(
                "init.secrets has no `{name}` (HOUSE_<id>_{} in .env)",
                name.to_uppercase()
            )
        })
    };
    let saved = |key: &str| {
        worker
            .init
            .state
            .as_ref()
            .and_then(|s| serde_json::from_value(s[key].clone()).ok())
            .unwrap_or_default()
    };
    let (restore, curve_baseline) = (saved("restore"), saved("curve_baseline"));
    let interval = Duration::from_secs(cfg.poll_interval_secs);
    let first_backoff = Duration::from_millis(cfg.retry_initial_ms);
    let retry = RetryPolicy {
        initial: first_backoff,
        factor: 2,
        cap: interval.max(first_backoff),
        jitter: 0.0,
    };
    let house = House {
        client: HomesideClient::new(&cfg.base_url, Duration::from_secs(cfg.timeout_secs))?,
        link: worker.link.clone(),
        interval,
        slot: Instant::now() + Duration::from_millis(worker.init.poll_offset_ms),
        retry,
        backoff: retry.backoff(),
        controller: cfg.controller.clone().unwrap_or_else(|| house_id.clone()),
        mapping: mapping::mapping(&cfg.variable_overrides),
        username: secret("username")?,
        password: secret("password")?,
        house_id,
        cfg,
        conn: None,
        restore,
        curve_baseline,
        history,
    };
    runtime::drive(worker, house).await
}

impl Source for House {
    type Error = anyhow::Error;

    async fn poll(&mut self) -> Result<String> {
        if let Some(point) = self.read_point().await?.0 {
            // A refused batch is reported, not fatal: exiting would only repeat it.
            if let Err(e) = self.link.send_points(vec![point], Some(self.state())).await {
                tracing::error!(house = %self.house_id, "{e:#}");
                self.link.error(format!("house {}: {e:#}", self.house_id));
            }
        } else {
            tracing::warn!(house = %self.house_id, "the read had no mapped value to store");
        }
        Ok(String::new())
    }

    /// On the interval's slots while polls succeed; after a failure, sooner, with backoff.
    fn next_delay(&mut self, outcome: &Result<String>) -> Duration {
        if outcome.is_err() {
            return self.backoff.next_delay();
        }
        self.backoff = self.retry.backoff();
        let now = Instant::now();
        while self.slot <= now {
            self.slot += self.interval;
        }
        self.slot - now
    }

    /// An error, not a status: `hemflux status` shows it until data flows again.
    fn report(&mut self, error: &anyhow::Error, next: Duration) -> Option<String> {
        let message = format!(
            "house {}: poll failed: {error:#}; retrying in {:.1} s",
            self.house_id,
            next.as_secs_f64()
        );
        tracing::warn!("{message}");
        Some(message)
    }

    /// History import from Arrigo in the background: the reply comes when it is done.
    async fn sync(&mut self, id: u64, from: Timestamp, to: Timestamp) -> Result<Reply> {
        let house = &self.house_id;
        let Some(h) = self.history.as_mut() else {
            bail!(
                "house {house} has no arrigo_history section in its profile: HomeSide keeps no \
                 history, so it is imported from the house's Arrigo server, which that section \
                 names (with the signals to import; docs/houses.md)"
            )
        };
        if h.running.as_ref().is_some_and(|r| !r.is_finished()) {
            bail!("house {house}: a backfill is already running");
        }
        let Some((username, password)) = &h.login else {
            bail!(
                "house {house}: no Arrigo login for its history: put {0}_USERNAME and \
                 {0}_PASSWORD in .env",
                h.prefix
            )
        };
        let client = h.source.client(username, password)?;
        let job = Job::start(from, to, None);
        let run = arrigo_history::run(self.link.clone(), client, h.source.clone(), id, job);
        h.running = Some(tokio::spawn(run));
        Ok(Reply::Later)
    }

    async fn command(&mut self, name: &str, args: Value) -> Result<Reply> {
        let link = self.link.clone();
        match name {
            "set" => self.set(&link, &args).await.map(Reply::Now),
            "restore" => self.restore_values(&link, &args).await.map(Reply::Now),
            "observe" => self.observe().await.map(Reply::Now),
            "write_curve" => self.write_curve(&link, &args).await.map(Reply::Now),
            "restore_curve" => self.restore_curve(&link, &args, true).await.map(Reply::Now),
            _ => bail!(
                "unknown command {name:?}: the house worker knows set, restore, observe, \
                 write_curve and restore_curve"
            ),
        }
    }

    fn finishes_on_stop(&self) -> bool {
        true
    }

    /// Stopped (shutdown, offboarding, the orchestrator gone): the user's curve goes back on the
    /// device, since only this worker can write it. The saved copy stays in the stored state (the
    /// orchestrator no longer answers), so a later restore writes it again if this fails.
    async fn stop(&mut self) -> Result<()> {
        if self.curve_baseline.is_empty() {
            return Ok(());
        }
        let link = self.link.clone();
        let message = self
            .restore_curve(&link, &Value::Null, false)
            .await
            .with_context(|| {
                format!(
                    "house {}: stopping: the user's curve was not restored",
                    self.house_id
                )
            })?;
        tracing::info!(house = %self.house_id, "stopping: {message}");
        Ok(())
    }
}

impl House {
    fn state(&self) -> Value {
        json!({ "restore": self.restore, "curve_baseline": self.curve_baseline })
    }

    async fn connect(&self) -> Result<Conn, HomesideError> {
        let session = self.client.login(&self.username, &self.password).await?;
        let entry = self.client.house(&session, &self.controller).await?;
        let bms = self.client.bms_token(&session, &entry.restapiurl).await?;
        tracing::info!(house = %self.house_id, "logged in to HomeSide");
        Ok(Conn {
            session,
            clientid: entry.restapiurl,
            bms,
        })
    }

    /// All variables, logging in again once on expiry (a 401, or the silent kind: no variables,
    /// or none of the mapped ones) so that the poll is not lost.
    async fn read(&mut self) -> Result<Vec<Variable>> {
        for attempt in 0..2 {
            let conn = match self.conn.take() {
                Some(c) => c,
                None => self.connect().await?,
            };
            let result = self
                .client
                .variables(&conn.session, &conn.clientid, &conn.bms)
                .await;
            match result {
                Ok(vars) if self.knows_any(&vars) => {
                    self.conn = Some(conn);
                    return Ok(vars);
                }
                Ok(vars) => tracing::info!(
                    house = %self.house_id, attempt, count = vars.len(),
                    "no mapped variables in the answer: the token has expired, logging in again"
                ),
                Err(e) if e.is_expiry() => tracing::info!(
                    house = %self.house_id, attempt, "{e}: logging in again"
                ),
                Err(e) => {
                    // A server error leaves the session as it is; the next try reuses it.
                    self.conn = Some(conn);
                    return Err(e.into());
                }
            }
        }
        bail!("still no variables after logging in again")
    }

    fn knows_any(&self, vars: &[Variable]) -> bool {
        let snap = Snapshot::new(&self.controller, vars);
        self.mapping.iter().any(|m| snap.for_field(m).is_some())
    }

    /// One poll: reads until fewer than half of the mapped variables are `Pending` (warm-up after
    /// a new BMS token), for at most `pending_max_ms`, then maps what is there.
    /// Returns the point with the variables it was made from.
    async fn read_point(&mut self) -> Result<(Option<hemflux_shared::Point>, Vec<Variable>)> {
        let give_up = Instant::now() + Duration::from_millis(self.cfg.pending_max_ms);
        loop {
            let vars = self.read().await?;
            let reading =
                Snapshot::new(&self.controller, &vars).reading(&self.house_id, &self.mapping);
            if reading.pending * 2 > reading.wanted && Instant::now() < give_up {
                tracing::info!(
                    house = %self.house_id, pending = reading.pending, wanted = reading.wanted,
                    "values pending: reading again shortly"
                );
                sleep(Duration::from_millis(self.cfg.pending_retry_ms)).await;
                continue;
            }
            return Ok((reading.point, vars));
        }
    }

    /// The short variable name for a field name or a variable name.
    fn resolve(&self, name: &str, vars: &[Variable]) -> Result<Variable> {
        let snap = Snapshot::new(&self.controller, vars);
        let var = match self.mapping.iter().find(|m| m.field == name) {
            Some(m) => snap.for_field(m),
            None => snap.get(name),
        };
        var.cloned()
            .ok_or_else(|| anyhow!("house {} has no variable or field {name:?}", self.house_id))
    }

    async fn set(&mut self, link: &Link, args: &Value) -> Result<String> {
        let name = args["variable"]
            .as_str()
            .context("set needs args {\"variable\": ..., \"value\": ...}")?;
        let text = mapping::to_write_text(&args["value"])
            .context("set needs a number, bool or string value")?;
        let vars = self.read().await?;
        let var = self.resolve(name, &vars)?;
        let short = var.variable[self.controller.len() + 1..].to_string();
        if !self.restore.contains_key(&short) {
            let old = mapping::to_write_text(&var.value)
                .with_context(|| format!("{short} has no current value to keep for restore"))?;
            self.restore.insert(short.clone(), old);
            // Durable before the write: a crash after it can still restore.
            link.save_state(self.state()).await?;
        }
        self.write_and_check(&var, &text).await?;
        Ok(format!(
            "{short} = {text} (restore keeps {})",
            self.restore[&short]
        ))
    }

    async fn restore_values(&mut self, link: &Link, args: &Value) -> Result<String> {
        let names: Vec<String> = match args["variable"].as_str() {
            Some(n) => vec![n.to_string()],
            None => self.restore.keys().cloned().collect(),
        };
        let vars = self.read().await?;
        let mut done = Vec::new();
        for name in names {
            let var = self.resolve(&name, &vars)?;
            let short = var.variable[self.controller.len() + 1..].to_string();
            let old = self
                .restore
                .get(&short)
                .cloned()
                .with_context(|| format!("nothing to restore for {short}"))?;
            self.write_and_check(&var, &old).await?;
            self.restore.remove(&short);
            link.save_state(self.state()).await?;
            done.push(format!("{short} = {old}"));
        }
        Ok(format!("restored {}", done.join(", ")))
    }

    /// Writes by path, then reads back until the value is there.
    async fn write_and_check(&mut self, var: &Variable, text: &str) -> Result<()> {
        self.write_one(var, text).await?;
        self.read_back(&[(var.clone(), text.to_string())]).await
    }
}

fn same_value(read: &Value, written: &str) -> bool {
    match (read, written.parse::<f64>()) {
        (Value::Number(n), Ok(w)) => n.as_f64().is_some_and(|r| (r - w).abs() < 0.05),
        (Value::Bool(b), _) => written.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        (Value::String(s), _) => s == written,
        _ => false,
    }
}
