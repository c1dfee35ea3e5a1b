//! The `weather` worker against the SMHI simulator, both real binaries: first playing the
//! orchestrator's side of the protocol to see every point and count the simulator's requests,
//! then through the whole orchestrator.

use std::collections::BTreeMap;
use std::time::Duration;

use hemflux_e2e::{wait_for, FakeOrchestrator, Orchestrator, Sim};
use hemflux_shared::{FieldValue, Point};
use serde_json::{json, Value};

/// `hemflux-sim smhi` with its request log in a file, so a test can count requests.
struct SmhiSim {
    sim: Sim,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SmhiSim {
    fn start(extra: &[&str]) -> SmhiSim {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sim.log");
        let stderr = std::fs::File::create(&log).unwrap();
        SmhiSim {
            sim: Sim::start_with_stderr("smhi", extra, stderr.into()),
            log,
            _dir: dir,
        }
    }

    fn requests(&self, path_part: &str) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap();
        log.lines()
            .filter(|l| l.contains("GET ") && l.contains(path_part))
            .count()
    }

    fn settings(&self) -> Value {
        json!({
            "observations_url": format!("{}/api/version/latest", self.sim.address),
            "forecast_url": format!("{}/api/category/snow1g/version/1", self.sim.address),
            "observation_interval_secs": 1, "forecast_interval_secs": 3600,
            "forecast_grid_deg": 0.05, "timeout_secs": 5,
        })
    }
}

fn start(config: Value) -> FakeOrchestrator {
    start_with_state(config, Value::Null)
}

fn start_with_state(config: Value, state: Value) -> FakeOrchestrator {
    let init = json!({"config": config, "state": state});
    FakeOrchestrator::start("weather", "weather", init, &[])
}

/// The points of `measurement` tagged with `id`.
fn of<'a>(
    w: &'a FakeOrchestrator,
    measurement: &'a str,
    id: &'a str,
) -> impl Iterator<Item = &'a Point> {
    w.of(measurement)
        .filter(move |p| p.tags.values().any(|v| v == id))
}

fn float(p: &Point, field: &str) -> Option<f64> {
    match p.fields.get(field)? {
        FieldValue::Float(x) => Some(*x),
        other => panic!("{field} is {other:?}"),
    }
}

#[test]
fn three_hundred_houses_near_one_station_cost_one_request_each() {
    let sim = SmhiSim::start(&["--forecast-missing-every", "5"]);
    // 300 villas around Helsingborg (inside one forecast cell), one near Halmstad (whose
    // station has no humidity sensor) and an office building in Stockholm.
    let mut positions: Vec<Value> = (0..300)
        .map(|i| {
            let d = (i as f64 / 300.0 - 0.5) * 0.02;
            json!({"tag": "house_id", "id": format!("villa_{i}"), "lat": 56.05 + d, "lon": 12.70 - d})
        })
        .collect();
    positions.push(json!({"tag": "house_id", "id": "halmstad_1", "lat": 56.675, "lon": 12.857}));
    positions.push(json!({"tag": "building_id", "id": "kontor_3", "lat": 59.33, "lon": 18.07}));
    let mut w = start(json!({"settings": sim.settings(), "positions": positions}));
    w.serve_for(Duration::from_secs(4));

    // One station list, three parameters per station and round, one forecast per cell: never
    // one per house. The worker observes about once a second here.
    assert_eq!(sim.requests("/parameter/1.json"), 1);
    let helsingborg = sim.requests("/station/62040/period/latest-day");
    assert!(
        helsingborg.is_multiple_of(3) && (3..=18).contains(&helsingborg),
        "{helsingborg} requests for 301 positions"
    );
    assert_eq!(
        sim.requests("/station/62030/"),
        0,
        "the inactive nearer station is skipped"
    );
    assert_eq!(sim.requests("/geotype/point/"), 3, "one forecast per cell");

    // Observations: SMHI's own values and times, tagged with the nearest active station.
    let served = sim
        .sim
        .get_json("/api/version/latest/parameter/1/station/62040/period/latest-day/data.json");
    let served: BTreeMap<i64, f64> = served["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["date"].as_i64().unwrap() * 1_000_000,
                r["value"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    let obs: Vec<&Point> = of(&w, "weather_observation", "villa_0").collect();
    assert!(obs.len() >= 20, "a day of hourly rows: {}", obs.len());
    assert_eq!(
        obs.len(),
        served.len(),
        "each hour once, even after four rounds"
    );
    for p in &obs {
        assert_eq!(p.tags["station_name"], "Helsingborg A");
        assert_eq!(p.tags["station_id"], "62040");
        assert_eq!(float(p, "temperature"), Some(served[&p.time]), "{p:?}");
        assert!(float(p, "wind_speed").is_some() && float(p, "humidity").is_some());
        assert!((0.0..5.0).contains(&float(p, "distance_km").unwrap()));
    }
    let halmstad: Vec<&Point> = of(&w, "weather_observation", "halmstad_1").collect();
    assert!(!halmstad.is_empty());
    assert!(halmstad
        .iter()
        .all(|p| p.tags["station_name"] == "Halmstad flygplats"
            && float(p, "humidity").is_none()
            && float(p, "temperature").is_some()));
    assert!(of(&w, "weather_observation", "kontor_3").all(|p| p.tags.contains_key("building_id")));

    // Forecasts: a summary per position, and 72 h of steps without the 9999 sentinel.
    for id in ["villa_0", "villa_299", "halmstad_1", "kontor_3"] {
        let summary: Vec<&Point> = of(&w, "weather_forecast", id).collect();
        assert_eq!(summary.len(), 1, "{id}");
        assert!(["rising", "falling", "stable"].contains(&summary[0].tags["trend"].as_str()));
        let hourly: Vec<&Point> = of(&w, "weather_forecast_hourly", id).collect();
        assert!((58..=72).contains(&hourly.len()), "{id}: {}", hourly.len());
        for p in &hourly {
            for (k, v) in &p.fields {
                assert!(v.as_f64().is_none_or(|x| x.abs() < 9000.0), "{k} = {v:?}");
            }
        }
        assert!(
            hourly.iter().any(|p| !p.fields.contains_key("temperature")),
            "every 5th step is missing"
        );
    }
}

#[test]
fn weather_reaches_the_store_for_a_dropped_profile_with_a_location() {
    let sim = SmhiSim::start(&[]);
    let s = sim.settings();
    let toml = format!(
        "[weather]\nobservations_url = {}\nforecast_url = {}\nobservation_interval_secs = 2\n",
        s["observations_url"], s["forecast_url"]
    );
    let o = Orchestrator::new(&toml).start();
    o.write_profile(
        "villa_9.json",
        r#"{"location": {"lat": 56.05, "lon": 12.7}}"#,
    );
    let rows = wait_for(Duration::from_secs(30), "weather_observation rows", || {
        let rows = o.query("weather_observation", &[]);
        (!rows.is_empty()).then_some(rows)
    });
    let row = rows[0].to_string();
    assert!(
        row.contains("villa_9") && row.contains("Helsingborg A"),
        "{row}"
    );
    wait_for(
        Duration::from_secs(30),
        "weather_forecast_hourly rows",
        || (!o.query("weather_forecast_hourly", &[]).is_empty()).then_some(()),
    );
}

#[test]
fn smhi_errors_are_retried_soon_not_an_hour_later() {
    // The first four requests fail: the station list and both forecasts among them.
    let sim = SmhiSim::start(&["--fail-first", "4"]);
    let positions = json!([
        {"tag": "house_id", "id": "north", "lat": 59.33, "lon": 18.07},
        {"tag": "house_id", "id": "south", "lat": 55.6, "lon": 13.0},
    ]);
    let mut w = start(json!({"settings": sim.settings(), "positions": positions}));
    w.serve_for(Duration::from_secs(5));
    assert!(w.alive(), "the worker exited");
    for id in ["north", "south"] {
        assert!(of(&w, "weather_observation", id).count() > 0, "{id}");
        assert_eq!(of(&w, "weather_forecast", id).count(), 1, "{id}");
    }
    assert_eq!(sim.requests("-> 500"), 4);
    assert_eq!(
        sim.requests("/geotype/point/"),
        4,
        "each cell failed once, then succeeded once"
    );
}

#[test]
fn refused_observations_are_sent_again_not_skipped() {
    let sim = SmhiSim::start(&[]);
    let mut settings = sim.settings();
    settings["forecasts"] = json!(false);
    let positions = json!([{"tag": "house_id", "id": "villa", "lat": 56.05, "lon": 12.7}]);
    let mut w = start(json!({"settings": settings, "positions": positions}));
    w.nack_next = 1;
    w.serve_for(Duration::from_secs(3));
    assert!(w.alive(), "a refused batch is not fatal");
    let served = sim
        .sim
        .get_json("/api/version/latest/parameter/1/station/62040/period/latest-day/data.json");
    let times: Vec<i64> = of(&w, "weather_observation", "villa")
        .map(|p| p.time)
        .collect();
    assert_eq!(
        times.len(),
        served["value"].as_array().unwrap().len(),
        "each hour exactly once"
    );
}

#[test]
fn a_position_days_behind_catches_up_from_the_last_months() {
    let sim = SmhiSim::start(&["--missing-hours-percent", "0"]);
    let mut settings = sim.settings();
    settings["forecasts"] = json!(false);
    let positions = json!([{"tag": "house_id", "id": "villa", "lat": 56.05, "lon": 12.7}]);
    let newest = sim
        .sim
        .get_json("/api/version/latest/parameter/1/station/62040/period/latest-hour/data.json")
        ["value"][0]["date"]
        .as_i64()
        .unwrap();
    let three_days_ago = newest - 72 * 3_600_000;
    let state = json!({"last_observation": {"house_id/villa": three_days_ago}});
    let mut w = start_with_state(json!({"settings": settings, "positions": positions}), state);
    w.serve_for(Duration::from_millis(2500));
    let times: Vec<i64> = of(&w, "weather_observation", "villa")
        .map(|p| p.time / 1_000_000)
        .collect();
    assert_eq!(times.len(), 72, "every hour since the last one stored");
    // The seed's gap filler tagged what it filled in `source=gap_fill`; the last day is live.
    let gap_filled = of(&w, "weather_observation", "villa")
        .filter(|p| p.tags.get("source").map(String::as_str) == Some("gap_fill"))
        .count();
    assert!((47..=49).contains(&gap_filled), "{gap_filled} of 72 tagged");
    assert_eq!((times[0], times[71]), (three_days_ago + 3_600_000, newest));
    assert_eq!(
        sim.requests("/period/latest-months/"),
        3,
        "once, then the last day again"
    );
    assert!(sim.requests("/period/latest-day/") >= 3);
}
