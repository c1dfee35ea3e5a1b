//! What `deploy/` promises, checked without a container engine:
//! - the Dockerfile copies only what exists, builds every workspace member's manifest in, and
//!   names real commands (entry point, health check) and the folders `hemflux run` defaults to;
//! - the image's root file system (`deploy/rootfs.sh`, what the final `FROM scratch` stage holds)
//!   runs the orchestrator and its workers as PID 1 of a new PID namespace, as the non-root user,
//!   answers the health check, and stops cleanly on SIGTERM (reaping orphans as PID 1 is
//!   tested in `pid1.rs`);
//! - compose.yaml, the Grafana provisioning and Prometheus agree with each other and the image;
//! - every dashboard query names only measurements, tags and fields of `shared::schema`, and
//!   only metrics the orchestrator serves; the schema's names appear in the code that writes them;
//! - the systemd unit passes `systemd-analyze verify` (when systemd-analyze is installed).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hemflux_e2e::{bin, children, free_port, run_ok, wait_for, Orchestrator};
use hemflux_shared::schema;
use serde_json::Value;

const T: Duration = Duration::from_secs(20);
/// The container user of the Dockerfile (`USER 10001:10001`).
const UID: u32 = 10001;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn dockerfile() -> Vec<(String, String)> {
    let text = read("deploy/Dockerfile").replace("\\\n", " ");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (op, rest) = l.split_once(' ').unwrap_or((l, ""));
            (op.to_uppercase(), rest.trim().to_string())
        })
        .collect()
}

fn instruction(op: &str) -> Vec<String> {
    dockerfile()
        .into_iter()
        .filter(|(o, _)| o == op)
        .map(|(_, rest)| rest)
        .collect()
}

/// A JSON-array (exec form) argument list.
fn exec_form(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not exec form: {text}: {e}"))
}

fn entrypoint() -> Vec<String> {
    exec_form(&instruction("ENTRYPOINT").pop().expect("an ENTRYPOINT"))
}

fn healthcheck() -> Vec<String> {
    let hc = instruction("HEALTHCHECK").pop().expect("a HEALTHCHECK");
    exec_form(
        hc.split_once("CMD")
            .expect("HEALTHCHECK ... CMD [...]")
            .1
            .trim(),
    )
}

fn workdir() -> String {
    instruction("WORKDIR").pop().expect("a WORKDIR")
}

/// `argv` with the value after `--listen` replaced.
fn with_listen(argv: &[String], listen: &str) -> Vec<String> {
    let mut out = argv.to_vec();
    let i = out.iter().position(|a| a == "--listen").expect("--listen") + 1;
    out[i] = listen.to_string();
    out
}

/// The defaults `hemflux run --help` prints, by long option name.
fn run_defaults() -> BTreeMap<String, String> {
    let out = Command::new(bin("hemflux"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let mut defaults = BTreeMap::new();
    let mut option = None;
    for line in help.lines() {
        if let Some(name) = line.trim_start().strip_prefix("--") {
            option = Some(name.split([' ', '=']).next().unwrap().to_string());
        }
        if let (Some(o), Some(d)) = (&option, line.split("[default: ").nth(1)) {
            defaults.insert(o.clone(), d.trim_end_matches(']').to_string());
        }
    }
    defaults
}

/// The container paths of the folders and files `hemflux run` reads by default.
fn container_paths() -> BTreeMap<&'static str, String> {
    let d = run_defaults();
    let wd = workdir();
    ["profiles", "buildings", "data", "env-file"]
        .into_iter()
        .map(|k| {
            let v = d.get(k).unwrap_or_else(|| panic!("no default for --{k}"));
            (k, format!("{wd}/{v}"))
        })
        .collect()
}

#[test]
fn dockerfile_copies_what_exists_and_builds_every_workspace_member() {
    let mut copied = Vec::new();
    for copy in instruction("COPY") {
        if copy.starts_with("--from") {
            continue;
        }
        let parts: Vec<&str> = copy.split_whitespace().collect();
        for src in &parts[..parts.len() - 1] {
            assert!(
                repo().join(src).exists(),
                "COPY {src}: not in the repository"
            );
            copied.push(src.to_string());
        }
    }
    let manifest: toml::Table = read("Cargo.toml").parse().unwrap();
    for member in manifest["workspace"]["members"].as_array().unwrap() {
        let member = member.as_str().unwrap();
        assert!(
            copied
                .iter()
                .any(|c| member == c || member.starts_with(&format!("{c}/"))),
            "workspace member {member} is not copied into the build stage"
        );
    }
    let run = instruction("RUN").join(" ");
    assert!(run.contains("-p hemflux -p hemflux-worker"), "{run}");
    assert!(
        run.contains("deploy/rootfs.sh target/release /rootfs /volumes"),
        "{run}"
    );
    assert!(copied.iter().any(|c| c == "deploy/rootfs.sh"));
    assert!(instruction("FROM").iter().any(|f| f == "scratch"));
    assert_eq!(instruction("USER"), [format!("{UID}:{UID}")]);
}

#[test]
fn dockerfile_commands_are_real_and_volumes_are_the_default_folders() {
    for argv in [entrypoint(), healthcheck()] {
        assert_eq!(argv[0], format!("{}/hemflux", workdir()), "{argv:?}");
        let out = Command::new(bin("hemflux"))
            .args(&argv[1..])
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "`hemflux {}` is not a command: {}",
            argv[1..].join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(entrypoint()[1], "run");
    assert_eq!(healthcheck()[1], "health");
    let volumes: BTreeSet<String> = exec_form(&instruction("VOLUME").pop().unwrap())
        .into_iter()
        .collect();
    let paths = container_paths();
    let expected: BTreeSet<String> = ["profiles", "buildings", "data"]
        .iter()
        .map(|k| paths[k].clone())
        .collect();
    assert_eq!(volumes, expected);
    // COPY makes files root's and leaves an existing folder's owner alone: the volume folders
    // come from a COPY of their own that creates them for the hemflux user, or the store cannot
    // be created in a fresh volume.
    let line = format!("--from=build --chown={UID}:{UID} /volumes/ {}/", workdir());
    assert!(instruction("COPY").contains(&line), "no `COPY {line}`");
    for dir in &expected {
        assert!(dir.starts_with(&format!("{}/", workdir())), "{dir}");
    }
}

/// A process tree started for a test, killed (whole process group) on drop.
struct Tree(Child);

impl Drop for Tree {
    fn drop(&mut self) {
        let pgid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

/// Starts `unshare <ns_args> <argv>` in its own process group, stderr to `log`.
fn unshare(ns_args: &[&str], argv: &[String], cwd: &Path, log: &Path) -> Tree {
    use std::os::unix::process::CommandExt;
    let child = Command::new("unshare")
        .args(ns_args)
        .args(argv)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .process_group(0)
        .spawn()
        .expect("unshare (util-linux) is needed for the PID 1 tests");
    Tree(child)
}

/// The host pid of `hemflux`, the forked child of `unshare --fork`; its log says why when it is not
/// there.
fn orchestrator_pid(tree: &Tree, log: &Path) -> i32 {
    let deadline = std::time::Instant::now() + T;
    loop {
        if let Some(pid) = children(tree.0.id() as i32).first().copied() {
            return pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {T:?} waiting for hemflux under unshare; its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn status_line(pid: i32, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

fn http_get(port: u16, path: &str) -> Option<String> {
    reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .timeout(Duration::from_secs(5))
        .send()
        .ok()
        .filter(|r| r.status().is_success())?
        .text()
        .ok()
}

/// The value of a Prometheus sample such as `hemflux_worker_points_total{worker="x",...}`.
fn metric(text: &str, name: &str, label: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l.contains(label))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

fn sigterm_and_wait(tree: &mut Tree, pid: i32) -> (std::process::ExitStatus, Duration) {
    let t0 = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = wait_for(T, "unshare to exit after SIGTERM", || {
        tree.0.try_wait().unwrap()
    });
    (status, t0.elapsed())
}

/// Whether this machine can make PID namespaces (root is needed); CI must.
fn can_unshare() -> bool {
    let ok = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("HEMFLUX_REQUIRE_SERVERS").is_err(),
            "unshare --pid does not work here"
        );
        eprintln!("SKIPPED: this machine cannot create PID namespaces (unshare --pid)");
    }
    ok
}

/// Runs `deploy/rootfs.sh <built binaries> <args...>`.
fn rootfs_sh(args: &[&Path]) {
    run_ok(
        Command::new("sh")
            .arg(repo().join("deploy/rootfs.sh"))
            .arg(bin("hemflux").parent().unwrap())
            .args(args),
    );
}

#[test]
fn the_offline_build_applies_the_dockerfiles_final_stage_to_rootfs_sh_output() {
    let out = Command::new("sh")
        .arg(repo().join("deploy/build-offline.sh"))
        .arg("--print-containerfile")
        .output()
        .unwrap();
    assert!(out.status.success());
    let containerfile = String::from_utf8(out.stdout).unwrap();
    assert!(
        containerfile.starts_with("FROM scratch\n"),
        "{containerfile}"
    );
    let final_stage = read("deploy/Dockerfile");
    let final_stage = &final_stage[final_stage.find("FROM scratch").unwrap()..];
    assert_eq!(
        containerfile.lines().count(),
        final_stage.lines().count(),
        "the offline build must keep every line of the final stage"
    );
    assert!(!containerfile.contains("--from="), "{containerfile}");
    // Its COPY sources are the folders rootfs.sh makes in the build context.
    let ctx = tempfile::tempdir().unwrap();
    // As root only: rootfs.sh gives the volume folders to uid 10001.
    if std::fs::metadata("/proc/self").unwrap().uid() == 0 {
        rootfs_sh(&[&ctx.path().join("rootfs"), &ctx.path().join("volumes")]);
        for line in containerfile.lines().filter(|l| l.starts_with("COPY ")) {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let src = parts[parts.len() - 2];
            assert!(
                ctx.path().join(src).is_dir(),
                "{line}: no {src} in the context"
            );
        }
        let volumes = ctx.path().join("volumes");
        for dir in ["profiles", "buildings", "data"] {
            assert_eq!(volumes.join(dir).metadata().unwrap().uid(), UID, "{dir}");
            assert!(!ctx.path().join("rootfs/app").join(dir).exists(), "{dir}");
        }
    }
}

const SYNTHETIC: &str = r#"{"synthetic": {"interval_ms": 100}}"#;

#[test]
fn the_image_root_fs_runs_as_non_root_pid1_with_health_check_and_clean_stop() {
    if !can_unshare() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = tmp.path().join("rootfs");
    rootfs_sh(&[&rootfs]);
    // The container engine provides /proc; so does this test.
    std::fs::create_dir(rootfs.join("proc")).unwrap();
    let paths = container_paths();
    let inside = |p: &str| rootfs.join(p.trim_start_matches('/'));
    std::fs::write(inside(&paths["profiles"]).join("villa.json"), SYNTHETIC).unwrap();

    let port = free_port();
    let user = UID.to_string();
    let container = [
        "--pid",
        "--fork",
        "--mount",
        "--mount-proc",
        "--root",
        rootfs.to_str().unwrap(),
        "--wd",
        &workdir(),
        "--setgid",
        &user,
        "--setuid",
        &user,
    ];
    let log = tmp.path().join("hemflux.log");
    let argv = with_listen(&entrypoint(), &format!("127.0.0.1:{port}"));
    let mut tree = unshare(&container, &argv, tmp.path(), &log);
    let pid = orchestrator_pid(&tree, &log);
    let started = wait_for(T, "/health of the containerised orchestrator", || {
        http_get(port, "/health")
    });
    assert!(!started.is_empty());
    assert_eq!(
        status_line(pid, "NSpid").split_whitespace().last(),
        Some("1"),
        "not PID 1 in its namespace"
    );
    assert!(
        status_line(pid, "Uid").starts_with(&format!("{UID}\t")),
        "not running as the hemflux user: {}",
        status_line(pid, "Uid")
    );
    // The worker binary runs from the image too: points arrive.
    wait_for(T, "points from the synthetic worker", || {
        let m = http_get(port, "/metrics")?;
        metric(&m, "hemflux_worker_points_total", "synthetic:villa").filter(|n| *n > 0.0)
    });
    // The HEALTHCHECK command, run inside the image as the engine does.
    let health = Command::new("unshare")
        .args(&container[4..])
        .args(with_listen(&healthcheck(), &format!("127.0.0.1:{port}")))
        .output()
        .unwrap();
    assert!(
        health.status.success(),
        "health check failed: {}",
        String::from_utf8_lossy(&health.stderr)
    );
    // The store was written by the hemflux user into its volume.
    let data = inside(&paths["data"]);
    let owned: Vec<u32> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().uid())
        .collect();
    assert!(
        !owned.is_empty() && owned.iter().all(|u| *u == UID),
        "{owned:?}"
    );

    let (status, took) = sigterm_and_wait(&mut tree, pid);
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(8), "stop took {took:?}");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("panicked"), "{log}");
}

/// A compose value such as `${INFLUXDB_TOKEN:?...}` or `${INFLUXDB_ORG:-hemflux}` → the variable.
fn compose_var(v: &serde_yaml::Value) -> String {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{v:?} is not a string"));
    s.strip_prefix("${")
        .and_then(|r| r.split([':', '}']).next())
        .unwrap_or_else(|| panic!("{s} is not ${{VAR...}}"))
        .to_string()
}

fn yaml(rel: &str) -> serde_yaml::Value {
    serde_yaml::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn compose_grafana_and_prometheus_agree_with_the_image_and_each_other() {
    let compose = yaml("deploy/compose.yaml");
    let services = &compose["services"];
    let hemflux = &services["hemflux"];
    assert_eq!(hemflux["build"]["dockerfile"], "deploy/Dockerfile");
    assert_eq!(
        repo()
            .join("deploy")
            .join(hemflux["build"]["context"].as_str().unwrap())
            .canonicalize()
            .unwrap(),
        repo().canonicalize().unwrap()
    );
    // The hemflux volumes land where the binary looks, and the repository's mounts exist.
    let mounts = |svc: &serde_yaml::Value| -> BTreeMap<String, String> {
        svc["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| {
                let mut parts = v.as_str().unwrap().split(':');
                let src = parts.next().unwrap().to_string();
                (parts.next().unwrap().to_string(), src)
            })
            .collect()
    };
    let hm = mounts(hemflux);
    for path in container_paths().values() {
        assert!(hm.contains_key(path), "compose does not mount {path}");
    }
    assert!(repo().join("deploy/env.example").is_file());
    for svc in ["grafana", "prometheus"] {
        for src in mounts(&services[svc]).values() {
            if src.starts_with("./") {
                assert!(repo().join("deploy").join(src).exists(), "{svc}: {src}");
            }
        }
    }
    // One token, org and bucket: InfluxDB's first-start setup, hemflux's sink, Grafana's source.
    let influx = &services["influxdb"]["environment"];
    assert_eq!(influx["DOCKER_INFLUXDB_INIT_MODE"], "setup");
    let he = &hemflux["environment"];
    let ge = &services["grafana"]["environment"];
    for (sink, init) in [
        ("INFLUXDB_TOKEN", "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"),
        ("INFLUXDB_ORG", "DOCKER_INFLUXDB_INIT_ORG"),
        ("INFLUXDB_BUCKET", "DOCKER_INFLUXDB_INIT_BUCKET"),
    ] {
        assert_eq!(compose_var(&he[sink]), compose_var(&influx[init]), "{sink}");
        assert_eq!(compose_var(&ge[sink]), compose_var(&influx[init]), "{sink}");
    }
    let url = he["INFLUXDB_URL"].as_str().unwrap();
    assert!(url.starts_with("http://influxdb:8086"), "{url}");

    // Grafana's data sources read those variables, and the dashboards use their uids.
    let ds = yaml("deploy/grafana/provisioning/datasources/hemflux.yaml");
    let sources = ds["datasources"].as_sequence().unwrap();
    let influx_ds = sources.iter().find(|s| s["type"] == "influxdb").unwrap();
    assert_eq!(influx_ds["jsonData"]["version"], "Flux");
    assert_eq!(influx_ds["secureJsonData"]["token"], "${INFLUXDB_TOKEN}");
    assert_eq!(influx_ds["jsonData"]["defaultBucket"], "${INFLUXDB_BUCKET}");
    let uids: BTreeSet<&str> = sources.iter().map(|s| s["uid"].as_str().unwrap()).collect();
    for (name, dash) in dashboards() {
        for uid in datasource_uids(&dash) {
            assert!(
                uids.contains(uid.as_str()),
                "{name}: unknown data source {uid}"
            );
        }
    }
    let providers = yaml("deploy/grafana/provisioning/dashboards/hemflux.yaml");
    let dash_path = providers["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    let gm = mounts(&services["grafana"]);
    assert_eq!(gm[dash_path], "./grafana/dashboards");

    // Prometheus scrapes the hemflux service on the port the entry point listens on.
    let prom_ds = sources.iter().find(|s| s["type"] == "prometheus").unwrap();
    assert!(prom_ds["url"].as_str().unwrap().contains("prometheus:9090"));
    let prom = yaml("deploy/prometheus.yml");
    let target = prom["scrape_configs"][0]["static_configs"][0]["targets"][0]
        .as_str()
        .unwrap();
    let listen = &entrypoint()[entrypoint().iter().position(|a| a == "--listen").unwrap() + 1];
    assert_eq!(
        target,
        format!("hemflux:{}", listen.rsplit(':').next().unwrap())
    );
    assert_eq!(prom["scrape_configs"][0]["metrics_path"], "/metrics");
}

fn dashboards() -> Vec<(String, Value)> {
    let dir = repo().join("deploy/grafana/dashboards");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let v = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn datasource_uids(dash: &Value) -> BTreeSet<String> {
    let mut uids = BTreeSet::new();
    collect(dash, &mut |k, v| {
        if k == "datasource" {
            if let Some(uid) = v["uid"].as_str() {
                uids.insert(uid.to_string());
            }
        }
    });
    uids
}

/// Calls `f` on every key/value pair of a JSON tree.
fn collect(v: &Value, f: &mut impl FnMut(&str, &Value)) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                f(k, x);
                collect(x, f);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect(x, f)),
        _ => {}
    }
}

/// Every query of a dashboard (panel targets and template variables): (language, text).
fn queries(dash: &Value) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    collect(dash, &mut |k, v| match (k, v) {
        ("query", Value::String(q)) => out.push(("flux", q.clone())),
        ("expr", Value::String(q)) => out.push(("promql", q.clone())),
        _ => {}
    });
    out
}

/// What a Flux query names: (measurements, tags, fields).
fn flux_names(q: &str) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let quoted = |prefix: &str| -> Vec<String> {
        q.match_indices(prefix)
            .filter_map(|(i, _)| {
                let rest = q[i + prefix.len()..].trim_start();
                let rest = rest.strip_prefix('"')?;
                Some(rest[..rest.find('"')?].to_string())
            })
            .collect()
    };
    let measurements = quoted("r._measurement ==").into_iter().collect();
    let fields = quoted("r._field ==").into_iter().collect();
    let mut tags: BTreeSet<String> = quoted("tag:").into_iter().collect();
    // `r.<tag>` (not `r._...`), `exists r.<tag>`, `r["<tag>"]`, and `columns: [...]`.
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in q.match_indices("r.") {
        let before = q[..i].chars().last();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            continue; // part of another name, such as `timezone.location`
        }
        let name = ident(&q[i + 2..]);
        if !name.is_empty() && !name.starts_with('_') {
            tags.insert(name);
        }
    }
    tags.extend(quoted("r[").into_iter().filter(|t| !t.starts_with('_')));
    for (i, _) in q.match_indices("columns: [") {
        let list = &q[i + 10..];
        let list = &list[..list.find(']').unwrap_or(0)];
        tags.extend(
            list.split(',')
                .map(|c| c.trim().trim_matches('"').to_string())
                .filter(|c| !c.is_empty() && !c.starts_with('_')),
        );
    }
    (measurements, tags, fields)
}

/// Problems of one Flux query against the schema.
fn check_flux(q: &str) -> Vec<String> {
    let (ms, tags, fields) = flux_names(q);
    let mut problems = Vec::new();
    if ms.is_empty() {
        problems.push("names no measurement".to_string());
    }
    for m in &ms {
        if !schema::is_measurement(m) {
            problems.push(format!("measurement {m} is not written by hemflux"));
        }
    }
    for t in &tags {
        if !ms.iter().any(|m| schema::has_tag(m, t)) {
            problems.push(format!("tag {t} is not a tag of {ms:?}"));
        }
    }
    for f in &fields {
        if !ms.iter().any(|m| schema::has_field(m, f)) {
            problems.push(format!("field {f} is not a field of {ms:?}"));
        }
    }
    problems
}

/// Problems of one PromQL expression (or legend) against the metrics the schema lists.
fn check_promql(q: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let words: Vec<&str> = q
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let metrics: Vec<&schema::Metric> = words
        .iter()
        .filter(|w| w.starts_with("hemflux_"))
        .map(|w| {
            schema::METRICS
                .iter()
                .find(|m| m.name == *w)
                .unwrap_or_else(|| panic!("metric {w} is not one hemflux serves"))
        })
        .collect();
    if metrics.is_empty() {
        problems.push("names no hemflux metric".into());
    }
    for (i, _) in q.match_indices("by (") {
        let list = &q[i + 4..];
        for label in list[..list.find(')').unwrap()].split(',').map(str::trim) {
            if !metrics.iter().any(|m| m.labels.contains(&label)) {
                problems.push(format!("label {label} is not a label of {metrics:?}"));
            }
        }
    }
    problems
}

#[test]
fn the_query_checks_catch_wrong_names() {
    assert!(
        check_flux(r#"r._measurement == "heating_system" and r._field == "room_temp""#)
            .iter()
            .any(|p| p.contains("room_temp"))
    );
    assert!(
        check_flux(r#"r._measurement == "heating_system" and r.building_id == "x""#)
            .iter()
            .any(|p| p.contains("building_id"))
    );
    assert!(!check_flux(r#"r._measurement == "kwh""#).is_empty());
    assert!(!check_flux(r#"r._measurement == "kWh" and r.home_id == "x""#).is_empty());
    assert!(!check_flux("from(bucket: v.defaultBucket)").is_empty());
    assert!(check_flux(
        r#"r._measurement == "energy_meter" and r._field == "volume" and r.meter_id == "1" |> group(columns: ["meter_id"])"#
    )
    .is_empty());
    assert!(!check_promql("sum by (house) (hemflux_workers)").is_empty());
}

#[test]
fn dashboards_query_only_what_hemflux_writes_and_cover_every_source() {
    let mut problems = Vec::new();
    let mut seen_measurements = BTreeSet::new();
    let mut seen_metrics = BTreeSet::new();
    for (name, dash) in dashboards() {
        let qs = queries(&dash);
        assert!(!qs.is_empty(), "{name} has no queries");
        for (lang, q) in qs {
            let found = match lang {
                "flux" => {
                    seen_measurements.extend(flux_names(&q).0);
                    check_flux(&q)
                }
                _ => {
                    seen_metrics.extend(
                        schema::METRICS
                            .iter()
                            .filter(|m| q.contains(m.name))
                            .map(|m| m.name),
                    );
                    check_promql(&q)
                }
            };
            problems.extend(found.into_iter().map(|p| format!("{name}: {p}\n  in: {q}")));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for m in [
        "heating_system",
        "building_system",
        "electricity_consumption",
        "electricity_price",
        "energy_meter",
        "smart_meter",
    ] {
        assert!(seen_measurements.contains(m), "no dashboard shows {m}");
    }
    for m in [
        "hemflux_workers",
        "hemflux_worker_restarts_total",
        "hemflux_sink_points_behind",
        "hemflux_sink_oldest_unsent_seconds",
    ] {
        assert!(seen_metrics.contains(m), "no dashboard shows {m}");
    }
}

/// Quoted string literals in the Rust files under `path` (a folder or one file).
fn literals(path: &Path) -> BTreeSet<String> {
    let mut files = Vec::new();
    if path.is_file() {
        files.push(path.to_path_buf());
    } else {
        let mut stack = vec![path.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        out.extend(text.split('"').skip(1).step_by(2).map(str::to_string));
    }
    out
}

#[test]
fn schema_names_appear_in_the_code_that_writes_them() {
    let mut checked = 0;
    for s in schema::SERIES {
        let writers: Vec<PathBuf> = s.writers.iter().map(|w| repo().join(w)).collect();
        if !writers.iter().all(|w| w.exists()) {
            eprintln!("not written yet: {} ({:?})", s.measurement, s.writers);
            continue;
        }
        let lits: BTreeSet<String> = writers.iter().flat_map(|w| literals(w)).collect();
        if !lits.contains(s.measurement) {
            // A placeholder module: nothing to compare yet.
            eprintln!("not written yet: {} ({:?})", s.measurement, s.writers);
            continue;
        }
        for name in std::iter::once(&s.measurement)
            .chain(s.tags)
            .chain(s.fields)
        {
            assert!(
                lits.contains(*name),
                "{}: {name:?} is in shared::schema but not in {:?}",
                s.measurement,
                s.writers
            );
        }
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} writers found");
}

#[test]
fn the_orchestrator_serves_the_metrics_the_dashboard_reads() {
    let o = Orchestrator::new("").start();
    o.write_profile("villa.json", SYNTHETIC);
    o.wait_state("synthetic:villa", "running", T);
    let text = o.get("/metrics").unwrap();
    for m in schema::METRICS {
        assert!(
            text.contains(&format!("# TYPE {} ", m.name)),
            "/metrics has no {}",
            m.name
        );
        for sample in text
            .lines()
            .filter(|l| l.starts_with(&format!("{}{{", m.name)))
        {
            for label in m.labels {
                assert!(sample.contains(&format!("{label}=\"")), "{sample}");
            }
        }
    }
    assert!(text.contains("hemflux_worker_restarts_total{worker=\"synthetic:villa\""));
}

#[test]
fn the_systemd_unit_verifies_and_runs_a_real_command() {
    let unit = read("deploy/hemflux.service");
    let value = |key: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(str::to_string)
            .collect()
    };
    let exec: Vec<String> = value("ExecStart")[0]
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert!(exec[0].ends_with("/hemflux"), "{exec:?}");
    let out = Command::new(bin("hemflux"))
        .args(&exec[1..])
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "ExecStart is not a hemflux command");
    let wd = &value("WorkingDirectory")[0];
    let writable: BTreeSet<String> = value("ReadWritePaths")[0]
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let d = run_defaults();
    let expected: BTreeSet<String> = ["data", "profiles", "buildings"]
        .iter()
        .map(|k| format!("{wd}/{}", d[*k]))
        .collect();
    assert_eq!(writable, expected);
    for key in [
        "User",
        "SupplementaryGroups",
        "Restart",
        "ProtectSystem",
        "NoNewPrivileges",
    ] {
        assert!(!value(key).is_empty(), "{key} is not set");
    }
    assert_eq!(value("SupplementaryGroups"), ["dialout"]);
    assert_eq!(value("ProtectSystem"), ["strict"]);

    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed: `systemd-analyze verify` not run");
        return;
    }
    // verify insists that the binary exists: point it at the one just built.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("hemflux.service");
    std::fs::write(
        &path,
        unit.replace(&exec[0], bin("hemflux").to_str().unwrap()),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
