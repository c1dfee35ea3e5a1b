//! The `meters` worker in the whole orchestrator (real `hemflux run`, real worker, real store):
//! `meters.yaml` beside `hemflux.toml` starts it, it reads the readings through the read path,
//! writes daily, monthly and yearly consumption for physical and virtual meters, recomputes as
//! soon as a reading arrives (`hemflux reading add` beside the running orchestrator), and comes
//! back after a crash with its checkpoint.

use std::process::Command;
use std::time::Duration;

use hemflux_e2e::{bin, wait_for, Orchestrator};

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
    let out = Command::new(bin("hemflux"))
        .args(["reading", "add", meter, value, "--at", at, "--data"])
        .arg(o.path("data"))
        .arg("--meters")
        .arg(o.path("meters.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
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

    // A crash: the worker comes back from its checkpoint, and the results stay.
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
    assert_eq!(day_use(&o, "strom", later).unwrap().0, after);
    o.terminate();
}
