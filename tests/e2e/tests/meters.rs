//! Meters end to end: the real `hemflux-worker` against the real `hemflux-sim` simulators of
//! WattiVahti, Tibber and Dropbox. The test plays the orchestrator: it sends `init`, acks
//! `points` and `state` after recording them, and hands the last recorded state back on restart,
//! exactly as the orchestrator does with its store.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);

fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// A child process killed on drop, its stdout lines on a channel and its stderr in a file.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Proc {
    fn spawn(program: &Path, args: &[&str]) -> Proc {
        let dir = tempfile::tempdir().unwrap();
        let stderr = dir.path().join("stderr");
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
            _dir: dir,
        }
    }

    fn line(&self, timeout: Duration) -> String {
        self.lines.recv_timeout(timeout).unwrap_or_else(|e| {
            panic!(
                "no line from the child in {timeout:?} ({e}); stderr:\n{}",
                self.stderr_text()
            )
        })
    }

    fn send(&mut self, msg: Value) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{msg}").unwrap();
        stdin.flush().unwrap();
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// A simulator, started on a free loopback port.
struct Sim {
    _proc: Proc,
    url: String,
}

fn sim(vendor: &str, args: &[&str]) -> Sim {
    let mut all = vec![vendor, "--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let proc = Proc::spawn(&bin("hemflux-sim"), &all);
    let line = proc.line(WAIT);
    let url = line
        .strip_prefix("LISTENING ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    Sim { _proc: proc, url }
}

impl Sim {
    fn get(&self, path: &str) -> Value {
        reqwest::blocking::get(format!("{}{path}", self.url))
            .unwrap()
            .json()
            .unwrap()
    }
}

/// What the orchestrator would have stored for one worker.
#[derive(Default)]
struct Store {
    state: Option<Value>,
    points: Vec<Value>,
}

/// The running worker and the messages it sent that the test looks at.
struct WorkerRun {
    proc: Proc,
    statuses: Vec<String>,
    errors: Vec<String>,
    replies: Vec<Value>,
}

impl WorkerRun {
    fn start(kind: &str, id: &str, config: Value, secrets: Value, store: &Store) -> WorkerRun {
        let mut proc = Proc::spawn(&bin("hemflux-worker"), &[kind, id]);
        proc.send(
            json!({"type": "init", "version": 1, "id": id, "kind": kind, "config": config,
            "secrets": secrets, "state": store.state, "poll_offset_ms": 0, "heartbeat_ms": 1000}),
        );
        let ready: Value = serde_json::from_str(&proc.line(WAIT)).unwrap();
        assert_eq!(ready["type"], "ready", "{ready}");
        WorkerRun {
            proc,
            statuses: Vec::new(),
            errors: Vec::new(),
            replies: Vec::new(),
        }
    }

    /// The next message that is not a heartbeat, unanswered.
    fn next_message(&mut self) -> Value {
        loop {
            let msg: Value = serde_json::from_str(&self.proc.line(WAIT)).unwrap();
            if msg["type"] != "heartbeat" {
                return msg;
            }
        }
    }

    /// Plays the orchestrator until `done` says so: records and acks points and state.
    fn run_until(&mut self, store: &mut Store, mut done: impl FnMut(&Value, &Store) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out; errors {:?}; stderr:\n{}",
                self.errors,
                self.proc.stderr_text()
            );
            let msg: Value = serde_json::from_str(&self.proc.line(left)).unwrap();
            match msg["type"].as_str().unwrap() {
                "points" => {
                    store
                        .points
                        .extend(msg["points"].as_array().unwrap().iter().cloned());
                    if !msg["state"].is_null() {
                        store.state = Some(msg["state"].clone());
                    }
                    self.proc.send(json!({"type": "ack", "seq": msg["seq"]}));
                }
                "state" => {
                    store.state = Some(msg["state"].clone());
                    self.proc.send(json!({"type": "ack", "seq": msg["seq"]}));
                }
                "status" => self.statuses.push(msg["message"].as_str().unwrap().into()),
                "error" => self.errors.push(msg["message"].as_str().unwrap().into()),
                "reply" => self.replies.push(msg.clone()),
                _ => {}
            }
            if done(&msg, store) {
                return;
            }
        }
    }

    fn until_status(&mut self, store: &mut Store, needle: &str) -> String {
        self.run_until(store, |m, _| {
            m["type"] == "status" && m["message"].as_str().unwrap().contains(needle)
        });
        self.statuses.last().unwrap().clone()
    }

    fn until_error(&mut self, store: &mut Store, needle: &str) -> String {
        self.run_until(store, |m, _| {
            m["type"] == "error" && m["message"].as_str().unwrap().contains(needle)
        });
        self.errors.last().unwrap().clone()
    }

    fn sync(&mut self, store: &mut Store, id: u64, from: &str, to: &str) -> Value {
        self.proc
            .send(json!({"type": "sync", "id": id, "from": from, "to": to}));
        self.run_until(store, |m, _| m["type"] == "reply" && m["id"] == id);
        self.replies.last().unwrap().clone()
    }
}

fn nanos(rfc3339: &str) -> i64 {
    // Only the whole-second UTC forms the tests use: YYYY-MM-DDTHH:MM:SSZ.
    let n = |a: usize, b: usize| rfc3339[a..b].parse::<i64>().unwrap();
    let (y, mo, d, h, mi, s) = (n(0, 4), n(5, 7), n(8, 10), n(11, 13), n(14, 16), n(17, 19));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((mo + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    ((days * 24 + h) * 3600 + mi * 60 + s) * 1_000_000_000
}

fn in_range<'a>(points: &'a [Value], from: &str, to: &str) -> Vec<&'a Value> {
    let (a, b) = (nanos(from), nanos(to));
    points
        .iter()
        .filter(|p| (a..b).contains(&p["time"].as_i64().unwrap()))
        .collect()
}

fn distinct_times(points: &[&Value]) -> usize {
    points
        .iter()
        .map(|p| p["time"].as_i64().unwrap())
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

// ---------------------------------------------------------------- WattiVahti

const WV_TOKEN_PATH: &str = "/pesv.onmicrosoft.com/b2c_1_tunnistus_signinv2/oauth2/v2.0/token";

fn wattivahti_config(sim: &Sim, token_file: &Path, initial_days: u32, poll_secs: u64) -> Value {
    json!({"house_id": "villa_fi", "meter": {"name": "el", "source": {
        "type": "wattivahti", "metering_point": "1234567", "base_url": sim.url,
        "token_url": format!("{}{WV_TOKEN_PATH}", sim.url), "token_file": token_file,
        "initial_sync_days": initial_days, "poll_interval_secs": poll_secs}}})
}

fn redemptions(sim: &Sim) -> (usize, usize) {
    let log = sim.get("/_sim/log");
    let redeems: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "redeem")
        .collect();
    let ok = redeems.iter().filter(|e| e["ok"] == true).count();
    (ok, redeems.len() - ok)
}

fn meterdata_calls(sim: &Sim) -> usize {
    sim.get("/_sim/log")
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "meterdata")
        .count()
}

#[test]
fn wattivahti_kill_9_between_rotation_and_use_keeps_the_only_valid_token() {
    let sim = sim("wattivahti", &["--refresh-token", "wv-first-token"]);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token.txt");
    std::fs::write(&token_file, "wv-first-token\n").unwrap();
    let config = wattivahti_config(&sim, &token_file, 2, 3600);
    let id = "meter:villa_fi/el";
    let mut store = Store::default();

    // First run: the worker redeems the token and asks to persist the rotated one. The
    // orchestrator stores it and is killed (with the worker) before the ack arrives.
    let mut first = WorkerRun::start("meter", id, config.clone(), json!({}), &store);
    let msg = first.next_message();
    assert_eq!(
        msg["type"], "state",
        "the rotated token is persisted before anything else: {msg}"
    );
    store.state = Some(msg["state"].clone());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        meterdata_calls(&sim),
        0,
        "the access token was used before the rotated refresh token was durable"
    );
    first.proc.kill_9();
    let stderr = first.proc.stderr_text();
    assert!(
        !stderr.contains("wv-rt-") && !stderr.contains("wv-first-token"),
        "a token in the log:\n{stderr}"
    );
    assert_eq!(redemptions(&sim), (1, 0));

    // Second run from the persisted state: the file's token is spent, the state's one works.
    let mut second = WorkerRun::start("meter", id, config, json!({}), &store);
    second.until_status(&mut store, "synced");
    assert_eq!(
        redemptions(&sim),
        (2, 0),
        "no refused redemption: the worker used the persisted token"
    );
    assert!(second.errors.is_empty(), "{:?}", second.errors);
    let n = store.points.len();
    assert!(
        (150..=200).contains(&n),
        "two days of quarter-hours, got {n}"
    );
    let p = &store.points[0];
    assert_eq!(p["measurement"], "electricity_consumption");
    assert_eq!(p["tags"]["metering_point"], "1234567");
    assert_eq!(p["fields"]["resolution"], "PT15MIN");
    let kwh = p["fields"]["consumption_kwh"].as_f64().unwrap();
    assert!((p["fields"]["consumption_wh"].as_f64().unwrap() - kwh * 1000.0).abs() < 1e-6);
    let state = store.state.as_ref().unwrap();
    assert!(state["synced_until"].is_string(), "{state}");
    let stderr = second.proc.stderr_text();
    assert!(
        !stderr.contains("wv-rt-") && !stderr.contains("wv-at-"),
        "a token in the log:\n{stderr}"
    );
}

#[test]
fn wattivahti_both_dst_days_and_a_month_with_the_switch_to_quarter_hours() {
    let sim = sim(
        "wattivahti",
        &[
            "--refresh-token",
            "t0",
            "--quarter-hour-start",
            "2024-01-15",
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token.txt");
    std::fs::write(&token_file, "t0").unwrap();
    let mut store = Store::default();
    let mut w = WorkerRun::start(
        "meter",
        "meter:villa_fi/el",
        wattivahti_config(&sim, &token_file, 1, 3600),
        json!({}),
        &store,
    );
    w.until_status(&mut store, "synced");

    // Autumn 2025: local 2025-10-26 is 25 hours, 100 quarter-hours, each its own UTC instant.
    let reply = w.sync(
        &mut store,
        1,
        "2025-10-25T21:00:00Z",
        "2025-10-26T22:00:00Z",
    );
    assert_eq!(reply["ok"], true, "{reply}");
    let autumn = in_range(
        &store.points,
        "2025-10-25T21:00:00Z",
        "2025-10-26T22:00:00Z",
    );
    assert_eq!((autumn.len(), distinct_times(&autumn)), (100, 100));
    // Spring 2025: local 2025-03-30 is 23 hours, 92 quarter-hours.
    w.sync(
        &mut store,
        2,
        "2025-03-29T22:00:00Z",
        "2025-03-30T21:00:00Z",
    );
    let spring = in_range(
        &store.points,
        "2025-03-29T22:00:00Z",
        "2025-03-30T21:00:00Z",
    );
    assert_eq!((spring.len(), distinct_times(&spring)), (92, 92));

    // January 2024 (local Jan 2 to Feb 1): hourly until the 14th, quarter-hours from the 15th.
    let reply = w.sync(
        &mut store,
        3,
        "2024-01-01T22:00:00Z",
        "2024-01-31T22:00:00Z",
    );
    assert_eq!(reply["ok"], true, "{reply}");
    let month = in_range(
        &store.points,
        "2024-01-01T22:00:00Z",
        "2024-01-31T22:00:00Z",
    );
    let hourly = month
        .iter()
        .filter(|p| p["fields"]["resolution"] == "PT1H")
        .count();
    let quarters = month
        .iter()
        .filter(|p| p["fields"]["resolution"] == "PT15MIN")
        .count();
    assert_eq!((hourly, quarters), (13 * 24, 17 * 96));
    assert_eq!(distinct_times(&month), month.len());
    // An hour equals its four quarters in the simulator: the daily totals must not depend on
    // the resolution, so compare one hourly day's total with itself through PT1H only.
    let day14: f64 = in_range(
        &store.points,
        "2024-01-13T22:00:00Z",
        "2024-01-14T22:00:00Z",
    )
    .iter()
    .map(|p| p["fields"]["consumption_kwh"].as_f64().unwrap())
    .sum();
    assert!(day14 > 24.0 * 0.2, "{day14}");
}

#[test]
fn wattivahti_missing_then_refused_then_new_token() {
    let sim = sim("wattivahti", &["--refresh-token", "good-token"]);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token.txt");
    let mut store = Store::default();
    let mut w = WorkerRun::start(
        "meter",
        "meter:villa_fi/el",
        wattivahti_config(&sim, &token_file, 1, 1),
        json!({}),
        &store,
    );
    let e = w.until_error(&mut store, "no WattiVahti refresh token");
    assert!(
        e.contains(token_file.to_str().unwrap())
            && e.contains("hemflux meter-token meter:villa_fi/el"),
        "{e}"
    );

    std::fs::write(&token_file, "expired-token").unwrap();
    let e = w.until_error(&mut store, "re-authentication needed");
    assert!(e.contains("AADB2C90080"), "{e}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        redemptions(&sim),
        (0, 1),
        "a refused token is not presented again"
    );

    std::fs::write(&token_file, "good-token").unwrap();
    w.until_status(&mut store, "synced");
    assert_eq!(redemptions(&sim).0, 1);
    assert!(!store.points.is_empty());
    assert!(!w.proc.stderr_text().contains("good-token"));
}
