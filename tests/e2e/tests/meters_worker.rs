//! The `meters` worker in the whole orchestrator (real `hemflux run`, real worker, real store):
//! `meters.yaml` beside `hemflux.toml` starts it, it reads the readings through the read path,
//! writes daily, monthly and yearly consumption for physical and virtual meters, recomputes as
//! soon as a reading arrives (`hemflux reading add` beside the running orchestrator), a reading
//! dated in the past included (added by hand or imported), and comes back after a crash or a
//! restart with its checkpoint, a large one too, running incrementally.

use std::process::Command;
use std::time::Duration;

use hemflux_e2e::{bin, run_ok, wait_for, Orchestrator};
use serde_json::Value;

const T: Duration = Duration::from_secs(30);

const METERS: &str = r#"timezone: Europe/Stockholm
meters:
  - meter_id: "strom"
    type: "physical"
    output_unit: "kWh"
    installation_date: "2026-11-01"
  - meter_id: "wohnung"
    type: "physical"
    output_unit: "kWh"
    installation_date: "2026-11-01"
  - meter_id: "rest"
    type: "virtual"
    output_unit: "kWh"
    calculation_type: "subtraction"
    base_meter: "strom"
    subtract_meters:
      - "wohnung"
"#;

fn reading(o: &Orchestrator, meter: &str, value: &str, at: &str) {
    run_ok(
        Command::new(bin("hemflux"))
            .args(["reading", "add", meter, value, "--at", at, "--data"])
            .arg(o.path("data"))
            .arg("--meters")
            .arg(o.path("meters.yaml")),
    );
}

/// The day consumption of `meter` on local day `day` (its point is at the day's local midnight).
fn day_use(o: &Orchestrator, meter: &str, at: &str) -> Option<(f64, String)> {
    let points = o.query(
        "meter_consumption",
        &["--tag", &format!("meter_id={meter}"), "--tag", "period=day"],
    );
    let want: jiff::Timestamp = at.parse().unwrap();
    points
        .iter()
        .find(|p| p["time"].as_str().and_then(|t| t.parse().ok()) == Some(want))
        .map(|p| {
            (
                p["fields"]["consumption"].as_f64().unwrap(),
                p["fields"]["quality"].as_str().unwrap().to_string(),
            )
        })
}

/// `hemflux ARGS --data <its data>`; its stdout.
fn hemflux(o: &Orchestrator, args: &[&str]) -> String {
    run_ok(
        Command::new(bin("hemflux"))
            .args(args)
            .arg("--data")
            .arg(o.path("data")),
    )
}

/// Whether the virtual meter `rest` is `strom` minus `wohnung` on the day starting at `at`.
fn virtual_follows(o: &Orchestrator, at: &str) -> bool {
    let (Some(s), Some(w), Some(r)) = (
        day_use(o, "strom", at),
        day_use(o, "wohnung", at),
        day_use(o, "rest", at),
    ) else {
        return false;
    };
    (s.0 - w.0 - r.0).abs() < 1e-9
}

/// Waits until `strom` used `want` on the day starting at `day` (`what` changed it), and the
/// virtual meter follows on that day.
fn counted_and_followed(o: &Orchestrator, what: &str, day: &str, want: f64) {
    wait_for(T, &format!("{what} counted"), || {
        day_use(o, "strom", day).filter(|(v, _)| (v - want).abs() < 1e-9)
    });
    wait_for(T, "the virtual meter to follow", || {
        virtual_follows(o, day).then_some(())
    });
}

#[test]
fn the_meters_worker_writes_consumption_and_recomputes_when_a_reading_arrives() {
    let o = Orchestrator::new("[meters]\ncheck_interval_secs = 1\n");
    std::fs::write(o.path("meters.yaml"), METERS).unwrap();
    // 30 kWh a day in the house, 10 in the flat, from 1 to 11 November.
    reading(&o, "strom", "100", "2026-11-01T00:00:00+01:00");
    reading(&o, "strom", "400", "2026-11-11T00:00:00+01:00");
    reading(&o, "wohnung", "10", "2026-11-01T00:00:00+01:00");
    reading(&o, "wohnung", "110", "2026-11-11T00:00:00+01:00");
    let mut o = o.start();
    let worker = o.wait_state("meters", "running", T);

    // 5 November (local midnight 4 November 23:00Z): measured linearly, the rest is 20 a day.
    let day = "2026-11-04T23:00:00Z";
    let (rest, quality) = wait_for(T, "the virtual meter's days", || day_use(&o, "rest", day));
    assert!((rest - 20.0).abs() < 1e-9, "{rest}");
    assert_eq!(quality, "linear");
    let months = o.query("meter_interpolated_monthly", &["--tag", "meter_id=strom"]);
    assert!(!months.is_empty());
    assert!(months[0]["fields"]["quality"].is_string(), "{}", months[0]);

    // A reading arrives: the 15th is now 50 a day, measured, no longer extrapolated.
    let later = "2026-11-14T23:00:00Z";
    let (before, how) = day_use(&o, "strom", later).expect("an extrapolated day");
    assert_eq!(how, "extrapolated", "{before}");
    reading(&o, "strom", "900", "2026-11-21T00:00:00+01:00");
    let (after, how) = wait_for(T, "the recomputed day", || {
        day_use(&o, "strom", later).filter(|(_, q)| q == "linear")
    });
    assert!((after - 50.0).abs() < 1e-9, "{after} ({how})");
    let (rest, _) = day_use(&o, "rest", later).unwrap();
    assert!(rest > 35.0, "the virtual meter followed: {rest}");

    // Backdated by hand, a week before the last reading (21st): 520 on the 14th. The days
    // between the 11th and the 14th are now (520 - 400) / 3 a day, and the virtual meter
    // follows its terms.
    reading(&o, "strom", "520", "2026-11-14T00:00:00+01:00");
    let twelfth = "2026-11-11T23:00:00Z";
    counted_and_followed(&o, "the backdated reading", twelfth, (520.0 - 400.0) / 3.0);

    // Imported by another path, `hemflux import`: 200 on the 6th (linearly it was 250).
    assert!(
        !o.query("kWh", &["--tag", "entity_id=strom"]).is_empty(),
        "the readings' series"
    );
    let sixth: jiff::Timestamp = "2026-11-06T00:00:00+01:00".parse().unwrap();
    let lp = o.path("late.lp");
    std::fs::write(
        &lp,
        format!("kWh,entity_id=strom value=200 {}\n", sixth.as_nanosecond()),
    )
    .unwrap();
    hemflux(&o, &["import", lp.to_str().unwrap()]);
    let third = "2026-11-02T23:00:00Z";
    counted_and_followed(&o, "the imported reading", third, (200.0 - 100.0) / 5.0);
    let worker_status = o.worker("meters").unwrap()["status"].to_string();
    assert!(worker_status.contains("incremental run"), "{worker_status}");

    // A crash: the worker comes back from its checkpoint, and the results stay.
    let kept = day_use(&o, "strom", later).unwrap().0;
    let pid = worker["pid"].as_i64().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for(T, "the meters worker back", || {
        o.worker("meters")
            .filter(|w| w["state"] == "running" && w["pid"].as_i64() != Some(pid))
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(day_use(&o, "strom", later).unwrap().0, kept);
    o.terminate();
}

/// Twelve meters over ten years, read monthly, and a virtual one: a state of several MB.
fn large_set() -> (String, String) {
    let mut yaml = String::from("timezone: Europe/Stockholm\nmeters:\n");
    let mut lp = String::new();
    let start: jiff::Timestamp = "2016-01-01T00:00:00+01:00".parse().unwrap();
    for k in 0..12 {
        yaml += &format!(
            "  - {{meter_id: m{k}, type: physical, output_unit: kWh, installation_date: \"2016-01-01\"}}\n"
        );
        let mut value = 1000.0 * k as f64;
        for month in 0..130i64 {
            // Monthly, a little off the hour, and a different use each month and meter.
            let t = start.as_second() + month * 30 * 86_400 + 3_600 * ((month + k) % 7);
            value += 50.0 + ((month * 7 + k * 3) % 11) as f64 * 4.25;
            lp += &format!("kWh,entity_id=m{k} value={value} {}\n", t * 1_000_000_000);
        }
    }
    yaml += "  - {meter_id: rest, type: virtual, output_unit: kWh, calculation_type: subtraction, base_meter: m0, subtract_meters: [m1, m2]}\n";
    (yaml, lp)
}

/// Each day's consumption the store holds for `meter`, by the second its day starts.
fn stored_days(o: &Orchestrator, meter: &str) -> Vec<(i64, f64)> {
    let points = o.query(
        "meter_consumption",
        &["--tag", &format!("meter_id={meter}"), "--tag", "period=day"],
    );
    points
        .iter()
        .map(|p| {
            let t: jiff::Timestamp = p["time"].as_str().unwrap().parse().unwrap();
            (t.as_second(), p["fields"]["consumption"].as_f64().unwrap())
        })
        .collect()
}

#[test]
fn a_restart_with_a_large_state_resumes_incrementally_and_equals_a_full_run() {
    // The nightly full run far from now, so that the restart is not due for one.
    let nightly = jiff::Zoned::now()
        .in_tz("Europe/Stockholm")
        .unwrap()
        .checked_add(jiff::SignedDuration::from_hours(12))
        .unwrap()
        .time();
    let o = Orchestrator::new(&format!(
        "[meters]\ncheck_interval_secs = 1\nnightly_at = \"{}\"\n",
        nightly.strftime("%H:%M:%S")
    ));
    let (yaml, lp) = large_set();
    std::fs::write(o.path("meters.yaml"), yaml).unwrap();
    std::fs::write(o.path("readings.lp"), lp).unwrap();
    hemflux(&o, &["import", o.path("readings.lp").to_str().unwrap()]);
    let mut o = o.start();
    let status = |o: &Orchestrator| o.worker("meters").map(|w| w["status"].clone());
    wait_for(Duration::from_secs(60), "the first, full run", || {
        status(&o).filter(|s| s.as_str().is_some_and(|s| s.starts_with("full run")))
    });
    let full = status(&o).unwrap();
    assert!(!full.as_str().unwrap().contains("too large"), "{full}");
    // The checkpoint holds the state, over the 4 MiB that were once too large to keep.
    let cp = hemflux::store::Reader::open(&o.path("data"))
        .unwrap()
        .load_state("meters")
        .unwrap()
        .expect("a checkpoint");
    let packed = cp["state"].as_str().expect("the state in the checkpoint");
    let state = hemflux_analytics::meters::packed::unpack(packed).unwrap();
    let json = serde_json::to_vec(&state).unwrap().len();
    assert!(json > 4 << 20, "a state of {json} bytes is not large");
    assert!(cp["seen"].as_u64().unwrap() > 0, "{}", cp["seen"]);
    eprintln!("state: {json} bytes of JSON, {} packed", packed.len());
    let before = stored_days(&o, "m1");
    o.terminate();

    // While it is down, a reading a year back.
    reading(&o, "m1", "9000", "2025-11-01T12:00:00+01:00");
    o.restart();
    let resumed = wait_for(Duration::from_secs(60), "an incremental run", || {
        status(&o).filter(|s| s.as_str().is_some_and(|s| s.starts_with("incremental run")))
    });
    assert!(
        resumed.as_str().unwrap().contains("from 2025-"),
        "{resumed}"
    );
    let after = stored_days(&o, "m1");
    assert_ne!(before, after, "the reading changed m1's days");

    // The same as a full run of the CLI on the same store.
    let out = hemflux(
        &o,
        &[
            "meters",
            "run",
            "--full",
            "--format",
            "json",
            "--meters",
            o.path("meters.yaml").to_str().unwrap(),
        ],
    );
    let outputs: Vec<Value> = serde_json::from_str(&out).unwrap();
    for meter in ["m1", "m0", "rest"] {
        let full: Vec<(i64, f64)> = outputs.iter().find(|o| o["meter_id"] == meter).unwrap()
            ["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["start"].as_i64().unwrap(),
                    d["consumption"].as_f64().unwrap(),
                )
            })
            .collect();
        let stored = stored_days(&o, meter);
        assert_eq!(stored.len(), full.len(), "{meter}");
        for ((t, a), (u, b)) in stored.iter().zip(&full) {
            assert_eq!(t, u, "{meter}");
            assert!(
                (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                "{meter} at {t}: {a} vs {b}"
            );
        }
    }
    o.terminate();
}
