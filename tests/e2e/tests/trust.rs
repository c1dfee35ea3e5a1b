//! Tried as an attacker and as an unlucky operator would: credentials go only where they
//! belong, the API answers only whom it should, and faults heal (issue 11).

use std::io::Read;
use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hemflux_e2e::{bin, stdout_of, wait_for, Orchestrator};
use reqwest::blocking::Client;
use serde_json::json;

const T: Duration = Duration::from_secs(20);
const PASSWORD: &str = "villa1-pw-do-not-leak";

/// A listener on loopback that counts every connection and byte it receives.
struct Attacker {
    address: String,
    received: Arc<AtomicUsize>,
}

impl Attacker {
    fn start() -> Attacker {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(AtomicUsize::new(0));
        let count = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                let mut stream = stream;
                let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    count.fetch_add(n, Ordering::SeqCst);
                }
            }
        });
        Attacker { address, received }
    }
}

fn errors(o: &Orchestrator) -> Vec<String> {
    serde_json::from_str(&o.get("/api/errors").unwrap()).unwrap()
}

fn hemflux_check(o: &Orchestrator) -> (bool, String) {
    let out = Command::new(bin("hemflux"))
        .arg("check")
        .arg("--profiles")
        .arg(o.path("profiles"))
        .arg("--buildings")
        .arg(o.path("buildings"))
        .arg("--config")
        .arg(o.path("hemflux.toml"))
        .arg("--env-file")
        .arg(o.path(".env"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn a_profile_cannot_pull_another_entitys_or_the_sinks_credentials() {
    let attacker = Attacker::start();
    let o = Orchestrator::new("").start();
    std::fs::write(
        o.path(".env"),
        format!(
            "HOUSE_villa1_USERNAME=villa1\nHOUSE_villa1_PASSWORD={PASSWORD}\n\
             HOUSE_villa1_URL=https://homeside.systeminstallation.se\nINFLUXDB_TOKEN={PASSWORD}\n"
        ),
    )
    .unwrap();
    // Another house's credentials, sent to the attacker's listener.
    o.write_profile(
        "evil.json",
        &json!({"credential_ref": "HOUSE_villa1", "homeside": {"base_url": attacker.address}})
            .to_string(),
    );
    // villa1's own profile, pointed at the attacker: the host is not where they were verified.
    o.write_profile(
        "villa1.json",
        &json!({"homeside": {"base_url": format!("{}/api", attacker.address)}}).to_string(),
    );
    // The sink's token as a Tibber token.
    o.write_profile(
        "meter.json",
        &json!({"meters": [{"name": "el", "source": {"type": "tibber", "home_id": "h",
            "credential_ref": "INFLUXDB", "base_url": attacker.address}}]})
        .to_string(),
    );
    let found = wait_for(T, "three refusals in /api/errors", || {
        let e = errors(&o);
        (e.len() >= 3).then_some(e)
    });
    let all = found.join("\n");
    assert!(
        all.contains("evil.json: credential_ref") && all.contains("house:evil is not started"),
        "{all}"
    );
    assert!(
        all.contains("villa1.json: homeside.base_url") && all.contains("HOUSE_villa1_URL="),
        "{all}"
    );
    assert!(
        all.contains("meter.json: credential_ref") && all.contains("go to no worker"),
        "{all}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let ids: Vec<String> = o
        .workers()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.is_empty(), "no worker may start: {ids:?}");
    assert_eq!(
        attacker.received.load(Ordering::SeqCst),
        0,
        "the attacker received something"
    );
    assert!(!o.log().contains(PASSWORD));

    let (ok, text) = hemflux_check(&o);
    assert!(!ok, "{text}");
    assert!(
        text.contains("evil.json: credential_ref") && text.contains("3 problem(s)"),
        "{text}"
    );
}

#[test]
fn the_api_needs_the_token_its_own_host_and_its_own_origin() {
    let o = Orchestrator::new("").start();
    o.write_profile("villa.json", r#"{"synthetic": {"interval_ms": 200}}"#);
    let first = o.wait_state("synthetic:villa", "running", T);
    let http = Client::new();
    let restart = |host: Option<&str>, origin: Option<&str>, token: Option<&str>| {
        let mut r = http
            .post(o.url("/api/workers/synthetic:villa/restart"))
            .timeout(Duration::from_secs(10));
        if let Some(h) = host {
            r = r.header("host", h);
        }
        if let Some(origin) = origin {
            r = r.header("origin", origin);
        }
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().unwrap();
        (resp.status().as_u16(), resp.text().unwrap())
    };
    let token = o.token();
    let (status, body) = restart(None, None, None);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("api-token"), "{body}");
    assert_eq!(restart(None, None, Some("wrong")).0, 401);
    let (status, body) = restart(Some("rebind.evil.example"), None, Some(&token));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("allowed_hosts"), "{body}");
    let (status, body) = restart(None, Some("http://evil.example"), Some(&token));
    assert_eq!(status, 403, "{body}");
    // Reads are refused under a foreign name too (DNS rebinding); health and metrics are open.
    let read = |path: &str| {
        http.get(o.url(path))
            .header("host", "rebind.evil.example")
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(read("/api/workers"), 403);
    assert_eq!(read("/health"), 200);
    assert_eq!(read("/metrics"), 200);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        o.worker("synthetic:villa").unwrap()["pid"],
        first["pid"],
        "a refused request changed nothing"
    );

    // The right token, from the same origin: obeyed.
    let (status, body) = restart(None, Some(&o.url("")), Some(&token));
    assert_eq!(status, 200, "{body}");
    wait_for(T, "the restart", || {
        o.worker("synthetic:villa")
            .filter(|w| w["pid"].is_i64() && w["pid"] != first["pid"])
    });

    // The CLI reads the token from the data folder; a rotated token replaces the old one at once.
    let cli = |args: &[&str]| {
        Command::new(bin("hemflux"))
            .args(args)
            .arg("--data")
            .arg(o.path("data"))
            .output()
            .unwrap()
    };
    let listen = format!("127.0.0.1:{}", o.port);
    stdout_of(cli(&["restart", "synthetic:villa", "--listen", &listen]));
    assert!(cli(&["token", "rotate"]).status.success());
    assert_ne!(o.token(), token);
    assert_eq!(
        restart(None, None, Some(&token)).0,
        401,
        "the old token is void"
    );
    assert_eq!(restart(None, None, Some(&o.token())).0, 200);
    stdout_of(cli(&["restart", "synthetic:villa", "--listen", &listen]));
}

#[test]
fn a_newcomer_cannot_take_over_a_running_workers_id() {
    let o = Orchestrator::new("").start();
    o.write_profile("good2.json", r#"{"synthetic": {"interval_ms": 200}}"#);
    let first = o.wait_state("synthetic:good2", "running", T);
    o.write_profile(
        "aaa_clash.json",
        r#"{"id": "good2", "synthetic": {"interval_ms": 50}}"#,
    );
    let e = wait_for(T, "the clash in /api/errors", || {
        errors(&o).into_iter().find(|e| e.contains("already used"))
    });
    assert!(
        e.contains("aaa_clash.json") && e.contains("good2.json"),
        "{e}"
    );
    assert!(
        e.starts_with(&o.path("profiles/aaa_clash.json").display().to_string()),
        "{e}"
    );
    std::thread::sleep(Duration::from_secs(1));
    let now = o.worker("synthetic:good2").unwrap();
    assert_eq!(now["pid"], first["pid"], "the first holder keeps running");
    assert_eq!(now["config_files"], json!([o.path("profiles/good2.json")]));
    let (ok, text) = hemflux_check(&o);
    assert!(
        !ok && text.contains("aaa_clash.json: id: id \"good2\" is already used"),
        "{text}"
    );
}

#[test]
fn a_broken_env_is_reported_once_and_profile_changes_keep_applying() {
    let o = Orchestrator::new("").start();
    std::fs::write(o.path(".env"), "A=1\nTHIS LINE IS BROKEN\n").unwrap();
    let e = wait_for(T, "the .env problem in /api/errors", || {
        errors(&o).into_iter().find(|e| e.contains(".env"))
    });
    assert!(
        e.starts_with(&format!("{}:2:", o.path(".env").display())),
        "{e}"
    );
    o.write_profile("new.json", r#"{"synthetic": {"interval_ms": 200}}"#);
    o.wait_state("synthetic:new", "running", T);
    std::fs::remove_file(o.path("profiles/new.json")).unwrap();
    o.wait_gone("synthetic:new", T);
    std::thread::sleep(Duration::from_secs(2));
    let logged = o.log().matches(".env:2:").count();
    assert_eq!(logged, 1, "logged once, not on every event or rescan");
    let status = o.cli(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains(".env:2:"), "{text}");
    std::fs::write(o.path(".env"), "A=1\n").unwrap();
    wait_for(T, "the problem to clear", || {
        errors(&o).is_empty().then_some(())
    });
}

/// Read syscalls of a process so far (`/proc/<pid>/io`, all threads).
fn read_calls(pid: i32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("syscr: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn an_idle_watcher_does_not_wake_itself() {
    let o = Orchestrator::with_idle_profiles(200).start();
    std::thread::sleep(Duration::from_secs(2));
    let before = read_calls(o.pid());
    std::thread::sleep(Duration::from_secs(3));
    let reads = read_calls(o.pid()) - before;
    // Re-reading 200 files once is 400+ reads; the self-waking watcher did that ~9 times a second.
    assert!(reads < 100, "{reads} read calls in 3 s of idling");
}

#[test]
fn a_deleted_failed_worker_is_gone_and_shutdown_stays_fast() {
    let o = Orchestrator::new("");
    // No credentials in .env: the house worker is `failed` and has no process.
    o.write_profile("ghost.json", r#"{"homeside": {}}"#);
    o.write_profile(
        "crashy.json",
        r#"{"synthetic": {"interval_ms": 100, "exit_after_ms": 100}}"#,
    );
    let mut o = o.start();
    o.wait_state("house:ghost", "failed", T);
    wait_for(T, "crashy in backoff", || {
        o.worker("synthetic:crashy")
            .filter(|w| w["state"] == "backoff" || w["state"] == "failed")
    });
    std::fs::remove_file(o.path("profiles/ghost.json")).unwrap();
    std::fs::remove_file(o.path("profiles/crashy.json")).unwrap();
    o.wait_gone("house:ghost", Duration::from_secs(5));
    o.wait_gone("synthetic:crashy", Duration::from_secs(5));
    let metrics = o.get("/metrics").unwrap();
    assert!(
        !metrics.contains("ghost") && !metrics.contains("crashy"),
        "{metrics}"
    );
    let (status, took) = o.terminate();
    assert!(status.success());
    assert!(took < Duration::from_secs(2), "stopped in {took:?}");
}

#[test]
fn every_simulator_stops_on_sigterm() {
    for vendor in [
        "homeside",
        "arrigo",
        "smhi",
        "wattivahti",
        "tibber",
        "dropbox",
        "seq",
        "broute",
    ] {
        let args: &[&str] = match vendor {
            "broute" => &[],
            "homeside" => &["--listen", "127.0.0.1:0", "--house", "h:u:p"],
            _ => &["--listen", "127.0.0.1:0"],
        };
        // Its stdin stays open: only the signal can stop it.
        let sim = hemflux_e2e::Sim::start(vendor, args);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(sim.pid()),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        wait_for(
            Duration::from_secs(5),
            &format!("hemflux-sim {vendor} to exit"),
            || (!hemflux_e2e::alive(sim.pid())).then_some(()),
        );
    }
}

/// Every process below `pid`, recursively.
fn descendants(pid: i32) -> Vec<i32> {
    let mut all = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for c in hemflux_e2e::children(p) {
            all.push(c);
            todo.push(c);
        }
    }
    all
}

#[test]
fn the_demo_stops_its_whole_tree_on_sigterm_and_sighup() {
    use std::io::BufRead;
    for signal in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGHUP,
    ] {
        let mut demo = Command::new(bin("hemflux"))
            .args(["demo", "--duration", "120"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = demo.id() as i32;
        let mut lines = std::io::BufReader::new(demo.stdout.take().unwrap()).lines();
        // The first summary line: the fleet is up.
        let mut folder = None;
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(f) = line.strip_prefix("hemflux demo: fleet in ") {
                folder = Some(f.to_string());
            }
            if line.contains("workers:") {
                break;
            }
        }
        let tree = descendants(pid);
        assert!(tree.len() > 5, "{tree:?}");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).unwrap();
        let status = hemflux_e2e::wait_for(Duration::from_secs(15), "the demo to exit", || {
            demo.try_wait().unwrap()
        });
        assert!(status.success(), "{signal}: {status}");
        wait_for(
            Duration::from_secs(10),
            "every process of the demo to be gone",
            || tree.iter().all(|p| !hemflux_e2e::alive(*p)).then_some(()),
        );
        if let Some(f) = folder {
            let _ = std::fs::remove_dir_all(f);
        }
    }
}

#[test]
fn the_demo_refuses_a_taken_port_and_keeps_its_log_when_failing() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let out = Command::new(bin("hemflux"))
        .args(["demo", "--duration", "5", "--listen"])
        .arg(taken.local_addr().unwrap().to_string())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("in use") && stderr.contains("--listen 127.0.0.1:0"),
        "{stderr}"
    );

    // A store that cannot be opened: the demo fails on it (its history import opens the store
    // first), names the file, and keeps its folder, with the log if `hemflux run` got to write one.
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir(data.path().join("hemflux.db")).unwrap();
    let out = Command::new(bin("hemflux"))
        .args(["demo", "--duration", "20", "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("hemflux.db"), "{stderr}");
    let folder = stderr
        .split("kept in ")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .unwrap_or_else(|| panic!("names the kept folder: {stderr}"))
        .trim()
        .to_string();
    let folder = std::path::Path::new(&folder);
    assert!(folder.is_dir(), "{stderr}");
    if let Some(log) = stderr
        .split("see ")
        .nth(1)
        .and_then(|s| s.split(';').next())
    {
        let text = std::fs::read_to_string(log.trim()).unwrap_or_else(|e| panic!("{log}: {e}"));
        assert!(text.contains("hemflux.db"), "{text}");
    }
    std::fs::remove_dir_all(folder).unwrap();
}

/// A small tmpfs mounted over `dir` (root only), unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
        let root = std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
        let why = if !root {
            "not running as root".to_string()
        } else {
            match Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir)
                .output()
            {
                Ok(out) if out.status.success() => return Some(Tmpfs(dir.to_path_buf())),
                Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
                Err(e) => e.to_string(),
            }
        };
        if std::env::var("HEMFLUX_REQUIRE_SERVERS").as_deref() == Ok("1") {
            panic!("cannot mount a tmpfs ({why}) and HEMFLUX_REQUIRE_SERVERS=1");
        }
        eprintln!("skipped: cannot mount a tmpfs for the full-disk test ({why})");
        None
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem of `path` to the last byte.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    for chunk in [1 << 20, 4096, 1] {
        let buf = vec![0u8; chunk];
        while f.write_all(&buf).is_ok() {}
    }
    let _ = f.sync_all();
}

#[test]
fn a_full_disk_keeps_workers_running_and_heals_when_space_returns() {
    let o = Orchestrator::new("");
    let Some(_tmpfs) = Tmpfs::mount(&o.path("data"), "16m") else {
        return;
    };
    for h in ["a", "b"] {
        o.write_profile(
            &format!("{h}.json"),
            r#"{"synthetic": {"interval_ms": 50, "points_per_batch": 10}}"#,
        );
    }
    let o = o.start();
    let before: Vec<_> = ["a", "b"]
        .map(|h| o.wait_state(&format!("synthetic:{h}"), "running", T)["pid"].clone())
        .into();
    wait_for(T, "points in the store", || {
        (o.query("synthetic", &[]).len() > 100).then_some(())
    });

    let filler = o.path("data/filler");
    fill(&filler);
    let body = wait_for(T, "/health to report the store", || {
        let resp = Client::new().get(o.url("/health")).send().unwrap();
        (resp.status().as_u16() == 503).then(|| resp.text().unwrap())
    });
    assert!(body.contains("the store cannot write"), "{body}");
    assert!(o
        .get("/metrics")
        .unwrap()
        .contains("hemflux_store_writable 0"));
    let status = o.cli(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("NOT HEALTHY: the store cannot write"),
        "{text}"
    );
    std::thread::sleep(Duration::from_secs(3));
    for (h, pid) in ["a", "b"].iter().zip(&before) {
        let w = o.worker(&format!("synthetic:{h}")).unwrap();
        assert_eq!(w["state"], "running", "{w}");
        assert_eq!(&w["pid"], pid, "the worker kept running: {w}");
        assert_eq!(w["restarts"], 0, "{w}");
    }

    std::fs::remove_file(&filler).unwrap();
    wait_for(
        Duration::from_secs(10),
        "/health ok within seconds of space coming back",
        || o.get("/health").ok(),
    );
    let stored = o.query("synthetic", &[]).len();
    wait_for(T, "new points", || {
        (o.query("synthetic", &[]).len() > stored + 50).then_some(())
    });
    // Each worker sends its next batch only after the previous one was acknowledged, numbering
    // points 0, 1, 2, ...: stored numbers without a gap mean nothing acknowledged was lost.
    for h in ["a", "b"] {
        let mut n: Vec<i64> = o
            .query("synthetic", &["--tag", &format!("house_id={h}")])
            .iter()
            .map(|r| r["fields"]["n"].as_i64().unwrap())
            .collect();
        n.sort_unstable();
        assert_eq!(n[0], 0);
        assert!(
            n.windows(2).all(|w| w[1] == w[0] + 1),
            "a gap in house {h}'s numbers"
        );
    }
}

/// A loopback server that accepts connections and never answers (a hung sink).
fn black_hole() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    address
}

fn sink_behind(o: &Orchestrator) -> Option<u64> {
    let sinks: Vec<serde_json::Value> = serde_json::from_str(&o.get("/api/sinks").ok()?).ok()?;
    sinks[0]["points_behind"].as_u64()
}

#[test]
fn a_sinks_lag_keeps_counting_while_its_server_hangs() {
    let toml = format!(
        "[weather]\nenabled = false\n\n[[sinks]]\ntype = \"influxdb_v2\"\nname = \"hung\"\n\
         url = \"{}\"\norg = \"o\"\nbucket = \"b\"\ntoken = \"t\"\nflush_interval_ms = 100\n",
        black_hole()
    );
    let o = Orchestrator::with_settings(&toml).start();
    o.write_profile(
        "lag.json",
        r#"{"synthetic": {"interval_ms": 50, "points_per_batch": 5}}"#,
    );
    // The first batch hangs for the client's 30 s timeout; the lag must grow meanwhile.
    wait_for(T, "points_behind to pass 200", || {
        (sink_behind(&o)? >= 200).then_some(())
    });
    std::fs::remove_file(o.path("profiles/lag.json")).unwrap();
    o.wait_gone("synthetic:lag", T);
    // Counted each round: the last batches may still be committing when the worker is gone.
    let stored = wait_for(
        Duration::from_secs(5),
        "points_behind to be every point",
        || {
            let stored = o.query("synthetic", &[]).len() as u64;
            (sink_behind(&o)? == stored).then_some(stored)
        },
    );
    assert!(
        o.get("/metrics").unwrap().contains(&format!(
            "hemflux_sink_points_behind{{sink=\"hung\"}} {stored}"
        )),
        "{}",
        o.get("/metrics").unwrap()
    );
    let status = o.cli(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains(&format!("sink hung: {stored} points behind")),
        "{text}"
    );
}

#[test]
fn a_house_that_cannot_log_in_shows_why() {
    const HOUSE: &str = "locked";
    let sim = hemflux_e2e::Sim::start(
        "homeside",
        &[
            "--house",
            &format!("{HOUSE}:u1:right-pw"),
            "--warmup-reads",
            "0",
        ],
    );
    let o = Orchestrator::new("[weather]\nenabled = false\n").start();
    let env = |password: &str| {
        std::fs::write(
            o.path(".env"),
            format!(
                "HOUSE_{HOUSE}_USERNAME=u1\nHOUSE_{HOUSE}_PASSWORD={password}\n\
                 HOUSE_{HOUSE}_URL={}\n",
                sim.address
            ),
        )
        .unwrap();
    };
    env("wrong-pw");
    o.write_profile(
        &format!("{HOUSE}.json"),
        &json!({"homeside": {"base_url": sim.address, "poll_interval_secs": 1,
            "retry_initial_ms": 100}})
        .to_string(),
    );
    let id = format!("house:{HOUSE}");
    let w = wait_for(T, "the failed login in the worker's error", || {
        o.worker(&id).filter(|w| w["error"].is_string())
    });
    assert_eq!(w["state"], "running", "{w}");
    assert!(
        w["error"].as_str().unwrap().contains("refused the login"),
        "{w}"
    );
    let status = o.cli(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("refused the login"), "{text}");

    env("right-pw");
    let w = wait_for(T, "data, and the error cleared", || {
        o.worker(&id)
            .filter(|w| w["points"].as_u64() > Some(0) && w["error"].is_null())
    });
    assert!(
        w["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("refused the login"),
        "{w}"
    );
}
