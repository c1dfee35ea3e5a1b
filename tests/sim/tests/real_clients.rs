//! Widely used open-source clients of the vendor services, from PyPI, against the simulators:
//! a simulator that such a client cannot use has drifted from the real service. The clients
//! live in a virtualenv that `.ci/run` makes (`HEMFLUX_PYCLIENTS`, pinned versions); their
//! scripts under `tests/pyclients/` print one JSON object that these tests check.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hemflux_e2e::Sim;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

/// The virtualenv's python, or `None` (with the reason printed) when it is not installed;
/// CI (`HEMFLUX_REQUIRE_SERVERS=1`) requires it.
fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("HEMFLUX_PYCLIENTS").map(PathBuf::from);
    match venv.map(|v| v.join("bin/python")).filter(|p| p.exists()) {
        Some(p) => Some(p),
        None if std::env::var("HEMFLUX_REQUIRE_SERVERS").as_deref() == Ok("1") => panic!(
            "HEMFLUX_PYCLIENTS does not name a virtualenv with the PyPI clients, and \
             HEMFLUX_REQUIRE_SERVERS=1 requires it (.ci/run makes one)"
        ),
        None => {
            eprintln!("skipped: HEMFLUX_PYCLIENTS is not set (.ci/run installs the PyPI clients)");
            None
        }
    }
}

/// Runs `tests/pyclients/<script>` with `args`, within `limit`; its JSON output.
fn run_client(python: &PathBuf, script: &str, args: &[&str], limit: Duration) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../pyclients/");
    let mut child = Command::new(python)
        .arg(format!("{path}{script}"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    // Both pipes are drained while the client runs: a client that logs more than a pipe holds
    // would otherwise block on its write and never finish.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let err = err.join().unwrap();
            panic!("{script} did not finish within {limit:?}:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(status.success(), "{script} failed:\n{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{script}: {e}: {out}\n{err}"))
}

fn times(v: &Value) -> Vec<Timestamp> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().parse().unwrap())
        .collect()
}

fn evenly_spaced(ts: &[Timestamp], step: SignedDuration) -> bool {
    ts.windows(2).all(|w| w[1].duration_since(w[0]) == step)
}

#[test]
fn pytibber_reads_homes_prices_and_consumption() {
    let Some(python) = python() else { return };
    let sim = Sim::start("tibber", &["--listen", "127.0.0.1:0", "--token", "tok"]);
    let url = format!("{}/v1-beta/gql", sim.address);
    let out = run_client(
        &python,
        "tibber_client.py",
        &[&url, "tok"],
        Duration::from_secs(60),
    );
    assert_eq!(
        out["active_homes"],
        serde_json::json!(["96a14971-525a-4420-aae9-e5aedaa129ff"]),
        "update_info reads subscriptions: {out}"
    );
    assert!(out["address1"].as_str().is_some_and(|a| !a.is_empty()));
    assert_eq!(out["has_production"], false);
    let prices = times(&out["price_starts"]);
    assert!((92..=200).contains(&prices.len()), "{}", prices.len());
    assert!(evenly_spaced(&prices, SignedDuration::from_mins(15)));
    // 60 days of hours, paged backwards with `last`/`before` past the 744 cap, gap-free.
    let hours = times(&out["hourly_froms"]);
    hours.windows(2).for_each(|w| assert!(w[0] != w[1]));
    let mut sorted = hours.clone();
    sorted.sort();
    assert_eq!(sorted.len(), 1440);
    assert!(evenly_spaced(&sorted, SignedDuration::from_hours(1)));
    assert!(out["hourly_costs"]
        .as_array()
        .unwrap()
        .iter()
        .all(Value::is_number));
    let daily = out["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 2);
    assert_eq!(daily[0]["to"], daily[1]["from"]);
    assert!(daily.iter().all(|d| d["consumption"].is_number()));
    let months: Vec<&str> = out["monthly"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["from"].as_str().unwrap())
        .collect();
    assert_eq!(months.len(), 3);
    assert!(months.iter().all(|m| m[8..10] == *"01"), "{months:?}");
    assert!(out["rating_entries"].as_u64().unwrap() >= 23);
}

#[test]
fn the_official_dropbox_sdk_uploads_lists_downloads_and_deletes() {
    let Some(python) = python() else { return };
    let sim = Sim::start(
        "dropbox",
        &["--listen", "127.0.0.1:0", "--partner-interval-ms", "0"],
    );
    let out = run_client(
        &python,
        "dropbox_client.py",
        &[
            &sim.address,
            "sim-app-key",
            "sim-app-secret",
            "sim-dropbox-refresh-token",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(out["uploaded_hash_matches"], true, "{out}");
    assert_eq!(out["downloaded"], "meter;2026-01-01 00:00;12.5\n");
    assert_eq!(
        out["listed"],
        serde_json::json!(["sdk_test.txt", "sdk_test_2.txt"]),
        "paged one entry at a time"
    );
    // Where the simulator used to be laxer than Dropbox:
    assert_eq!(out["mismatch_refused"], true, "content_hash is checked");
    assert_eq!(out["list_on_file_not_folder"], true, "path/not_folder");
    assert_eq!(out["deleted_folder"], true, "delete_v2 deletes a folder");
    assert_eq!(out["folder_gone"], true, "with its contents");
}

/// The meter's raw cumulative register at `at`, from the simulator's own model.
fn energy_raw_at(at: &str) -> f64 {
    let out = Command::new(env!("CARGO_BIN_EXE_hemflux-sim"))
        .args(["broute", "--energy-at", at])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// momonga opens a session (ROPT, SKRESET, SKSREG SA2 1, scan, join) on a module of `family`,
/// tells the family from SKINFO, and reads power, energy, current and the fixed-time energy.
fn momonga_reads_the_meter(family: &str, detected: &str) {
    let Some(python) = python() else { return };
    let start = "2026-05-20T05:10:00Z";
    let sim = Sim::start(
        "broute",
        &[
            "--family",
            family,
            "--scan-time-scale",
            "0.01",
            "--join-delay-ms",
            "200",
            "--start",
            start,
            "--time-scale",
            "0",
        ],
    );
    let rbid = "00112233445566778899AABBCCDDEEFF";
    let out = run_client(
        &python,
        "broute_client.py",
        &[&sim.address, rbid, "0123456789AB"],
        Duration::from_secs(90),
    );
    assert_eq!(out["device"], detected, "{family}: {out}");
    assert!(out["power_w"].as_i64().is_some_and(|w| w > 0), "{out}");
    // E1 = 0.1 kWh, no D3: momonga scales by 1.
    let kwh = |v: &Value| (v.as_f64().unwrap() * 10.0).round();
    assert_eq!(kwh(&out["energy_kwh"]), energy_raw_at(start));
    assert_eq!(
        out["fixed_time"], "2026-05-20T14:00:00",
        "the :00 boundary, JST"
    );
    assert_eq!(
        kwh(&out["fixed_kwh"]),
        energy_raw_at("2026-05-20T05:00:00Z")
    );
}

#[test]
fn momonga_on_a_bp35c2() {
    momonga_reads_the_meter("c", "BP35C2");
}

#[test]
fn momonga_on_a_bp35a1() {
    momonga_reads_the_meter("bp35a1", "BP35A1");
}

#[test]
fn momonga_on_a_stick_d_ips() {
    momonga_reads_the_meter("ips", "BP35A1");
}
