//! One worker slot: its spec, its process (if any), and where it is in its life.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hemflux_shared::config::{WorkerKind, WorkerSpec};
use hemflux_shared::protocol::{FromWorker, Init, ToWorker, PROTOCOL_VERSION};
use nix::sys::signal::Signal;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::oneshot;

use super::backoff::{CrashHistory, Verdict};
use super::child::{Heard, Lines, Stdin};
use super::process::signal_group;
use crate::secrets::Resolved;
use crate::settings::SupervisorSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    Starting,
    Running,
    Backoff,
    Stopping,
    Failed,
}

impl WorkerState {
    pub const ALL: [WorkerState; 5] = [
        Self::Starting,
        Self::Running,
        Self::Backoff,
        Self::Stopping,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Backoff => "backoff",
            Self::Stopping => "stopping",
            Self::Failed => "failed",
        }
    }
}

/// What `/api/workers` and `hemflux status` show of a worker.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerView {
    pub id: String,
    pub kind: WorkerKind,
    pub state: WorkerState,
    pub pid: Option<i32>,
    pub restarts: u64,
    /// What is wrong now; cleared once the worker delivers data again.
    pub error: Option<String>,
    /// The most recent error, kept after recovery, and when it happened (RFC 3339).
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    /// Time of the newest point delivered (RFC 3339).
    pub last_data_time: Option<String>,
    pub points: u64,
    pub status: Option<String>,
    pub config_files: Vec<PathBuf>,
}

/// The longest `stop_grace_ms` honoured: stdin closed, SIGTERM after one grace, SIGKILL after
/// two, so the whole tree is down within 8 s whatever the setting says.
const MAX_STOP_GRACE: Duration = Duration::from_millis(3_500);

pub fn stop_grace(s: &SupervisorSettings) -> Duration {
    Duration::from_millis(s.stop_grace_ms).min(MAX_STOP_GRACE)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterStop {
    Remove,
    Start,
}

struct Run {
    pid: i32,
    stdin: Stdin,
    started: Instant,
    last_seen: Instant,
    killed: bool,
    /// Set once the stop sequence has begun.
    stopping: Option<Stopping>,
}

struct Stopping {
    after: AfterStop,
    since: Instant,
    termed: bool,
}

pub struct Slot {
    pub spec: WorkerSpec,
    secrets: BTreeMap<String, String>,
    pub missing: Vec<String>,
    pub fingerprint: u64,
    poll_offset_ms: u64,
    state: WorkerState,
    run: Option<Run>,
    pub next_start: Option<Instant>,
    pub crashes: CrashHistory,
    restarts: u64,
    error: Option<String>,
    last_error: Option<String>,
    last_error_at: Option<String>,
    /// Why the supervisor killed the running process, to report instead of "killed by signal 9".
    kill_reason: Option<String>,
    last_data: Option<i64>,
    points: u64,
    status: Option<String>,
    asks: HashMap<u64, oneshot::Sender<Result<String, String>>>,
    /// Not running and asked to go: the supervisor drops the slot.
    pub gone: bool,
    last_exit_started: Option<Instant>,
}

impl Slot {
    pub fn new(
        spec: WorkerSpec,
        resolved: Resolved,
        fingerprint: u64,
        poll_offset_ms: u64,
    ) -> Slot {
        Slot {
            spec,
            secrets: resolved.values,
            missing: resolved.missing,
            fingerprint,
            poll_offset_ms,
            state: WorkerState::Starting,
            run: None,
            next_start: None,
            crashes: CrashHistory::default(),
            restarts: 0,
            error: None,
            last_error: None,
            last_error_at: None,
            kill_reason: None,
            last_data: None,
            points: 0,
            status: None,
            asks: HashMap::new(),
            gone: false,
            last_exit_started: None,
        }
    }

    pub fn pid(&self) -> Option<i32> {
        self.run.as_ref().map(|r| r.pid)
    }

    pub fn is_running(&self) -> bool {
        self.run.is_some()
    }

    pub fn removing(&self) -> bool {
        self.gone
            || self
                .stopping()
                .is_some_and(|s| s.after == AfterStop::Remove)
    }

    fn stopping(&self) -> Option<&Stopping> {
        self.run.as_ref().and_then(|r| r.stopping.as_ref())
    }

    pub fn start_due(&self, now: Instant) -> bool {
        !self.gone && self.run.is_none() && self.next_start.is_some_and(|t| t <= now)
    }

    pub fn init(&self, state: Option<Value>, heartbeat_ms: u64) -> Init {
        Init {
            version: PROTOCOL_VERSION,
            id: self.spec.id.clone(),
            config: self.spec.config.clone(),
            secrets: self.secrets.clone(),
            state,
            poll_offset_ms: self.poll_offset_ms,
            heartbeat_ms,
        }
    }

    pub fn started(&mut self, pid: i32, stdin: Stdin, now: Instant) {
        self.run = Some(Run {
            pid,
            stdin,
            started: now,
            last_seen: now,
            killed: false,
            stopping: None,
        });
        self.state = WorkerState::Starting;
        self.kill_reason = None;
        // Only the first start of a fleet is staggered.
        self.poll_offset_ms = 0;
    }

    /// Begins the stop sequence: stdin closed now, SIGTERM and SIGKILL later (see `advance_stop`).
    pub fn stop(&mut self, after: AfterStop, now: Instant, _settings: &SupervisorSettings) {
        match self.run.as_mut() {
            Some(run) => {
                run.stdin.close();
                match run.stopping.as_mut() {
                    Some(s) => s.after = after,
                    None => {
                        run.stopping = Some(Stopping {
                            after,
                            since: now,
                            termed: false,
                        })
                    }
                }
                self.state = WorkerState::Stopping;
            }
            None if after == AfterStop::Remove => self.gone = true,
            None => self.next_start = Some(now),
        }
    }

    /// Takes a new config: a running worker restarts on it, a waiting or failed one starts now.
    pub fn replace_with(
        &mut self,
        spec: WorkerSpec,
        resolved: Resolved,
        fingerprint: u64,
        now: Instant,
        s: &SupervisorSettings,
    ) {
        self.spec = spec;
        self.secrets = resolved.values;
        self.missing = resolved.missing;
        self.fingerprint = fingerprint;
        self.gone = false;
        self.crashes.reset();
        self.error = None;
        self.stop(AfterStop::Start, now, s);
    }

    pub fn advance_stop(&mut self, now: Instant, s: &SupervisorSettings) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let Some(stopping) = run.stopping.as_mut() else {
            return;
        };
        let waited = now.duration_since(stopping.since);
        let grace = stop_grace(s);
        if waited >= grace && !stopping.termed {
            signal_group(run.pid, Signal::SIGTERM);
            stopping.termed = true;
        }
        if waited >= grace * 2 && !run.killed {
            signal_group(run.pid, Signal::SIGKILL);
            run.killed = true;
        }
    }

    /// Records an error as the current one and as the last one.
    pub fn set_error(&mut self, error: String) {
        self.error = Some(error.clone());
        self.last_error = Some(error);
        self.last_error_at = Some(jiff::Timestamp::now().to_string());
    }

    /// Kills a process that stopped answering; its exit is reported with `reason`.
    pub fn kill_for(&mut self, reason: &str) {
        self.set_error(reason.to_string());
        self.kill_reason = Some(reason.to_string());
        self.kill_now();
    }

    pub fn kill_now(&self) {
        if let Some(run) = &self.run {
            signal_group(run.pid, Signal::SIGKILL);
        }
    }

    pub fn heartbeat_overdue(&mut self, now: Instant, heartbeat_ms: u64) -> bool {
        let Some(run) = self.run.as_mut() else {
            return false;
        };
        let overdue = !run.killed
            && run.stopping.is_none()
            && now.duration_since(run.last_seen) > Duration::from_millis(heartbeat_ms * 3);
        if overdue {
            run.killed = true;
        }
        overdue
    }

    /// The process is gone. Returns what was planned if it was being stopped; `None` is a crash.
    pub fn exited(&mut self, _now: Instant) -> Option<AfterStop> {
        for (_, reply) in self.asks.drain() {
            let _ = reply.send(Err("the worker exited before answering".into()));
        }
        let run = self.run.take();
        let after = run
            .as_ref()
            .and_then(|r| r.stopping.as_ref())
            .map(|s| s.after);
        if after == Some(AfterStop::Remove) {
            self.gone = true;
        }
        if after.is_none() {
            self.state = WorkerState::Backoff;
        }
        self.last_exit_started = run.map(|r| r.started);
        after
    }

    pub fn ran_for(&self, now: Instant) -> Duration {
        self.last_exit_started
            .map(|t| now.duration_since(t))
            .unwrap_or_default()
    }

    pub fn after_crash(
        &mut self,
        verdict: Verdict,
        error: String,
        now: Instant,
        s: &SupervisorSettings,
    ) {
        self.restarts += 1;
        let error = match self.kill_reason.take() {
            Some(reason) => format!("{reason} ({error})"),
            None => error,
        };
        self.set_error(error);
        match verdict {
            Verdict::Retry(delay) => {
                self.state = WorkerState::Backoff;
                self.next_start = Some(now + delay);
            }
            Verdict::Failed => {
                self.state = WorkerState::Failed;
                self.next_start = Some(now + Duration::from_millis(s.failed_retry_ms));
            }
        }
    }

    /// A problem no restart can fix: wait for the config or `.env` to change.
    pub fn fail_config(&mut self, error: String) {
        self.state = WorkerState::Failed;
        self.set_error(error);
        self.next_start = None;
    }

    /// Where answers to this worker's own asks go, while it runs.
    pub fn lines(&self) -> Option<Lines> {
        self.run.as_ref().map(|run| run.stdin.lines())
    }

    pub fn ask(&mut self, id: u64, msg: ToWorker, reply: oneshot::Sender<Result<String, String>>) {
        match &self.run {
            Some(run) if run.stopping.is_none() => {
                run.stdin.send(&msg);
                self.asks.insert(id, reply);
            }
            _ => {
                let _ = reply.send(Err(format!(
                    "{} is not running ({})",
                    self.spec.id,
                    self.state.as_str()
                )));
            }
        }
    }

    pub fn heard(&mut self, heard: Heard, now: Instant) {
        if let Some(run) = self.run.as_mut() {
            run.last_seen = now;
        }
        match heard {
            Heard::Message(FromWorker::Ready { .. }) if self.stopping().is_none() => {
                self.state = WorkerState::Running
            }
            Heard::Message(FromWorker::Status { message }) => self.status = Some(message),
            Heard::Message(FromWorker::Error { message }) => {
                tracing::warn!(worker = %self.spec.id, kind = self.spec.kind().as_str(), EventType = "WorkerError", "{message}");
                self.set_error(message);
            }
            Heard::Message(FromWorker::Reply { id, ok, message }) => {
                if let Some(reply) = self.asks.remove(&id) {
                    let _ = reply.send(if ok { Ok(message) } else { Err(message) });
                }
            }
            Heard::Stored { points, newest } => {
                self.points += points as u64;
                if points > 0 {
                    self.error = None;
                }
                self.last_data = self.last_data.max(newest);
            }
            Heard::StoreFailed(e) => {
                tracing::error!(worker = %self.spec.id, kind = self.spec.kind().as_str(), EventType = "DataRefused", "batch refused: {e}");
                self.set_error(e);
            }
            Heard::Message(_) | Heard::BadLine(_) => {}
        }
    }

    /// What the overview shows of the worker's condition (cheap, for change detection).
    pub fn condition(&self) -> (&'static str, Option<&str>) {
        (self.state.as_str(), self.error.as_deref())
    }

    pub fn view(&self) -> WorkerView {
        WorkerView {
            id: self.spec.id.clone(),
            kind: self.spec.kind(),
            state: self.state,
            pid: self.pid(),
            restarts: self.restarts,
            error: self.error.clone(),
            last_error: self.last_error.clone(),
            last_error_at: self.last_error_at.clone(),
            last_data_time: self
                .last_data
                .map(|ns| hemflux_shared::time::from_nanos(ns).to_string()),
            points: self.points,
            status: self.status.clone(),
            config_files: self.spec.files.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot() -> Slot {
        let config = hemflux_shared::kinds::SyntheticWorker {
            house_id: "a".into(),
            synthetic: serde_json::from_str("{}").unwrap(),
        };
        let spec = WorkerSpec::new("synthetic:a".into(), config, Vec::new(), "a.json".as_ref());
        let resolved = Resolved {
            values: BTreeMap::new(),
            missing: Vec::new(),
        };
        Slot::new(spec, resolved, 0, 0)
    }

    #[test]
    fn the_error_now_clears_with_data_and_the_last_one_stays_with_its_time() {
        let mut s = slot();
        let now = Instant::now();
        s.kill_reason = Some("missed three heartbeats".into());
        s.after_crash(
            Verdict::Retry(Duration::ZERO),
            "killed by signal 9".into(),
            now,
            &SupervisorSettings::default(),
        );
        let v = s.view();
        assert_eq!(
            v.error.as_deref(),
            Some("missed three heartbeats (killed by signal 9)")
        );
        assert!(v.last_error_at.is_some());
        s.heard(
            Heard::Stored {
                points: 0,
                newest: None,
            },
            now,
        );
        assert!(s.view().error.is_some(), "no data yet: still wrong");
        s.heard(
            Heard::Stored {
                points: 3,
                newest: Some(1),
            },
            now,
        );
        let v = s.view();
        assert_eq!(v.error, None);
        assert_eq!(
            v.last_error.as_deref(),
            Some("missed three heartbeats (killed by signal 9)")
        );
        assert!(v.last_error_at.is_some());
    }

    #[test]
    fn the_stop_grace_is_capped_so_the_tree_is_down_in_8_s() {
        let mut s = SupervisorSettings {
            stop_grace_ms: 60_000,
            ..SupervisorSettings::default()
        };
        assert!(stop_grace(&s) * 2 + Duration::from_millis(500) <= Duration::from_secs(8));
        s.stop_grace_ms = 1_000;
        assert_eq!(stop_grace(&s), Duration::from_secs(1));
    }
}
