//! Plays the orchestrator for one real `hemflux-worker` process: sends its `init`, acks (or
//! refuses) its batches and state, keeps what it sent, and asks for syncs and commands. The
//! worker tests of every kind use it instead of a hand-written loop each.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hemflux_shared::Point;
use serde_json::{json, Value};

use crate::WorkerProcess;

pub struct FakeOrchestrator {
    worker: WorkerProcess,
    _dir: tempfile::TempDir,
    log: PathBuf,
    /// Every point acked, with when it arrived.
    pub points: Vec<(Instant, Point)>,
    /// The state last sent (with a batch or alone).
    pub state: Option<Value>,
    /// Every `error` message's text.
    pub errors: Vec<String>,
    /// Every `status` message's text.
    pub statuses: Vec<String>,
    /// Refuse this many batches (as a store that cannot take them would) before acking again.
    pub nack_next: usize,
}

impl FakeOrchestrator {
    /// Starts `hemflux-worker <kind> <id>` (stderr to a log file, see [`Self::log`]) and sends
    /// its init: `init` holds `config` and, as needed, `secrets` and `state`; polls start at
    /// once (`poll_offset_ms` 0).
    pub fn start(kind: &str, id: &str, init: Value, env: &[(&str, &str)]) -> FakeOrchestrator {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let log = dir.path().join("worker.log");
        let stderr = std::fs::File::create(&log).expect("the worker's log file");
        let worker = WorkerProcess::spawn(kind, id, stderr.into(), env);
        let mut fake = FakeOrchestrator {
            worker,
            _dir: dir,
            log,
            points: Vec::new(),
            state: None,
            errors: Vec::new(),
            statuses: Vec::new(),
            nack_next: 0,
        };
        let mut message = json!({"type": "init", "version": 1, "id": id, "kind": kind,
            "poll_offset_ms": 0, "heartbeat_ms": 1000});
        for (key, value) in init.as_object().expect("init fields as an object") {
            message[key] = value.clone();
        }
        fake.send(message);
        fake
    }

    pub fn send(&mut self, message: Value) {
        self.worker.send(message);
    }

    /// Handles messages until `done` holds for one (it sees that one after it is handled);
    /// panics with the worker's log after `timeout`.
    pub fn serve_until(
        &mut self,
        timeout: Duration,
        what: &str,
        mut done: impl FnMut(&FakeOrchestrator, &Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(msg) = self.worker.messages.recv_timeout(left) else {
                let (errors, log) = (&self.errors, self.log());
                panic!("timed out waiting for {what}; errors {errors:?}; log:\n{log}");
            };
            self.handle(&msg);
            if done(self, &msg) {
                return msg;
            }
        }
    }

    /// The next message that is not a heartbeat, left unanswered (as by an orchestrator that
    /// dies before it acks).
    pub fn next_unanswered(&self, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.worker.messages.recv_timeout(left) {
                Ok(msg) if msg["type"] != "heartbeat" => return msg,
                Ok(_) => {}
                Err(_) => panic!("no message within {timeout:?}; log:\n{}", self.log()),
            }
        }
    }

    /// Serves until a `status` containing `needle` and returns its text.
    pub fn until_status(&mut self, needle: &str, timeout: Duration) -> String {
        self.until_message("status", needle, timeout)
    }

    /// Serves until an `error` containing `needle` and returns its text.
    pub fn until_error(&mut self, needle: &str, timeout: Duration) -> String {
        self.until_message("error", needle, timeout)
    }

    fn until_message(&mut self, kind: &str, needle: &str, timeout: Duration) -> String {
        let what = format!("a {kind} with {needle:?}");
        let msg = self.serve_until(timeout, &what, |_, m| {
            m["type"] == kind && m["message"].as_str().unwrap_or("").contains(needle)
        });
        msg["message"].as_str().unwrap_or("").into()
    }

    /// Handles whatever comes for `d`.
    pub fn serve_for(&mut self, d: Duration) {
        let until = Instant::now() + d;
        self.serve_until(d + Duration::from_secs(5), "time to pass", |_, _| {
            Instant::now() >= until
        });
    }

    fn handle(&mut self, msg: &Value) {
        match msg["type"].as_str() {
            Some("points") if self.nack_next > 0 => {
                self.nack_next -= 1;
                self.send(json!({"type": "nack", "seq": msg["seq"], "error": "disk full"}));
            }
            Some(kind @ ("points" | "state")) => {
                if kind == "points" {
                    let points = msg["points"].as_array().expect("points is an array");
                    let now = Instant::now();
                    self.points.extend(
                        points
                            .iter()
                            .map(|p| (now, serde_json::from_value(p.clone()).expect("a point"))),
                    );
                }
                if !msg["state"].is_null() {
                    self.state = Some(msg["state"].clone());
                }
                self.send(json!({"type": "ack", "seq": msg["seq"]}));
            }
            Some("error") => self
                .errors
                .push(msg["message"].as_str().unwrap_or("").into()),
            Some("status") => self
                .statuses
                .push(msg["message"].as_str().unwrap_or("").into()),
            _ => {}
        }
    }

    /// Sends `sync` and serves until its reply.
    pub fn sync(&mut self, id: u64, from: &str, to: &str, timeout: Duration) -> Value {
        self.send(json!({"type": "sync", "id": id, "from": from, "to": to}));
        self.serve_until(timeout, "the sync reply", |_, m| {
            m["type"] == "reply" && m["id"] == id
        })
    }

    /// Sends a kind-specific command and serves until its reply.
    pub fn command(&mut self, id: u64, name: &str, args: Value, timeout: Duration) -> Value {
        self.send(json!({"type": "command", "id": id, "name": name, "args": args}));
        let what = format!("the {name} reply");
        self.serve_until(timeout, &what, |_, m| m["type"] == "reply" && m["id"] == id)
    }

    /// The points of `measurement` so far.
    pub fn of<'a>(&'a self, measurement: &'a str) -> impl Iterator<Item = &'a Point> {
        self.points
            .iter()
            .map(|(_, p)| p)
            .filter(move |p| p.measurement == measurement)
    }

    /// What the worker logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9` of the worker.
    pub fn kill9(&mut self) {
        let _ = self.worker.child.kill();
        let _ = self.worker.child.wait();
    }

    pub fn alive(&mut self) -> bool {
        self.worker
            .child
            .try_wait()
            .expect("the worker's status")
            .is_none()
    }
}

impl Drop for FakeOrchestrator {
    fn drop(&mut self) {
        self.kill9();
    }
}
