//! Real database servers (InfluxDB 1.x, VictoriaMetrics) started on loopback ports for tests.
//!
//! Each runs in its own temp folder on free loopback ports and is killed on drop. `stop` and
//! `start` keep the folder and the port, so a test can take a server away and bring it back.
//! When a binary is missing the test is skipped with a loud message, unless
//! `HEMFLUX_REQUIRE_SERVERS=1` (CI), where it fails.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::{free_port, wait_for};

pub const INFLUXD: &str = "/usr/bin/influxd";
pub const VICTORIA_METRICS: &str = "/usr/bin/victoria-metrics";

/// Whether `binary` can be used. Missing: panics when `HEMFLUX_REQUIRE_SERVERS=1`, else says
/// loudly that the test is skipped and returns false.
pub fn available(binary: &str) -> bool {
    if Path::new(binary).is_file() {
        return true;
    }
    if std::env::var("HEMFLUX_REQUIRE_SERVERS").as_deref() == Ok("1") {
        panic!("{binary} is not installed, and HEMFLUX_REQUIRE_SERVERS=1 requires it (apt-get install influxdb victoria-metrics)");
    }
    eprintln!("\n!!!!!!!! SKIPPED: {binary} is not installed; this test did NOT run !!!!!!!!\n");
    false
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// Builds the server's command line from its folder and port.
type CommandLine = Box<dyn Fn(&Path, u16) -> Command + Send>;

/// A server process with its folder and port; killed on drop.
struct Process {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    command: CommandLine,
    ready_path: &'static str,
}

impl Process {
    fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("server log");
        let child = (self.command)(self.dir.path(), self.port)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start server");
        self.child = Some(child);
        let url = format!("http://127.0.0.1:{}{}", self.port, self.ready_path);
        let client = http();
        wait_for(Duration::from_secs(30), &format!("{url} to answer"), || {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("server exited ({status}); log: {}", self.log());
            }
            client
                .get(&url)
                .send()
                .ok()
                .filter(|r| r.status().is_success())
        });
    }

    /// Stops the server as an administrator would (SIGTERM, SIGKILL after 15 s), keeping its
    /// data. Not SIGKILL at once: VictoriaMetrics acknowledges writes it has only in memory for
    /// about a second, and a kill would lose them on the server's side.
    fn stop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn new_process(
    command: impl Fn(&Path, u16) -> Command + Send + 'static,
    ready_path: &'static str,
) -> Process {
    let mut p = Process {
        dir: tempfile::tempdir().expect("temp dir"),
        port: free_port(),
        child: None,
        command: Box::new(command),
        ready_path,
    };
    p.start();
    p
}

/// InfluxDB 1.x (`/write`, InfluxQL on `/query`).
pub struct Influxd {
    process: Process,
    /// Admin user and password when authentication is on.
    auth: Option<(String, String)>,
}

impl Influxd {
    /// Starts `influxd` with database `db` created; `None` if it is not installed (skipped).
    pub fn start(db: &str) -> Option<Influxd> {
        Self::start_with(db, None, 0)
    }

    /// Like [`Influxd::start`], with authentication on and `user` an admin with `password`.
    pub fn start_with_auth(db: &str, user: &str, password: &str) -> Option<Influxd> {
        Self::start_with(db, Some((user.to_string(), password.to_string())), 0)
    }

    /// Like [`Influxd::start_with_auth`], answering at most `max_rows` rows per query (the
    /// rest cut off, the answer marked `partial`), as a server configured so does.
    pub fn start_with_row_limit(
        db: &str,
        user: &str,
        password: &str,
        max_rows: u32,
    ) -> Option<Influxd> {
        Self::start_with(db, Some((user.to_string(), password.to_string())), max_rows)
    }

    fn start_with(db: &str, auth: Option<(String, String)>, max_rows: u32) -> Option<Influxd> {
        if !available(INFLUXD) {
            return None;
        }
        let rpc_port = free_port();
        let auth_enabled = auth.is_some();
        let process = new_process(
            move |dir: &Path, port| {
                let config = dir.join("influxdb.conf");
                let text = influxd_config(dir, port, rpc_port, auth_enabled, max_rows);
                std::fs::write(&config, text).expect("config");
                let mut c = Command::new(INFLUXD);
                c.arg("run").arg("-config").arg(config);
                c
            },
            "/ping",
        );
        let mut influxd = Influxd {
            process,
            auth: None,
        };
        if let Some((user, password)) = &auth {
            // With no user yet, InfluxDB accepts this one statement without credentials.
            influxd.query(&format!(
                "CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES"
            ));
        }
        influxd.auth = auth;
        influxd.query(&format!("CREATE DATABASE \"{db}\""));
        Some(influxd)
    }

    pub fn url(&self) -> String {
        self.process.url()
    }

    pub fn stop(&mut self) {
        self.process.stop();
    }

    pub fn start_again(&mut self) {
        self.process.start();
    }

    /// Runs an InfluxQL statement (POST /query) and returns the JSON reply; panics on an error.
    pub fn query(&self, q: &str) -> Value {
        self.query_db("", q)
    }

    pub fn query_db(&self, db: &str, q: &str) -> Value {
        let mut request = http().post(format!("{}/query", self.url())).form(&[
            ("db", db),
            ("q", q),
            ("epoch", "ns"),
        ]);
        if let Some((user, password)) = &self.auth {
            request = request.basic_auth(user, Some(password));
        }
        let reply: Value = request
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json())
            .unwrap_or_else(|e| panic!("influxd query {q:?}: {e}"));
        assert!(
            reply["results"][0].get("error").is_none(),
            "influxd query {q:?}: {reply}"
        );
        reply
    }

    /// Writes line protocol (nanosecond times) into `db`; panics unless the server takes it all.
    pub fn write(&self, db: &str, lines: &str) {
        let mut request = http()
            .post(format!("{}/write", self.url()))
            .query(&[("db", db)])
            .body(lines.to_string());
        if let Some((user, password)) = &self.auth {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().expect("influxd write");
        let status = response.status();
        assert!(
            status.is_success(),
            "influxd write: {status} {}",
            response.text().unwrap_or_default()
        );
    }

    /// Rows of `SELECT <select> FROM "<measurement>"`: each row's values, columns as named.
    pub fn rows(&self, db: &str, select: &str, measurement: &str) -> Vec<Vec<Value>> {
        let reply = self.query_db(db, &format!("SELECT {select} FROM \"{measurement}\""));
        reply["results"][0]["series"]
            .as_array()
            .map(|series| {
                series
                    .iter()
                    .flat_map(|s| s["values"].as_array().cloned().unwrap_or_default())
                    .map(|row| row.as_array().cloned().unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Number of stored values of `field` in `measurement` (InfluxDB keeps one per series and
    /// time, so a point sent twice counts once).
    pub fn count(&self, db: &str, measurement: &str, field: &str) -> u64 {
        let reply = self.query_db(
            db,
            &format!("SELECT count(\"{field}\") FROM \"{measurement}\""),
        );
        reply["results"][0]["series"][0]["values"][0][1]
            .as_u64()
            .unwrap_or(0)
    }
}

fn influxd_config(
    dir: &Path,
    port: u16,
    rpc_port: u16,
    auth_enabled: bool,
    max_rows: u32,
) -> String {
    let d = |name: &str| dir.join(name).display().to_string();
    format!(
        r#"reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{meta}"
[data]
  dir = "{data}"
  wal-dir = "{wal}"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
  auth-enabled = {auth_enabled}
  max-row-limit = {max_rows}
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
"#,
        meta = d("meta"),
        data = d("data"),
        wal = d("wal"),
    )
}

/// VictoriaMetrics: accepts `/api/v2/write` (line protocol), counts with `/api/v1/export`.
pub struct VictoriaMetrics {
    process: Process,
}

impl VictoriaMetrics {
    /// Starts it keeping 100 years and counting a re-sent point once (1 ms dedup); `None` if it is
    /// not installed (skipped).
    pub fn start() -> Option<VictoriaMetrics> {
        if !available(VICTORIA_METRICS) {
            return None;
        }
        let process = new_process(
            |dir: &Path, port| {
                let mut c = Command::new(VICTORIA_METRICS);
                c.arg(format!("-storageDataPath={}", dir.join("data").display()))
                    .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
                    .arg("-retentionPeriod=100y")
                    .arg("-dedup.minScrapeInterval=1ms")
                    .arg("-search.disableCache")
                    .arg("-loggerLevel=ERROR");
                c
            },
            "/health",
        );
        Some(VictoriaMetrics { process })
    }

    pub fn url(&self) -> String {
        self.process.url()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.process.dir.path().join("data")
    }

    pub fn stop(&mut self) {
        self.process.stop();
    }

    pub fn start_again(&mut self) {
        self.process.start();
    }

    /// The raw samples of every series matching `selector` (e.g. `{__name__=~"energy_meter_.*"}`),
    /// one JSON object per series: `{"metric": {...}, "values": [...], "timestamps": [...]}`.
    pub fn export(&self, selector: &str) -> Vec<Value> {
        let client = http();
        client
            .get(format!("{}/internal/force_flush", self.url()))
            .send()
            .and_then(|r| r.error_for_status())
            .expect("force_flush");
        let text = client
            .get(format!("{}/api/v1/export", self.url()))
            .query(&[("match[]", selector), ("start", "0")])
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.text())
            .unwrap_or_else(|e| panic!("export {selector}: {e}"));
        text.lines()
            .map(|l| serde_json::from_str(l).expect("export line is JSON"))
            .collect()
    }

    /// Number of raw samples of the series matching `selector`.
    pub fn count(&self, selector: &str) -> u64 {
        self.export(selector)
            .iter()
            .map(|s| s["timestamps"].as_array().map_or(0, Vec::len) as u64)
            .sum()
    }
}
