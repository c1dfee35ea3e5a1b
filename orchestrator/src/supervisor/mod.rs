//! The supervisor: one task that owns every worker slot. It starts, stops and restarts worker
//! processes as the config asks, restarts crashed ones with backoff, kills silent ones, and
//! answers the HTTP API. Everything arrives as a message, so there is no shared mutable state.

mod backoff;
mod child;
pub mod process;
mod reads;
mod slot;

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use hemflux_shared::config::{ConfigError, WorkerSpec};
use hemflux_shared::kinds::controller::{house_worker_id, may_ask};
use hemflux_shared::protocol::{FromWorker, ToWorker};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use crate::reconcile::{self, Fingerprints};
use crate::secrets::Secrets;
use crate::settings::SupervisorSettings;
use crate::store::Store;
use child::Heard;
use process::{Exit, Launcher};
use slot::{AfterStop, Slot};
pub use slot::{WorkerState, WorkerView};

/// Process starts per turn of the supervisor loop (a tick is 100 ms).
const STARTS_PER_TICK: usize = 32;

/// Requests to the supervisor.
pub enum Request {
    /// The config folders or `.env` changed: this is what they ask for now.
    Desired {
        specs: Vec<WorkerSpec>,
        errors: Vec<ConfigError>,
        secrets: Secrets,
    },
    Restart {
        id: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// A `sync` or `command` for one worker; answered with the worker's reply.
    Ask {
        id: String,
        msg: Ask,
        reply: oneshot::Sender<Result<String, String>>,
    },
    Snapshot {
        reply: oneshot::Sender<Snapshot>,
    },
    /// Stop every worker and return.
    Shutdown,
}

pub enum Ask {
    Sync { from: String, to: String },
    Command { name: String, args: Value },
}

#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub workers: Vec<WorkerView>,
    pub config_errors: Vec<String>,
    pub bad_lines: u64,
    pub messages: u64,
}

/// Whether the supervisor still takes requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    /// Every worker was told to stop at `since`; no more requests.
    ShuttingDown {
        since: Instant,
    },
}

pub struct Supervisor {
    settings: SupervisorSettings,
    worker_bin: PathBuf,
    store: Store,
    launcher: Launcher,
    slots: BTreeMap<String, Slot>,
    config_errors: Vec<String>,
    bad_lines: u64,
    messages: u64,
    next_ask: u64,
    /// Workers started by the first reconcile spread their first poll; later ones start at once.
    first_reconcile: bool,
    heard_tx: mpsc::UnboundedSender<(i32, Heard)>,
    /// A hash of every worker's state and error, published when it changes (the web UI's
    /// live overview waits on it instead of polling).
    states: watch::Sender<u64>,
}

impl Supervisor {
    pub fn new(
        settings: SupervisorSettings,
        worker_bin: PathBuf,
        store: Store,
    ) -> Result<(Self, mpsc::UnboundedReceiver<(i32, Heard)>)> {
        let (heard_tx, heard_rx) = mpsc::unbounded_channel();
        let sup = Supervisor {
            settings,
            worker_bin,
            store,
            launcher: Launcher::start()?,
            slots: BTreeMap::new(),
            config_errors: Vec::new(),
            bad_lines: 0,
            messages: 0,
            next_ask: 1,
            first_reconcile: true,
            heard_tx,
            states: watch::channel(0).0,
        };
        Ok((sup, heard_rx))
    }

    /// Changes whenever a worker's state or error changes (checked every tick, 100 ms).
    pub fn state_changes(&self) -> watch::Receiver<u64> {
        self.states.subscribe()
    }

    /// Runs until a `Shutdown` request has stopped every worker (bounded by two stop graces).
    pub async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        mut heard: mpsc::UnboundedReceiver<(i32, Heard)>,
    ) {
        let (exit_tx, mut exits) = mpsc::unbounded_channel();
        if let Err(e) = process::start_reaper(exit_tx) {
            tracing::error!("cannot reap children: {e:#}");
        }
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut phase = Phase::Serving;
        loop {
            tokio::select! {
                req = requests.recv(), if phase == Phase::Serving => match req {
                    Some(req) => phase = self.handle(req).await,
                    None => phase = self.stop_all(),
                },
                Some(exit) = exits.recv() => self.exited(exit).await,
                Some((pid, h)) = heard.recv() => self.heard(pid, h),
                _ = tick.tick() => self.tick().await,
            }
            if let Phase::ShuttingDown { since } = phase {
                let hard_limit = slot::stop_grace(&self.settings) * 2 + Duration::from_millis(500);
                if self.slots.is_empty() || since.elapsed() > hard_limit {
                    for slot in self.slots.values() {
                        slot.kill_now();
                    }
                    return;
                }
            }
        }
    }

    /// Stops every worker for good.
    fn stop_all(&mut self) -> Phase {
        tracing::info!(workers = self.slots.len(), "stopping every worker");
        for slot in self.slots.values_mut() {
            slot.stop(AfterStop::Remove, Instant::now(), &self.settings);
        }
        self.drop_gone();
        Phase::ShuttingDown {
            since: Instant::now(),
        }
    }

    /// Handles one request; a `Shutdown` begins the shutdown.
    async fn handle(&mut self, req: Request) -> Phase {
        match req {
            Request::Shutdown => return self.stop_all(),
            Request::Desired {
                specs,
                errors,
                secrets,
            } => self.reconcile(specs, errors, &secrets).await,
            Request::Restart { id, reply } => {
                let result = match self.slots.get_mut(&id) {
                    Some(slot) => {
                        slot.crashes.reset();
                        if slot.is_running() {
                            slot.stop(AfterStop::Start, Instant::now(), &self.settings);
                        } else {
                            slot.next_start = Some(Instant::now());
                        }
                        Ok(())
                    }
                    None => Err(format!("no worker {id:?}")),
                };
                let _ = reply.send(result);
            }
            Request::Ask { id, msg, reply } => {
                let ask_id = self.next_ask;
                self.next_ask += 1;
                let Some(slot) = self.slots.get_mut(&id) else {
                    let _ = reply.send(Err(format!("no worker {id:?}")));
                    return Phase::Serving;
                };
                let msg = match msg {
                    Ask::Sync { from, to } => ToWorker::Sync {
                        id: ask_id,
                        from,
                        to,
                    },
                    Ask::Command { name, args } => ToWorker::Command {
                        id: ask_id,
                        name,
                        args,
                    },
                };
                slot.ask(ask_id, msg, reply);
            }
            Request::Snapshot { reply } => {
                let _ = reply.send(self.snapshot());
            }
        }
        Phase::Serving
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            workers: self.slots.values().map(Slot::view).collect(),
            config_errors: self.config_errors.clone(),
            bad_lines: self.bad_lines,
            messages: self.messages,
        }
    }

    async fn reconcile(
        &mut self,
        specs: Vec<WorkerSpec>,
        errors: Vec<ConfigError>,
        secrets: &Secrets,
    ) {
        self.config_errors = errors.iter().map(ToString::to_string).collect();
        let mut desired_specs = BTreeMap::new();
        let mut desired: Fingerprints = BTreeMap::new();
        for spec in specs {
            let resolved = secrets.resolve(&spec.secrets);
            let fingerprint = crate::configset::hash_of((
                spec.config.to_value().to_string(),
                &resolved.values,
                &resolved.missing,
            ));
            desired.insert(spec.id.clone(), fingerprint);
            desired_specs.insert(spec.id.clone(), (spec, resolved, fingerprint));
        }
        let running: Fingerprints = self
            .slots
            .iter()
            .filter(|(_, s)| !s.removing())
            .map(|(id, s)| (id.clone(), s.fingerprint))
            .collect();
        let plan = reconcile::plan(&desired, &running);
        // Only the fleet present at start-up is staggered, even if that fleet is empty.
        let staggered = std::mem::replace(&mut self.first_reconcile, false);
        if plan.is_empty() {
            return;
        }
        tracing::info!(
            start = plan.start.len(),
            stop = plan.stop.len(),
            restart = plan.restart.len(),
            "reconciling workers"
        );
        let now = Instant::now();
        for id in &plan.stop {
            if let Some(slot) = self.slots.get_mut(id) {
                tracing::info!(worker = %id, kind = %slot.spec.kind(), EventType = "WorkerStopping", "config gone: stopping");
                slot.stop(AfterStop::Remove, now, &self.settings);
            }
        }
        for id in &plan.stop {
            self.restore_curve_without_controller(id, &plan.stop);
        }
        self.drop_gone();
        for (i, id) in plan.start.iter().enumerate() {
            let Some((spec, resolved, fingerprint)) = desired_specs.remove(id) else {
                continue;
            };
            let offset = if staggered {
                reconcile::stagger_offset(i, plan.start.len(), self.settings.stagger_ms)
            } else {
                0
            };
            // A slot may still be stopping from an earlier removal: replace it once it is down.
            if let Some(old) = self.slots.get_mut(id) {
                old.replace_with(spec, resolved, fingerprint, now, &self.settings);
                continue;
            }
            let mut slot = Slot::new(spec, resolved, fingerprint, offset);
            slot.next_start = Some(now);
            self.slots.insert(id.clone(), slot);
        }
        for id in &plan.restart {
            let Some((spec, resolved, fingerprint)) = desired_specs.remove(id) else {
                continue;
            };
            if let Some(slot) = self.slots.get_mut(id) {
                tracing::info!(worker = %id, kind = %slot.spec.kind(), EventType = "ConfigChanged", "config changed: restarting");
                slot.replace_with(spec, resolved, fingerprint, now, &self.settings);
            }
        }
        self.start_due().await;
    }

    /// Forgets slots that were asked to go and have no process (failed, waiting in backoff).
    fn drop_gone(&mut self) {
        self.slots.retain(|id, s| {
            let keep = !s.gone || s.is_running();
            if !keep {
                tracing::info!(worker = %id, kind = %s.spec.kind(), EventType = "WorkerRemoved", "config gone: removed");
            }
            keep
        });
    }

    /// Starts workers whose time has come, at most [`STARTS_PER_TICK`] at a time: a fleet of a
    /// thousand starts over a few ticks, and the API stays responsive meanwhile.
    async fn start_due(&mut self) {
        let now = Instant::now();
        let due: Vec<String> = self
            .slots
            .iter()
            .filter(|(_, s)| s.start_due(now))
            .map(|(id, _)| id.clone())
            .take(STARTS_PER_TICK)
            .collect();
        for id in due {
            self.start(&id).await;
        }
    }

    async fn start(&mut self, id: &str) {
        let Some(slot) = self.slots.get_mut(id) else {
            return;
        };
        slot.next_start = None;
        if !slot.missing.is_empty() {
            slot.fail_config(format!(
                "missing credentials: {} (add them to .env)",
                slot.missing.join(", ")
            ));
            return;
        }
        let state = match self.store.load_state(id) {
            Ok(s) => s,
            Err(e) => {
                slot.set_error(format!("cannot load saved state: {e:#}"));
                slot.next_start = Some(Instant::now() + Duration::from_secs(5));
                return;
            }
        };
        let req = process::SpawnRequest {
            program: self.worker_bin.clone(),
            args: vec![slot.spec.kind().as_str().into(), id.to_string()],
            env: worker_env(),
        };
        match self.launcher.spawn(req).await {
            Ok(spawned) => {
                let pid = spawned.pid;
                let stdin = child::attach(
                    spawned,
                    id.to_string(),
                    slot.spec.kind().as_str(),
                    self.store.clone(),
                    reads::Reads::new(id.to_string(), slot.spec.config.reads(), self.store.clone()),
                    self.heard_tx.clone(),
                );
                stdin.send(&ToWorker::Init(Box::new(
                    slot.init(state, self.settings.heartbeat_ms),
                )));
                tracing::info!(worker = %id, kind = %slot.spec.kind(), pid, EventType = "WorkerStarted", "started");
                slot.started(pid, stdin, Instant::now());
            }
            Err(e) => {
                tracing::error!(worker = %id, kind = %slot.spec.kind(), EventType = "WorkerStartFailed", "cannot start {}: {e}", self.worker_bin.display());
                let verdict = slot.crashes.crashed(
                    Instant::now(),
                    Duration::ZERO,
                    &self.settings,
                    fastrand::f64(),
                );
                slot.after_crash(
                    verdict,
                    format!("cannot start: {e}"),
                    Instant::now(),
                    &self.settings,
                );
            }
        }
    }

    /// A controller removed from a profile whose house stays: the house worker, which holds the
    /// session, puts the user's curve back (when its own house goes too, it does so as it stops).
    fn restore_curve_without_controller(&mut self, gone: &str, stopping: &[String]) {
        let Some(house_id) = gone.strip_prefix("controller:") else {
            return;
        };
        let house = house_worker_id(house_id);
        if stopping.contains(&house) {
            return;
        }
        let Some(slot) = self.slots.get_mut(&house) else {
            return;
        };
        let ask_id = self.next_ask;
        self.next_ask += 1;
        let (tx, rx) = oneshot::channel();
        let msg = ToWorker::Command {
            id: ask_id,
            name: "restore_curve".into(),
            args: Value::Null,
        };
        slot.ask(ask_id, msg, tx);
        tokio::spawn(async move {
            match rx.await {
                Ok(Ok(message)) => tracing::info!(worker = %house, "controller gone: {message}"),
                Ok(Err(e)) => {
                    tracing::error!(worker = %house, "controller gone, curve not restored: {e}")
                }
                Err(_) => tracing::error!(worker = %house, "controller gone, curve not restored"),
            }
        });
    }

    /// Passes a worker's `ask` on to the worker it names as a `command`, if the asker may ask it
    /// (a controller its own house), and the reply back as an `answer`.
    fn pass_on(&mut self, pid: i32, id: u64, target: String, name: String, args: Value) {
        let Some((asker, lines)) = self
            .slots
            .iter()
            .find(|(_, s)| s.pid() == Some(pid))
            .and_then(|(asker, s)| Some((asker.clone(), s.lines()?)))
        else {
            return;
        };
        let answer = move |result: Result<String, String>| {
            let (ok, message) = match result {
                Ok(m) => (true, m),
                Err(m) => (false, m),
            };
            lines.send(&ToWorker::Answer { id, ok, message });
        };
        if !may_ask(&asker, &target) {
            tracing::warn!(worker = %asker, "asked {target} for {name}, which it may not");
            return answer(Err(format!("{asker} may not ask {target}")));
        }
        let Some(slot) = self.slots.get_mut(&target) else {
            return answer(Err(format!("no worker {target:?}")));
        };
        let ask_id = self.next_ask;
        self.next_ask += 1;
        let (tx, rx) = oneshot::channel();
        slot.ask(
            ask_id,
            ToWorker::Command {
                id: ask_id,
                name,
                args,
            },
            tx,
        );
        tokio::spawn(async move {
            answer(
                rx.await
                    .unwrap_or_else(|_| Err(format!("{target} went away"))),
            );
        });
    }

    async fn exited(&mut self, exit: Exit) {
        let Some((id, slot)) = self
            .slots
            .iter_mut()
            .find(|(_, s)| s.pid() == Some(exit.pid))
        else {
            tracing::debug!(pid = exit.pid, "reaped an orphan: {exit}");
            return;
        };
        let id = id.clone();
        // Whatever the worker left behind in its group goes with it.
        process::signal_group(exit.pid, nix::sys::signal::Signal::SIGKILL);
        let now = Instant::now();
        match slot.exited(now) {
            Some(AfterStop::Remove) => {
                tracing::info!(worker = %id, kind = %slot.spec.kind(), EventType = "WorkerStopped", "stopped ({exit})");
                self.slots.remove(&id);
            }
            Some(AfterStop::Start) => {
                tracing::info!(worker = %id, kind = %slot.spec.kind(), EventType = "WorkerRestarted", "stopped ({exit}); starting again");
                slot.next_start = Some(now);
                self.start(&id).await;
            }
            None => {
                let ran_for = slot.ran_for(now);
                let verdict = slot
                    .crashes
                    .crashed(now, ran_for, &self.settings, fastrand::f64());
                tracing::warn!(worker = %id, kind = %slot.spec.kind(), EventType = "WorkerCrashed", "{exit} after {:.1} s: {verdict:?}", ran_for.as_secs_f64());
                slot.after_crash(verdict, format!("{exit}"), now, &self.settings);
            }
        }
    }

    fn heard(&mut self, pid: i32, heard: Heard) {
        let heard = match heard {
            Heard::Message(FromWorker::Ask {
                id,
                worker,
                name,
                args,
            }) => {
                self.pass_on(pid, id, worker, name, args);
                // Any message shows the worker is alive.
                Heard::Message(FromWorker::Heartbeat)
            }
            other => other,
        };
        let Some((id, slot)) = self.slots.iter_mut().find(|(_, s)| s.pid() == Some(pid)) else {
            return;
        };
        self.messages += 1;
        if let Heard::BadLine(what) = &heard {
            self.bad_lines += 1;
            tracing::warn!(worker = %id, kind = %slot.spec.kind(), "skipped a bad line: {what}");
        }
        slot.heard(heard, Instant::now());
    }

    async fn tick(&mut self) {
        let now = Instant::now();
        for (id, slot) in self.slots.iter_mut() {
            if slot.heartbeat_overdue(now, self.settings.heartbeat_ms) {
                tracing::warn!(worker = %id, kind = %slot.spec.kind(), EventType = "WorkerHung", "missed three heartbeats: killing");
                slot.kill_for("missed three heartbeats");
            }
            slot.advance_stop(now, &self.settings);
        }
        self.start_due().await;
        self.publish_states();
    }

    fn publish_states(&self) {
        let mut hasher = std::hash::DefaultHasher::new();
        for (id, slot) in &self.slots {
            (id, slot.condition()).hash(&mut hasher);
        }
        let now = hasher.finish();
        self.states
            .send_if_modified(|last| std::mem::replace(last, now) != now);
    }
}

/// The only environment a worker gets: where programs are, and how loud to log.
fn worker_env() -> Vec<(String, String)> {
    ["PATH", "RUST_LOG", "LANG", "TZ"]
        .into_iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect()
}
