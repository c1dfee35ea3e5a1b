//! The B-route smart meter end to end: `hemflux run` with a profile that declares a serial
//! device, the real `hemflux-worker serial` on the pseudo-terminal of the real
//! `hemflux-sim broute` (whose meter clock runs 300 times faster, so an hour of readings takes
//! about 13 s), and the points read back from the store with `hemflux query`. Expected values
//! come from the simulator's own meter model (`hemflux-sim broute --energy-at`).

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use hemflux_e2e::{bin, stdout_of, wait_for, Orchestrator, Sim};
use hemflux_shared::time::{from_nanos, parse_instant, to_nanos};
use serde_json::{json, Value};

const HOUSE: &str = "home";
const RBID: &str = "00112233445566778899AABBCCDDEEFF";
const PASSWORD: &str = "0123456789AB";
/// 13:50 JST: the first readings cross the 14:00 boundary soon.
const START: &str = "2026-05-20T04:50:00Z";
/// The meter settings both the running simulator and `--energy-at` are given (E1 unit: the
/// simulator's default, 0.1 kWh).
const METER: [&str; 2] = ["--initial-kwh", "6500"];

/// The collector's CSV columns.
const CSV_COLUMNS: [&str; 10] = [
    "timestamp",
    "cumulative_power_kwh",
    "instant_power_w",
    "current_a",
    "current_r_a",
    "current_t_a",
    "historical_timestamp",
    "historical_cumulative_power_kwh",
    "recent_30min_timestamp",
    "recent_30min_consumption_kwh",
];

/// A simulator with a fast clock and fast scans/joins; its pty is linked at `<dir>/ttyBROUTE`.
fn broute(dir: &tempfile::TempDir, name: &str, knobs: &[&str]) -> Sim {
    let link = dir.path().join(name);
    let mut args = vec![
        "--link",
        link.to_str().unwrap(),
        "--scan-time-scale",
        "0.01",
        "--join-delay-ms",
        "300",
        "--time-scale",
        "300",
        "--start",
        START,
    ];
    args.extend(METER);
    args.extend(knobs);
    Sim::start("broute", &args)
}

/// E0 (raw, 0.1 kWh) of the simulated meter at a UTC instant.
fn energy_at(t: &str) -> i64 {
    let out = Command::new(bin("hemflux-sim"))
        .args(["broute", "--energy-at", t])
        .args(METER)
        .output()
        .unwrap();
    stdout_of(out).trim().parse().unwrap()
}

fn orchestrator(devices: &[(&str, &Sim, Value)]) -> Orchestrator {
    orchestrator_with(devices, "")
}

fn orchestrator_with(devices: &[(&str, &Sim, Value)], toml: &str) -> Orchestrator {
    let o = Orchestrator::new(&format!("[weather]\nenabled = false\n{toml}")).start();
    let mut env = String::new();
    let mut serial = Vec::new();
    for (name, sim, extra) in devices {
        env += &format!(
            "BROUTE_{HOUSE}_{name}_ID={RBID}\nBROUTE_{HOUSE}_{name}_PASSWORD={PASSWORD}\n"
        );
        let mut device = json!({"name": name, "port": sim.address, "interval_secs": 1});
        for (k, v) in extra.as_object().unwrap() {
            device[k] = v.clone();
        }
        serial.push(device);
    }
    std::fs::write(o.path(".env"), env).unwrap();
    o.write_profile(
        &format!("{HOUSE}.json"),
        &json!({ "serial": serial }).to_string(),
    );
    o
}

fn rows(o: &Orchestrator, device: &str) -> Vec<Value> {
    o.query("smart_meter", &["--tag", &format!("device={device}")])
}

fn f(row: &Value, key: &str) -> f64 {
    row["fields"][key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {row}"))
}

/// Checks that the row's historical (EA) reading is the meter's register at its timestamp, and
/// returns the timestamp.
fn historical_reading(row: &Value) -> &str {
    let at = s(row, "historical_timestamp");
    let raw = energy_at(at);
    assert_eq!(
        f(row, "historical_cumulative_power_kwh"),
        raw as f64 / 10.0,
        "{row}"
    );
    at
}

fn s<'a>(row: &'a Value, key: &str) -> &'a str {
    row["fields"][key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {row}"))
}

/// Waits until the meter clock, as seen in the readings, reached `boundary` (historical time).
fn rows_until(o: &Orchestrator, device: &str, boundary: &str, timeout: Duration) -> Vec<Value> {
    wait_for(
        timeout,
        &format!("{device} readings up to {boundary}"),
        || {
            let rows = rows(o, device);
            let reached = rows
                .iter()
                .any(|r| r["fields"]["historical_timestamp"].as_str() >= Some(boundary));
            reached.then_some(rows)
        },
    )
}

/// Nanoseconds since the epoch of an RFC 3339 instant.
fn ns(t: &str) -> i64 {
    to_nanos(parse_instant(t).unwrap())
}

/// `t` moved by `minutes`, as RFC 3339.
fn shifted(t: &str, minutes: i64) -> String {
    from_nanos(ns(t) + minutes * 60_000_000_000).to_string()
}

/// The longest time between consecutive readings, in seconds of host time.
fn max_gap(rows: &[Value]) -> f64 {
    let times: Vec<i64> = rows
        .iter()
        .map(|r| ns(r["time"].as_str().unwrap()))
        .collect();
    times
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / 1e9)
        .fold(0.0, f64::max)
}

#[test]
fn an_hour_of_readings_lands_with_the_meters_values() {
    let dir = tempfile::tempdir().unwrap();
    let sim = broute(&dir, "ttyBROUTE", &[]);
    // The collector's CSV output too, with its columns.
    let csv = dir.path().join("hems_data.csv");
    let sink = format!(
        "[[sinks]]\ntype = \"file\"\npath = {:?}\nformat = \"csv\"\nmeasurements = [\"smart_meter\"]\ncolumns = {CSV_COLUMNS:?}\nflush_interval_ms = 50\n",
        csv.to_str().unwrap()
    );
    let o = orchestrator_with(&[("broute", &sim, json!({}))], &sink);
    // 13:50 to past 15:00 meter time.
    let rows = rows_until(
        &o,
        "broute",
        "2026-05-20T06:00:00+00:00",
        Duration::from_secs(60),
    );
    assert!(rows.len() >= 12, "{} readings", rows.len());

    // An hour of meter time: at least three fixed times, each 30 minutes after the one before.
    let historical: Vec<i64> = rows
        .iter()
        .map(|r| ns(s(r, "historical_timestamp")))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(historical.len() >= 3, "{historical:?}");
    assert!(
        historical
            .windows(2)
            .all(|w| w[1] - w[0] == 30 * 60_000_000_000),
        "{historical:?}"
    );
    let mut last_cumulative = 0.0;
    for row in &rows {
        assert_eq!(row["tags"]["house_id"], HOUSE);
        let at = historical_reading(row);

        // The last half hour: the meter's two latest half-hour readings, 30 minutes apart.
        let recent = s(row, "recent_30min_timestamp");
        // E2 is read just after EA: the same half hour, or the next if it began in between.
        assert!(
            recent == at || recent == shifted(at, 30).replace('Z', "+00:00"),
            "the latest E2 slot is not the last fixed time: {row}"
        );
        let expected = (energy_at(recent) - energy_at(&shifted(recent, -30))) as f64 / 10.0;
        assert!(
            (f(row, "recent_30min_consumption_kwh") - expected).abs() < 1e-9,
            "{row} expected {expected}"
        );

        // The register now: read just before EA (a boundary may pass in between), so within
        // the half hours around the fixed time; never back.
        let cumulative = f(row, "cumulative_power_kwh");
        let (low, high) = (energy_at(&shifted(at, -30)), energy_at(&shifted(at, 30)));
        assert!(
            cumulative >= low as f64 / 10.0 && cumulative <= high as f64 / 10.0,
            "{row}"
        );
        assert!(
            cumulative >= last_cumulative,
            "the register went back: {row}"
        );
        last_cumulative = cumulative;

        // 300-900 W through the day; three-wire currents at 100 V add up.
        let power = row["fields"]["instant_power_w"].as_i64().unwrap();
        assert!((300..=900).contains(&power), "{row}");
        let (a, r, t) = (
            f(row, "current_a"),
            f(row, "current_r_a"),
            f(row, "current_t_a"),
        );
        assert!(
            (a - (r + t)).abs() < 1e-9 && (a - power as f64 / 10.0 / 10.0).abs() <= 0.2,
            "{row}"
        );
    }
    assert!(
        !o.log().contains(PASSWORD) && !o.log().contains(RBID),
        "a credential is in the log"
    );

    // The CSV file: the header once, then one line per stored reading, same values.
    let lines = wait_for(Duration::from_secs(30), "the CSV file to catch up", || {
        let text = std::fs::read_to_string(&csv).ok()?;
        let lines: Vec<String> = text.lines().map(String::from).collect();
        (lines.len() > rows.len()).then_some(lines)
    });
    assert_eq!(lines[0], CSV_COLUMNS.join(","));
    let first: Vec<f64> = lines[1]
        .split(',')
        .skip(1)
        .map(|c| c.parse().unwrap_or(f64::NAN))
        .collect();
    assert_eq!(
        first[0],
        f(&rows[0], "cumulative_power_kwh"),
        "{}",
        lines[1]
    );
    assert_eq!(
        first[8],
        f(&rows[0], "recent_30min_consumption_kwh"),
        "{}",
        lines[1]
    );
}

#[test]
fn session_expiry_and_garbage_lines_cost_no_reading() {
    let dir = tempfile::tempdir().unwrap();
    // The session ends every 3 s and the module's own re-authentication fails, so the worker
    // must join again; every third answer is followed by garbage; output arrives in pieces.
    let sim = broute(
        &dir,
        "ttyBROUTE",
        &[
            "--session-lifetime-secs",
            "3",
            "--reauth-fails",
            "--garbage-every",
            "3",
            "--split-writes",
        ],
    );
    let o = orchestrator(&[("broute", &sim, json!({"interval_secs": 2}))]);
    let rows = rows_until(
        &o,
        "broute",
        "2026-05-20T05:30:00+00:00",
        Duration::from_secs(60),
    );
    let log = o.log();
    assert!(
        log.matches("joining again").count() >= 2,
        "the session never expired:\n{log}"
    );
    assert!(
        log.contains("skipping a line that is not SKSTACK-IP output"),
        "no garbage seen:\n{log}"
    );
    assert!(rows.len() >= 5, "{} readings", rows.len());
    // One interval is 2 s: a reading may come late, never be skipped (that would be 4 s).
    assert!(max_gap(&rows) < 3.5, "gap of {} s", max_gap(&rows));
    for row in &rows {
        let raw = energy_at(s(row, "historical_timestamp"));
        assert_eq!(
            f(row, "historical_cumulative_power_kwh"),
            raw as f64 / 10.0,
            "{row}"
        );
    }
}

#[test]
fn the_port_vanishing_and_coming_back_is_survived_without_a_new_scan() {
    let dir = tempfile::tempdir().unwrap();
    let sim = broute(
        &dir,
        "ttyBROUTE",
        &["--drop-port-after-secs", "4", "--drop-port-for-secs", "3"],
    );
    let o = orchestrator(&[("broute", &sim, json!({}))]);
    let before = wait_for(Duration::from_secs(30), "readings before the drop", || {
        let rows = rows(&o, "broute");
        (rows.len() >= 2).then_some(rows.len())
    });
    wait_for(Duration::from_secs(30), "the port to vanish", || {
        (!std::path::Path::new(&sim.address).exists()).then_some(())
    });
    let during = rows(&o, "broute").len();
    let after = wait_for(
        Duration::from_secs(60),
        "readings after the port came back",
        || {
            let rows = rows(&o, "broute");
            (rows.len() >= during + 3).then_some(rows)
        },
    );
    assert!(after.len() > before);
    let log = o.log();
    assert!(log.contains("reopening when it is back"), "{log}");
    assert_eq!(
        log.matches("scanning for the meter").count(),
        1,
        "the cached PAN was not used:\n{log}"
    );
    assert_eq!(o.worker("serial:home/broute").unwrap()["state"], "running");

    // A restart of the worker (the orchestrator hands it its saved state) joins without a scan.
    let pid = o.worker("serial:home/broute").unwrap()["pid"]
        .as_i64()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let count = rows(&o, "broute").len();
    wait_for(
        Duration::from_secs(60),
        "readings from the restarted worker",
        || {
            let w = o.worker("serial:home/broute")?;
            let restarted = w["pid"].as_i64().is_some_and(|p| p != pid);
            (restarted && rows(&o, "broute").len() >= count + 2).then_some(())
        },
    );
    let log = o.log();
    assert_eq!(
        log.matches("scanning for the meter").count(),
        1,
        "the restart scanned again:\n{log}"
    );
}

#[test]
fn module_families_and_a_two_wire_meter() {
    let dir = tempfile::tempdir().unwrap();
    // A binary-mode BP35A1 that answers slowly, in 0.01 kWh with coefficient 10 (the same
    // energy steps as 0.1 kWh: ignoring D3 would be off by ten), and without E7.
    let slow = [
        "--family",
        "bp35a1",
        "--binary",
        "--reply-delay-ms",
        "400",
        "--unit",
        "02",
        "--coefficient",
        "10",
        "--sna",
        "E7",
    ];
    let bp35a1 = broute(&dir, "a1", &slow);
    let c = broute(&dir, "c", &["--family", "c", "--two-wire"]);
    let o = orchestrator(&[
        ("bp35a1", &bp35a1, json!({})),
        ("dss", &c, json!({"family": "auto"})),
    ]);
    for device in ["bp35a1", "dss"] {
        let rows = wait_for(Duration::from_secs(60), device, || {
            let rows = rows(&o, device);
            (rows.len() >= 2).then_some(rows)
        });
        let row = &rows[1];
        let raw = energy_at(s(row, "historical_timestamp"));
        assert_eq!(
            f(row, "historical_cumulative_power_kwh"),
            raw as f64 / 10.0,
            "{row}"
        );
        let two_wire = device == "dss";
        assert_eq!(
            row["fields"].get("current_t_a").is_none(),
            two_wire,
            "{row}"
        );
        if two_wire {
            assert_eq!(f(row, "current_a"), f(row, "current_r_a"), "{row}");
        }
        let no_power = device == "bp35a1";
        assert_eq!(
            row["fields"].get("instant_power_w").is_none(),
            no_power,
            "{row}"
        );
    }
    let log = o.log();
    assert!(
        log.contains("WOPT 01"),
        "the binary BP35A1 was not switched to hex:\n{log}"
    );
    assert!(log.contains("the module is C-style"), "{log}");
}

#[test]
fn a_wrong_password_is_reported_and_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let sim = broute(&dir, "ttyBROUTE", &["--password", "SOMETHINGELS"]);
    let o = orchestrator(&[("broute", &sim, json!({}))]);
    wait_for(Duration::from_secs(30), "the authentication error", || {
        o.log().contains("PANA authentication failed").then_some(())
    });
    assert!(rows(&o, "broute").is_empty());
    assert_eq!(
        o.worker("serial:home/broute").unwrap()["state"],
        "running",
        "it keeps trying"
    );
    assert!(!o.log().contains(PASSWORD), "the password is in the log");
}

#[test]
fn dropped_and_stale_answers_are_retried_and_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let sim = broute(
        &dir,
        "ttyBROUTE",
        &["--drop-every", "12", "--stale-replies"],
    );
    let o = orchestrator(&[("broute", &sim, json!({"reply_timeout_secs": 1}))]);
    let rows = wait_for(Duration::from_secs(60), "5 readings", || {
        let rows = rows(&o, "broute");
        (rows.len() >= 5).then_some(rows)
    });
    assert!(
        o.log().contains("no answer from the meter"),
        "nothing was dropped"
    );
    let mut last = 0.0;
    for row in &rows {
        let at = historical_reading(row);
        // E0 is read before EA, and retries at 300x take meter minutes: E0 lies within the
        // half hours around the fixed time, and never goes back.
        let cumulative = f(row, "cumulative_power_kwh");
        let (low, high) = (energy_at(&shifted(at, -30)), energy_at(&shifted(at, 30)));
        assert!(
            cumulative >= low as f64 / 10.0
                && cumulative <= high as f64 / 10.0
                && cumulative >= last,
            "{row}"
        );
        last = cumulative;
    }
}
