//! Meters end to end: the real `hemflux-worker` against the real `hemflux-sim` simulators of
//! WattiVahti, Tibber and Dropbox. The test plays the orchestrator: it sends `init`, acks
//! `points` and `state` after recording them, and hands the last recorded state back on restart,
//! exactly as the orchestrator does with its store.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hemflux_e2e::{bin, output_text, output_with_stdin, FakeOrchestrator, Sim};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);

/// Starts a worker under the shared fake orchestrator from `state`, as the store last held it,
/// and waits for its `ready`.
fn start(
    kind: &str,
    id: &str,
    config: Value,
    secrets: Value,
    state: Option<Value>,
) -> FakeOrchestrator {
    let init = json!({"config": config, "secrets": secrets, "state": state});
    let w = FakeOrchestrator::start(kind, id, init, &[]);
    let ready = w.next_unanswered(WAIT);
    assert_eq!(ready["type"], "ready", "{ready}");
    w
}

/// The points the worker sent so far, as the protocol carries them.
fn points(w: &FakeOrchestrator) -> Vec<Value> {
    w.points
        .iter()
        .map(|(_, p)| serde_json::to_value(p).unwrap())
        .collect()
}

fn nanos(rfc3339: &str) -> i64 {
    let t: jiff::Timestamp = rfc3339.parse().unwrap();
    t.as_nanosecond() as i64
}

fn in_range(points: &[Value], from: &str, to: &str) -> Vec<Value> {
    let (a, b) = (nanos(from), nanos(to));
    points
        .iter()
        .filter(|p| (a..b).contains(&p["time"].as_i64().unwrap()))
        .cloned()
        .collect()
}

fn distinct_times(points: &[Value]) -> usize {
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
        "type": "wattivahti", "metering_point": "1234567", "base_url": sim.address,
        "token_url": format!("{}{WV_TOKEN_PATH}", sim.address), "token_file": token_file,
        "initial_sync_days": initial_days, "poll_interval_secs": poll_secs}}})
}

/// A WattiVahti meter worker (one day back, polling every `poll_secs`) whose token file holds
/// `token`; the folder holding the file lives as long as the returned `TempDir`.
fn wattivahti_worker(
    sim: &Sim,
    token: &str,
    poll_secs: u64,
) -> (tempfile::TempDir, FakeOrchestrator) {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token.txt");
    std::fs::write(&token_file, token).unwrap();
    let w = start(
        "meter",
        "meter:villa_fi/el",
        wattivahti_config(sim, &token_file, 1, poll_secs),
        json!({}),
        None,
    );
    (dir, w)
}

#[test]
fn wattivahti_kill_9_between_rotation_and_use_keeps_the_only_valid_token() {
    let sim = Sim::on_loopback("wattivahti", &["--refresh-token", "wv-first-token"]);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token.txt");
    std::fs::write(&token_file, "wv-first-token\n").unwrap();
    let config = wattivahti_config(&sim, &token_file, 2, 3600);
    let id = "meter:villa_fi/el";

    // First run: the worker redeems the token and asks to persist the rotated one. The
    // orchestrator stores it and is killed (with the worker) before the ack arrives.
    let mut first = start("meter", id, config.clone(), json!({}), None);
    let msg = first.next_unanswered(WAIT);
    assert_eq!(
        msg["type"], "state",
        "the rotated token is persisted before anything else: {msg}"
    );
    let stored = msg["state"].clone();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        sim.events("meterdata").len(),
        0,
        "the access token was used before the rotated refresh token was durable"
    );
    first.kill9();
    let stderr = first.log();
    assert!(
        !stderr.contains("wv-rt-") && !stderr.contains("wv-first-token"),
        "a token in the log:\n{stderr}"
    );
    assert_eq!(sim.redemptions(), (1, 0));

    // Second run from the persisted state: the file's token is spent, the state's one works.
    let mut second = start("meter", id, config, json!({}), Some(stored));
    second.until_status("synced", WAIT);
    assert_eq!(
        sim.redemptions(),
        (2, 0),
        "no refused redemption: the worker used the persisted token"
    );
    assert!(second.errors.is_empty(), "{:?}", second.errors);
    let stored = points(&second);
    let n = stored.len();
    assert!(
        (150..=200).contains(&n),
        "two days of quarter-hours, got {n}"
    );
    let p = &stored[0];
    assert_eq!(p["measurement"], "electricity_consumption");
    assert_eq!(p["tags"]["metering_point"], "1234567");
    assert_eq!(p["fields"]["resolution"], "PT15MIN");
    let kwh = p["fields"]["consumption_kwh"].as_f64().unwrap();
    assert!((p["fields"]["consumption_wh"].as_f64().unwrap() - kwh * 1000.0).abs() < 1e-6);
    let state = second.state.as_ref().unwrap();
    assert!(state["synced_until"].is_string(), "{state}");
    let stderr = second.log();
    assert!(
        !stderr.contains("wv-rt-") && !stderr.contains("wv-at-"),
        "a token in the log:\n{stderr}"
    );
}

#[test]
fn wattivahti_both_dst_days_and_a_month_with_the_switch_to_quarter_hours() {
    let sim = Sim::on_loopback(
        "wattivahti",
        &[
            "--refresh-token",
            "t0",
            "--quarter-hour-start",
            "2024-01-15",
        ],
    );
    let (_dir, mut w) = wattivahti_worker(&sim, "t0", 3600);
    w.until_status("synced", WAIT);
    // Syncs `[from, to)` and returns the points stored in it.
    let mut synced = |id: u64, from: &str, to: &str| {
        let reply = w.sync(id, from, to, WAIT);
        assert_eq!(reply["ok"], true, "{reply}");
        in_range(&points(&w), from, to)
    };

    // Autumn 2025: local 2025-10-26 is 25 hours, 100 quarter-hours, each its own UTC instant.
    let autumn = synced(1, "2025-10-25T21:00:00Z", "2025-10-26T22:00:00Z");
    assert_eq!((autumn.len(), distinct_times(&autumn)), (100, 100));
    // Spring 2025: local 2025-03-30 is 23 hours, 92 quarter-hours.
    let spring = synced(2, "2025-03-29T22:00:00Z", "2025-03-30T21:00:00Z");
    assert_eq!((spring.len(), distinct_times(&spring)), (92, 92));

    // January 2024 (local Jan 2 to Feb 1): hourly until the 14th, quarter-hours from the 15th.
    let month = synced(3, "2024-01-01T22:00:00Z", "2024-01-31T22:00:00Z");
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
    let day14: f64 = in_range(&points(&w), "2024-01-13T22:00:00Z", "2024-01-14T22:00:00Z")
        .iter()
        .map(|p| p["fields"]["consumption_kwh"].as_f64().unwrap())
        .sum();
    assert!(day14 > 24.0 * 0.2, "{day14}");
}

#[test]
fn wattivahti_missing_then_refused_then_new_token() {
    let sim = Sim::on_loopback("wattivahti", &["--refresh-token", "good-token"]);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token.txt");
    let mut w = start(
        "meter",
        "meter:villa_fi/el",
        wattivahti_config(&sim, &token_file, 1, 1),
        json!({}),
        None,
    );
    let e = w.until_error("no WattiVahti refresh token", WAIT);
    assert!(
        e.contains(token_file.to_str().unwrap())
            && e.contains("hemflux meter-token meter:villa_fi/el"),
        "{e}"
    );

    std::fs::write(&token_file, "expired-token").unwrap();
    let e = w.until_error("re-authentication needed", WAIT);
    assert!(e.contains("AADB2C90080"), "{e}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        sim.redemptions(),
        (0, 1),
        "a refused token is not presented again"
    );

    std::fs::write(&token_file, "good-token").unwrap();
    w.until_status("synced", WAIT);
    assert_eq!(sim.redemptions().0, 1);
    assert!(!w.points.is_empty());
    assert!(!w.log().contains("good-token"));
}

/// A token of another customer account reads none of this metering point: a clear error, not
/// an endless retry of a 403.
#[test]
fn wattivahti_token_of_another_account_names_the_metering_point() {
    let sim = Sim::on_loopback(
        "wattivahti",
        &["--refresh-token", "mine", "--account", "neighbour:7654321"],
    );
    let (_dir, mut w) = wattivahti_worker(&sim, "neighbour", 1);
    let e = w.until_error("refused metering point 1234567", WAIT);
    assert!(e.contains("does not own it"), "{e}");
    assert!(w.points.is_empty());
}

// ---------------------------------------------------------------- district-heating exchange

const DH_ID: &str = "district_heating:exchange";

fn dh_meters() -> Value {
    json!([
        {"meter_id": "735999255020057923", "house_id": "villa_1", "house_name": "Daggis8"},
        {"meter_id": "735999255020057924", "house_id": "kontor_3", "house_name": "Kontor 3"},
    ])
}

fn dh_secrets() -> Value {
    json!({"app_key": "sim-app-key", "app_secret": "sim-app-secret", "refresh_token": "sim-dropbox-refresh-token"})
}

/// `meter_id -> from_datetime` of a request file.
fn request_dates(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut lines = text.split('\n');
    assert_eq!(lines.next(), Some("meter_id;from_datetime;house_name"));
    lines
        .map(|l| {
            let cols: Vec<&str> = l.split(';').collect();
            assert_eq!(cols.len(), 3, "{l:?}");
            (cols[0].to_string(), cols[1].to_string())
        })
        .collect()
}

/// `YYYY-MM-DD HH:MM` (UTC) of the hour after the given point time.
fn hour_after(ns: i64) -> String {
    let secs = ns / 1_000_000_000 + 3600;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

fn last_time(points: &[Value], meter: &str) -> i64 {
    points
        .iter()
        .filter(|p| p["tags"]["meter_id"] == meter)
        .map(|p| p["time"].as_i64().unwrap())
        .max()
        .unwrap()
}

#[test]
fn district_heating_over_dropbox_imports_advances_dates_and_survives_token_expiry() {
    // Each access token dies after 3 calls: the worker meets expired_access_token mid-import.
    // One entry per listing page: the whole listing takes several pages. Every 3rd call is
    // answered 429 and every 5th 503: both are retried.
    let sim = Sim::on_loopback(
        "dropbox",
        &[
            "--access-token-calls",
            "3",
            "--page-size",
            "1",
            "--partner-interval-ms",
            "100",
            "--too-many-every",
            "3",
            "--server-error-every",
            "5",
        ],
    );
    let config = json!({"exchange": {"transport": "dropbox", "folder": "/data", "dropbox_api_url": sim.address,
        "dropbox_content_url": sim.address, "dropbox_token_url": format!("{}/oauth2/token", sim.address),
        "check_interval_secs": 1, "initial_days": 2}, "meters": dh_meters()});
    let mut w = start("district_heating", DH_ID, config, dh_secrets(), None);
    let status = w.until_status("imported", WAIT);
    assert!(w.errors.is_empty(), "{:?}", w.errors);
    let stored = points(&w);
    assert!(
        status.starts_with("imported 96 points from 1 files") || stored.len() > 96,
        "{status}"
    );

    // The request file now asks for the hour after each meter's last point.
    let mut files = Value::Null;
    let deadline = Instant::now() + WAIT;
    let expected: std::collections::BTreeMap<String, String> =
        ["735999255020057923", "735999255020057924"]
            .iter()
            .map(|m| (m.to_string(), hour_after(last_time(&stored, m))))
            .collect();
    while Instant::now() < deadline {
        files = sim.get_json("/_sim/files");
        if request_dates(files["files"]["/data/BVPro_DH.csv"].as_str().unwrap()) == expected {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let request = files["files"]["/data/BVPro_DH.csv"].as_str().unwrap();
    assert_eq!(request_dates(request), expected, "{request}");
    assert!(
        request.ends_with("Kontor 3") && request.contains(";Daggis8\n"),
        "{request:?}"
    );
    let deleted = files["deleted"].as_array().unwrap();
    assert!(
        deleted
            .iter()
            .any(|d| d.as_str().unwrap().starts_with("/data/energy_")),
        "{files}"
    );
    assert!(
        files["files"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.contains("energy_")),
        "{files}"
    );
    assert!(files["expired_answers"].as_u64().unwrap() >= 1, "{files}");
    assert!(files["token_refreshes"].as_u64().unwrap() >= 2, "{files}");
    assert!(
        files["calls"].as_u64().unwrap() >= 5,
        "the 429 and 503 were met: {files}"
    );

    let p = stored
        .iter()
        .find(|p| p["tags"]["meter_id"] == "735999255020057924")
        .unwrap();
    assert_eq!(p["measurement"], "energy_meter");
    assert_eq!(p["tags"]["house_id"], "kontor_3");
    let hours_since_2020 = (p["time"].as_i64().unwrap() / 1_000_000_000 - 1_577_836_800) / 3600;
    assert_eq!(
        p["fields"]["meter_reading"].as_f64().unwrap(),
        3.0 * hours_since_2020 as f64
    );
    assert_eq!(p["fields"]["consumption"].as_f64().unwrap(), 3.0);
    for f in ["volume", "primary_temp_in", "primary_temp_out"] {
        assert!(p["fields"][f].is_f64(), "{f}: {p}");
    }
    assert!(!w.log().contains("sl.u."), "an access token in the log");
}

#[test]
fn district_heating_folder_keeps_a_file_with_a_bad_line_and_imports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let good = "timestamp;serviceID;meterStand;consumption;volume;temperatureIn;temperatureOut\n\
                2026-01-28T23:00:00Z;735999255020057923;6920;3;0.08;64.24;33.9\n\
                2026-01-29T00:00:00Z;735999255020057923;6923;3;0.07;64.31;34.2";
    let bad = "timestamp;serviceID;meterStand;consumption;volume;temperatureIn;temperatureOut\n\
               2026-01-29T01:00:00Z;735999255020057924;100;2;0,05;60;30\n\
               2026-01-29 02:00;735999255020057924;102;2;0,05;60;30\n";
    std::fs::write(dir.path().join("energy_20260129.txt"), good).unwrap();
    std::fs::write(dir.path().join("energy_20260130.txt"), bad).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not an energy file").unwrap();
    let config = |dry_run: bool| {
        json!({"exchange": {"transport": "folder", "folder": dir.path(), "check_interval_secs": 3600, "initial_days": 400,
            "settle_secs": 0, "dry_run": dry_run}, "meters": dh_meters()})
    };

    // Dry run first: says what it would import, touches nothing.
    let mut w = start("district_heating", DH_ID, config(true), json!({}), None);
    let status = w.until_status("dry run, nothing written", WAIT);
    assert!(status.contains("energy_20260129.txt: meter 735999255020057923: 2 hours 2026-01-28 23:00 to 2026-01-29 00:00"), "{status}");
    assert!(
        status.contains("energy_20260130.txt:3: timestamp"),
        "{status}"
    );
    assert!(w.points.is_empty() && !dir.path().join("BVPro_DH.csv").exists());
    let stored = w.state.clone();
    drop(w);

    let mut w = start("district_heating", DH_ID, config(false), json!({}), stored);
    let status = w.until_status("imported", WAIT);
    assert_eq!(
        status,
        "imported 3 points from 1 files; kept energy_20260130.txt"
    );
    assert_eq!(w.errors.len(), 1, "{:?}", w.errors);
    assert!(
        w.errors[0].contains("energy_20260130.txt:3: timestamp \"2026-01-29 02:00\""),
        "{}",
        w.errors[0]
    );
    assert!(
        !dir.path().join("energy_20260129.txt").exists(),
        "imported file deleted"
    );
    assert!(
        dir.path().join("energy_20260130.txt").exists(),
        "file with a bad line kept"
    );
    assert!(dir.path().join("notes.txt").exists());
    let bad_row = points(&w)
        .into_iter()
        .find(|p| p["tags"]["meter_id"] == "735999255020057924")
        .unwrap();
    assert_eq!(
        bad_row["fields"]["volume"].as_f64().unwrap(),
        0.05,
        "decimal comma"
    );
    let request = std::fs::read_to_string(dir.path().join("BVPro_DH.csv")).unwrap();
    let dates = request_dates(&request);
    assert_eq!(
        dates["735999255020057923"], "2026-01-29 01:00",
        "advanced past the imported file"
    );
    assert_ne!(
        dates["735999255020057924"], "2026-01-29 02:00",
        "not advanced by a kept file"
    );
    assert_eq!(
        w.state.as_ref().unwrap()["from"]["735999255020057923"],
        "2026-01-29 01:00"
    );
}

// ---------------------------------------------------------------- Tibber

const HOME: &str = "96a14971-525a-4420-aae9-e5aedaa129ff";

fn tibber_config(sim: &Sim, backfill_days: u32) -> Value {
    json!({"house_id": "villa_se", "meter": {"name": "tibber", "source": {"type": "tibber", "home_id": HOME,
        "base_url": format!("{}/v1-beta/gql", sim.address), "backfill_days": backfill_days,
        "min_request_interval_ms": 50}}})
}

/// The Tibber meter worker of `config`, with `token` as its secret.
fn tibber_worker(config: Value, token: &str, state: Option<Value>) -> FakeOrchestrator {
    let secrets = json!({ "token": token });
    start("meter", "meter:villa_se/tibber", config, secrets, state)
}

fn of<'a>(points: &'a [Value], measurement: &str) -> Vec<&'a Value> {
    points
        .iter()
        .filter(|p| p["measurement"] == measurement)
        .collect()
}

#[test]
fn tibber_prices_at_both_resolutions_and_a_gap_free_paged_backfill() {
    let sim = Sim::on_loopback("tibber", &["--null-recent-hours", "3"]);
    let mut w = tibber_worker(tibber_config(&sim, 40), "sim-tibber-token", None);
    w.until_status("hours of consumption", WAIT);
    assert!(w.errors.is_empty(), "{:?}", w.errors);

    let stored = points(&w);
    let prices = of(&stored, "electricity_price");
    let hourly = prices
        .iter()
        .filter(|p| p["tags"]["resolution"] == "HOURLY")
        .count();
    let quarterly = prices
        .iter()
        .filter(|p| p["tags"]["resolution"] == "QUARTER_HOURLY")
        .count();
    // Today, and tomorrow once published: 24 hours or 96 quarters a day (no DST day in the test's days is assumed, so allow 23/25).
    assert!([23, 24, 25, 47, 48, 49, 50].contains(&hourly), "{hourly}");
    assert_eq!(
        quarterly,
        hourly * 4,
        "a quarter-hourly price for every quarter"
    );
    let p = prices[0];
    assert_eq!(
        (
            p["tags"]["home_id"].as_str(),
            p["tags"]["currency"].as_str()
        ),
        (Some(HOME), Some("SEK"))
    );
    let total = p["fields"]["total"].as_f64().unwrap();
    let parts = p["fields"]["energy"].as_f64().unwrap() + p["fields"]["tax"].as_f64().unwrap();
    assert!((total - parts).abs() < 1e-3, "{p}");
    assert!(p["fields"]["level"].is_string());

    // 40 days of hours over two pages (Tibber caps a page at 744), no gap, no duplicate, and
    // the three newest (not yet metered) hours skipped.
    let mut times: Vec<i64> = of(&stored, "electricity_consumption")
        .iter()
        .map(|p| p["time"].as_i64().unwrap())
        .collect();
    times.sort();
    let n = times.len();
    assert!((40 * 24 - 4..=40 * 24 - 2).contains(&n), "{n}");
    assert!(
        times.windows(2).all(|w| w[1] - w[0] == 3_600_000_000_000),
        "gap-free and distinct"
    );
    let c = of(&stored, "electricity_consumption")[0];
    assert_eq!(c["tags"]["home_id"], HOME);
    let (kwh, cost, unit) = (
        c["fields"]["consumption_kwh"].as_f64().unwrap(),
        c["fields"]["cost"].as_f64().unwrap(),
        c["fields"]["unit_price"].as_f64().unwrap(),
    );
    assert!((kwh * unit - cost).abs() < 1e-3, "{c}");
    assert_eq!(
        sim.get_json("/_sim/stats")["requests"],
        3,
        "one price request and two consumption pages"
    );
    let until = w.state.as_ref().unwrap()["consumption_until"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(nanos(&until), *times.last().unwrap());
    assert!(!w.log().contains("sim-tibber-token"));
}

#[test]
fn tibber_backs_off_after_429_and_names_the_token_when_refused() {
    // Two requests allowed: the third (the second consumption page) is refused with a ban.
    let sim = Sim::on_loopback("tibber", &["--rate-limit", "2"]);
    let mut w = tibber_worker(tibber_config(&sim, 40), "sim-tibber-token", None);
    let e = w.until_error("rate limit", WAIT);
    assert!(e.contains("429"), "{e}");
    std::thread::sleep(Duration::from_secs(2));
    let stats = sim.get_json("/_sim/stats");
    assert_eq!(
        (stats["requests"].as_u64(), stats["refused"].as_u64()),
        (Some(3), Some(1)),
        "no retries into the ban: {stats}"
    );
    assert_eq!(stats["banned"], true);
    assert_eq!(
        of(&points(&w), "electricity_consumption").len(),
        744,
        "the first page is kept"
    );
    let stored = w.state.clone();
    drop(w);

    let fresh = Sim::on_loopback("tibber", &[]);
    let mut w = tibber_worker(tibber_config(&fresh, 1), "wrong", stored);
    let e = w.until_error("Tibber refused the token", WAIT);
    assert!(
        e.contains("invalid token") && e.contains("TIBBER_TOKEN"),
        "{e}"
    );
}

#[test]
fn meter_token_reads_stdin_and_writes_the_meters_token_file_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("profiles");
    std::fs::create_dir(&profiles).unwrap();
    let token_file = dir.path().join("tokens/wv.txt");
    let profile = json!({"name": "Villa FI", "meters": [
        {"name": "el", "source": {"type": "wattivahti", "metering_point": "1234567", "token_file": token_file}},
        {"name": "tibber", "source": {"type": "tibber", "home_id": HOME}}]});
    std::fs::write(profiles.join("villa_fi.json"), profile.to_string()).unwrap();
    let run = |id: &str, stdin: &str| {
        output_with_stdin(
            Command::new(bin("hemflux"))
                .args(["meter-token", id, "--profiles"])
                .arg(&profiles)
                .arg("--buildings")
                .arg(dir.path().join("none")),
            stdin,
        )
    };
    let out = run("meter:villa_fi/el", "  the-new-refresh-token \n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap(),
        "the-new-refresh-token\n"
    );
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let all = output_text(&out);
    assert!(
        !all.contains("the-new-refresh-token"),
        "the token is never echoed"
    );

    let out = run("meter:villa_fi/tibber", "x\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a WattiVahti meter"));
    let out = run("meter:villa_fi/nope", "x\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no worker"));
    let out = run("meter:villa_fi/el", "\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no token on stdin"));
}

#[test]
fn district_heating_folder_transport_with_the_partner_on_a_local_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _partner = Sim::on_loopback(
        "dropbox",
        &[
            "--local-folder",
            dir.path().to_str().unwrap(),
            "--partner-interval-ms",
            "100",
            "--quirks",
        ],
    );
    let config = json!({"exchange": {"transport": "folder", "folder": dir.path(), "check_interval_secs": 1,
        "settle_secs": 0, "initial_days": 1}, "meters": dh_meters()});
    let mut w = start("district_heating", DH_ID, config, json!({}), None);
    let status = w.until_status("imported", WAIT);
    assert!(w.errors.is_empty(), "{:?}", w.errors);
    let stored = points(&w);
    assert!(
        status.starts_with("imported 48 points") || stored.len() > 48,
        "{status}"
    );
    // The BOM, decimal commas and `-` of --quirks parse; `-` leaves the field out.
    assert!(stored.iter().any(|p| p["fields"]["volume"].is_null()));
    assert!(stored
        .iter()
        .any(|p| p["fields"]["volume"].as_f64().is_some_and(|v| v > 0.0)));
    let expected: std::collections::BTreeMap<String, String> =
        ["735999255020057923", "735999255020057924"]
            .iter()
            .map(|m| (m.to_string(), hour_after(last_time(&stored, m))))
            .collect();
    let request = std::fs::read_to_string(dir.path().join("BVPro_DH.csv")).unwrap();
    assert_eq!(request_dates(&request), expected, "{request}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(left.iter().all(|n| !n.starts_with("energy_")), "{left:?}");
}

#[test]
fn wattivahti_end_of_a_fixed_token_chain_asks_for_a_new_token_once() {
    // Every rotated token inherits its chain's end, 3 s after the first token was issued.
    let sim = Sim::on_loopback(
        "wattivahti",
        &[
            "--refresh-token",
            "t0",
            "--fixed-chain",
            "--refresh-token-secs",
            "3",
            "--access-token-secs",
            "1",
        ],
    );
    let (_dir, mut w) = wattivahti_worker(&sim, "t0", 1);
    w.until_status("synced", WAIT);
    let e = w.until_error("re-authentication needed", WAIT);
    assert!(e.contains("hemflux meter-token meter:villa_fi/el"), "{e}");
    std::thread::sleep(Duration::from_secs(3));
    let (ok, refused) = sim.redemptions();
    assert!(ok >= 2, "rotated within the chain: {ok}");
    assert_eq!(refused, 1, "the expired chain is not retried");
}

#[test]
fn tibber_re_reads_recent_hours_so_corrections_reach_the_store() {
    // Tibber revises the newest 6 hours on every request; the worker polls every second.
    let sim = Sim::on_loopback("tibber", &["--revise-hours", "6"]);
    let mut config = tibber_config(&sim, 3);
    config["meter"]["source"]["poll_interval_secs"] = json!(1);
    let mut w = tibber_worker(config, "sim-tibber-token", None);
    let mut polls = 0;
    w.serve_until(WAIT, "two polls", |_, m| {
        polls += usize::from(m["type"] == "status");
        polls == 2
    });
    let stored = points(&w);
    let consumption = of(&stored, "electricity_consumption");
    let newest = consumption
        .iter()
        .map(|p| p["time"].as_i64().unwrap())
        .max()
        .unwrap();
    let writes: Vec<f64> = consumption
        .iter()
        .filter(|p| p["time"] == newest - 2 * 3_600_000_000_000)
        .map(|p| p["fields"]["consumption_kwh"].as_f64().unwrap())
        .collect();
    assert_eq!(
        writes.len(),
        2,
        "a recent hour is read again by the second poll"
    );
    assert!(
        writes[1] > writes[0],
        "the corrected value is written last: {writes:?}"
    );
    // Three days were backfilled; the second poll reads back 48 hours, not everything.
    let hour = 3_600_000_000_000;
    let writes_of = |t: i64| consumption.iter().filter(|p| p["time"] == t).count();
    assert_eq!(writes_of(newest - 47 * hour), 2);
    assert_eq!(
        writes_of(newest - 49 * hour),
        1,
        "hours older than 48 h are not read again"
    );
}

#[test]
fn district_heating_asks_for_a_new_meter_from_its_houses_start_date() {
    let dir = tempfile::tempdir().unwrap();
    let meters = json!([
        {"meter_id": "735999255020057923", "house_id": "villa_1", "house_name": "Daggis8",
         "start_date": "2025-01-15"},
        {"meter_id": "735999255020057924", "house_id": "kontor_3", "house_name": "Kontor 3"},
    ]);
    let config = json!({"exchange": {"transport": "folder", "folder": dir.path(),
        "check_interval_secs": 3600, "initial_days": 2, "settle_secs": 0}, "meters": meters});
    let mut w = start("district_heating", DH_ID, config, json!({}), None);
    w.until_status("", WAIT);
    let request = std::fs::read_to_string(dir.path().join("BVPro_DH.csv")).unwrap();
    let dates = request_dates(&request);
    // Swedish local midnight of the start date, in the request file's UTC.
    assert_eq!(dates["735999255020057923"], "2025-01-14 23:00", "{request}");
    let two_days_ago = hour_after(
        (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            / 3600
            * 3600
            - 2 * 86_400
            - 3600)
            * 1_000_000_000,
    );
    assert_eq!(
        dates["735999255020057924"], two_days_ago,
        "no start date: initial_days ago"
    );
}
