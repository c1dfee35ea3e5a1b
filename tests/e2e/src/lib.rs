//! Helpers shared by the end-to-end tests: the built binaries, a running orchestrator on a temp
//! folder, simulators, and polling with a deadline. Everything started here is stopped on drop.

pub mod browser;
pub mod fake_orchestrator;
pub mod homeside;
pub mod servers;
pub mod session;

pub use fake_orchestrator::FakeOrchestrator;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A binary of this workspace, built by `cargo test --workspace` into the same target folder
/// as the running test (`target/<profile>/deps/`) or binary (`target/<profile>/`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let mut dir = exe.parent().expect("target/<profile>").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo test --workspace` (or `cargo build --workspace`)",
        path.display()
    );
    path
}

/// Panics unless every field that `hemflux_shared::schema` lists has the seeds' type in
/// `points` (as `hemflux query --format json` prints them: a float always has a fraction).
/// Every test that reads the store through [`Orchestrator::query`] checks this.
pub fn check_field_types(measurement: &str, points: &[Value]) {
    use hemflux_shared::schema::{field_type, FieldType};
    for p in points {
        for (field, value) in p["fields"].as_object().into_iter().flatten() {
            let Some(expected) = field_type(measurement, field) else {
                continue;
            };
            let actual = match value {
                Value::Number(n) if n.is_f64() => FieldType::Float,
                Value::Number(_) => FieldType::Integer,
                Value::Bool(_) => FieldType::Boolean,
                _ => FieldType::String,
            };
            assert_eq!(
                actual, expected,
                "{measurement}.{field} = {value} is written as {actual:?}; the seeds wrote {expected:?}"
            );
        }
    }
}

/// `--profiles <dir>/profiles --buildings <dir>/buildings --data <dir>/data --env-file
/// <dir>/.env`: the folders of one installation, as `hemflux run`, `add-*` and `remove` take them.
pub fn folder_args(dir: &Path) -> Vec<std::ffi::OsString> {
    let mut args = Vec::new();
    for (flag, sub) in [
        ("--profiles", "profiles"),
        ("--buildings", "buildings"),
        ("--data", "data"),
        ("--env-file", ".env"),
    ] {
        args.push(flag.into());
        args.push(dir.join(sub).into_os_string());
    }
    args
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` every 50 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Supervisor timings short enough for tests.
pub const FAST_SUPERVISOR: &str = "[supervisor]
heartbeat_ms = 1000
backoff_initial_ms = 200
backoff_max_ms = 2000
stable_after_ms = 60000
crash_limit = 5
crash_window_ms = 60000
failed_retry_ms = 600000
stop_grace_ms = 1000
stagger_ms = 0
rescan_ms = 1000
debounce_ms = 50
";

/// A folder with `profiles/`, `buildings/`, `data/`, `hemflux.toml` and `.env`, and an
/// orchestrator running on it.
pub struct Orchestrator {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    extra_args: Vec<String>,
    wrapper: Vec<String>,
}

impl Orchestrator {
    /// A fresh folder with the fast supervisor settings plus `extra_toml`; not started yet.
    /// Weather is off unless the test configures it: a test must never reach the real SMHI.
    pub fn new(extra_toml: &str) -> Orchestrator {
        let weather = if extra_toml.contains("[weather]") {
            ""
        } else {
            "[weather]\nenabled = false\n"
        };
        Self::with_settings(&format!("{FAST_SUPERVISOR}\n{extra_toml}\n{weather}"))
    }

    /// A fresh folder whose `hemflux.toml` is exactly `toml`; not started yet.
    pub fn with_settings(toml: &str) -> Orchestrator {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["profiles", "buildings", "data"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        std::fs::write(dir.path().join("hemflux.toml"), toml).unwrap();
        Orchestrator {
            dir,
            port: free_port(),
            child: None,
            extra_args: Vec::new(),
            wrapper: Vec::new(),
        }
    }

    /// Production settings, weather off, and `n` profiles that start no worker; not started yet.
    pub fn with_idle_profiles(n: usize) -> Orchestrator {
        let o = Self::with_settings("[weather]\nenabled = false\n");
        for i in 0..n {
            std::fs::write(
                o.path(&format!("profiles/idle{i:04}.json")),
                r#"{"name": "idle"}"#,
            )
            .unwrap();
        }
        o
    }

    /// Starts `hemflux run` and waits until `/health` answers.
    pub fn start(mut self) -> Orchestrator {
        self.spawn();
        self
    }

    pub fn with_args(mut self, args: &[&str]) -> Orchestrator {
        self.extra_args = args.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Runs `hemflux` under a wrapper command, such as `unshare --pid --fork --mount-proc`.
    pub fn wrapped_in(mut self, wrapper: &[&str]) -> Orchestrator {
        self.wrapper = wrapper.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Loads line protocol into this orchestrator's store with `hemflux import` (as a user
    /// would beside `hemflux run`), through a file `name` in its folder.
    pub fn import_lines(&self, name: &str, lines: &str) {
        let file = self.path(name);
        std::fs::write(&file, lines).unwrap();
        run_ok(
            Command::new(bin("hemflux"))
                .arg("import")
                .arg(&file)
                .arg("--data")
                .arg(self.path("data")),
        );
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn log_path(&self) -> PathBuf {
        self.path("orchestrator.log")
    }

    /// Everything the orchestrator (and its workers, through it) logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let d = self.dir.path();
        let mut cmd = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(bin("hemflux"));
                c
            }
            None => Command::new(bin("hemflux")),
        };
        let child = cmd
            .arg("run")
            .args(folder_args(d))
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--log-format")
            .arg("json")
            .args(&self.extra_args)
            .env_remove("INFLUXDB_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start hemflux run");
        self.child = Some(child);
        wait_for(
            Duration::from_secs(20),
            "the orchestrator's /health",
            || self.get("/health").ok(),
        );
    }

    /// Starts it again on the same folder (after `kill9` or `terminate`).
    pub fn restart(&mut self) {
        self.spawn();
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn get(&self, path: &str) -> Result<String, String> {
        let resp = reqwest::blocking::Client::new()
            .get(self.url(path))
            .timeout(Duration::from_secs(5))
            .send()
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("{}", resp.status()));
        }
        resp.text().map_err(|e| e.to_string())
    }

    /// `hemflux <args> --listen <this orchestrator>`: the commands that talk to it over HTTP.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(bin("hemflux"))
            .args(args)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .output()
            .expect("run hemflux")
    }

    /// The API token `hemflux run` created in the data folder.
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.path("data/api-token"))
            .expect("data/api-token")
            .trim()
            .to_string()
    }

    pub fn workers(&self) -> Vec<Value> {
        serde_json::from_str(&self.get("/api/workers").expect("/api/workers")).unwrap()
    }

    pub fn worker(&self, id: &str) -> Option<Value> {
        self.workers().into_iter().find(|w| w["id"] == id)
    }

    /// Waits until worker `id` is in `state` and returns its view.
    pub fn wait_state(&self, id: &str, state: &str, timeout: Duration) -> Value {
        wait_for(timeout, &format!("{id} to be {state}"), || {
            self.worker(id).filter(|w| w["state"] == state)
        })
    }

    pub fn wait_gone(&self, id: &str, timeout: Duration) {
        wait_for(timeout, &format!("{id} to be gone"), || {
            self.worker(id).is_none().then_some(())
        });
    }

    /// Writes a profile atomically (temp file + rename), as editors and `hemflux add-house` do.
    pub fn write_profile(&self, name: &str, json: &str) {
        write_atomically(&self.path("profiles").join(name), json);
    }

    pub fn write_building(&self, name: &str, json: &str) {
        write_atomically(&self.path("buildings").join(name), json);
    }

    /// `hemflux query <measurement> --format json` on this folder's data.
    pub fn query(&self, measurement: &str, extra: &[&str]) -> Vec<Value> {
        let out = run_ok(
            Command::new(bin("hemflux"))
                .args(["query", measurement, "--format", "json", "--data"])
                .arg(self.path("data"))
                .args(extra),
        );
        let points: Vec<Value> =
            serde_json::from_str(&out).expect("query --format json prints a JSON array");
        check_field_types(measurement, &points);
        points
    }

    /// `kill -9`: no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the process (or its wrapper) to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take().expect("running");
        let status = wait_child(&mut c, timeout);
        if status.is_none() {
            self.child = Some(c);
        }
        status
    }

    /// SIGTERM and wait; returns the exit status and how long it took.
    pub fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let mut c = self.child.take().expect("running");
        let t0 = Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let status = wait_child(&mut c, Duration::from_secs(20)).expect("exited within 20 s");
        (status, t0.elapsed())
    }
}

impl Drop for Orchestrator {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            if wait_child(&mut c, Duration::from_secs(10)).is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("--- last orchestrator log lines ---");
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

fn wait_child(c: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(s)) = c.try_wait() {
            return Some(s);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd` to the end; its stdout. Panics naming the command, with its output, unless it
/// succeeded.
#[track_caller]
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("`{}`: {e}", command_line(cmd)));
    succeeded(cmd, out)
}

/// `run_ok` with `stdin` written to the command.
#[track_caller]
pub fn run_ok_with_stdin(cmd: &mut Command, stdin: &str) -> String {
    let out = output_with_stdin(cmd, stdin);
    succeeded(cmd, out)
}

#[track_caller]
fn succeeded(cmd: &Command, out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "`{}` failed ({}):\n{}",
        command_line(cmd),
        out.status,
        output_text(&out)
    );
    String::from_utf8(out.stdout).expect("the command's stdout is UTF-8")
}

/// Program and arguments, for a failure message (not the environment: it may hold secrets).
fn command_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The stdout of a finished command; panics with its stderr unless it succeeded.
#[track_caller]
pub fn stdout_of(out: std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    String::from_utf8(out.stdout).expect("the command's stdout is UTF-8")
}

/// A finished command's stdout and stderr, one after the other.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd` with `stdin` written to it and returns its output, whether it succeeded or not.
pub fn output_with_stdin(cmd: &mut Command, stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the command");
    // A command that refuses its arguments may exit before reading: a broken pipe is fine.
    let _ = child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes());
    child.wait_with_output().expect("the command's output")
}

pub fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().unwrap().to_str().unwrap()
    ));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The children of a process, from `/proc` (all threads' children lists).
pub fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// The state letter of a process (`R`, `S`, `Z`, ...), if it exists.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// Whether a process is alive (a zombie is not: it has exited and only waits to be reaped).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| state_in_stat(&stat) != Some("Z"))
}

/// The state letter (`R`, `S`, `D`, `Z`, ...) of a `/proc/<pid>[/task/<tid>]/stat` line: the
/// field after the command name, which may itself hold `)` and spaces.
pub fn state_in_stat(stat: &str) -> Option<&str> {
    stat.rsplit(')').next()?.split_whitespace().next()
}

/// A simulator subprocess (`hemflux-sim <vendor> ...`), stopped on drop.
pub struct Sim {
    child: Child,
    /// What it printed after `LISTENING `: a URL, or a pty path for serial devices.
    pub address: String,
}

impl Sim {
    pub fn start(vendor: &str, args: &[&str]) -> Sim {
        Self::start_with_stderr(vendor, args, Stdio::inherit())
    }

    /// [`Sim::start`] with the simulator's stderr (its request log) going to `stderr`.
    pub fn start_with_stderr(vendor: &str, args: &[&str], stderr: Stdio) -> Sim {
        let mut child = Command::new(bin("hemflux-sim"))
            .arg(vendor)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start hemflux-sim");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if let Some(addr) = line.strip_prefix("LISTENING ") {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let address = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("hemflux-sim {vendor} did not print LISTENING"));
        Sim { child, address }
    }
}

impl Sim {
    /// [`Sim::start`] listening on a free loopback port.
    pub fn on_loopback(vendor: &str, args: &[&str]) -> Sim {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        Sim::start(vendor, &all)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The simulator's JSON document at `path` (its request log and such).
    pub fn get_json(&self, path: &str) -> Value {
        reqwest::blocking::get(format!("{}{path}", self.address))
            .unwrap()
            .json()
            .unwrap()
    }

    /// The entries of the simulator's request log (`/_sim/log`) for `event`.
    pub fn events(&self, event: &str) -> Vec<Value> {
        let log = self.get_json("/_sim/log");
        let entries = log.as_array().expect("/_sim/log is an array");
        entries
            .iter()
            .filter(|e| e["event"] == event)
            .cloned()
            .collect()
    }

    /// The WattiVahti simulator's refresh-token redemptions: (accepted, refused).
    pub fn redemptions(&self) -> (usize, usize) {
        let redeems = self.events("redeem");
        let ok = redeems.iter().filter(|e| e["ok"] == true).count();
        (ok, redeems.len() - ok)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `hemflux-worker` process run by a test that plays the orchestrator: the test writes to
/// `stdin`, and every JSON line the worker prints arrives on `messages`.
pub struct WorkerProcess {
    pub child: Child,
    pub stdin: std::process::ChildStdin,
    pub messages: std::sync::mpsc::Receiver<Value>,
}

impl WorkerProcess {
    /// Starts `hemflux-worker <kind> <id>` with its stderr going to `stderr`.
    pub fn spawn(kind: &str, id: &str, stderr: Stdio, env: &[(&str, &str)]) -> WorkerProcess {
        let mut child = Command::new(bin("hemflux-worker"))
            .args([kind, id])
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start hemflux-worker");
        let stdout = child.stdout.take().expect("piped");
        let (tx, messages) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line).expect("the worker writes JSON lines");
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take().expect("piped");
        WorkerProcess {
            child,
            stdin,
            messages,
        }
    }

    /// Writes one protocol message.
    pub fn send(&mut self, msg: Value) {
        use std::io::Write;
        writeln!(self.stdin, "{msg}").expect("write to the worker");
    }

    /// The next message of type `kind`, skipping others (heartbeats, status); panics after
    /// `timeout`.
    pub fn next_of(&self, kind: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(msg) if msg["type"] == kind => return msg,
                Ok(_) => {}
                Err(e) => panic!("no {kind} message from the worker within {timeout:?}: {e}"),
            }
        }
    }
}
