//! `hemflux analytics run` end to end: a store filled with a synthetic house's year (meter hours,
//! 5-minute heating rows, weather observations, as the workers store them), the real binary, and
//! k, the balance point and the hot-water share compared with what the house was built with.

use std::path::Path;
use std::process::Command;

use hemflux::store::{Store, StoreConfig};
use hemflux_analytics::energy::effective::Coefficients;
use hemflux_analytics::energy::synthetic::{year, HouseSpec};
use hemflux_e2e::stdout_of;
use hemflux_shared::time::to_nanos;
use hemflux_shared::Point;
use jiff::tz::TimeZone;
use serde_json::Value;

/// No sun term: the store's weather has no cloud cover, which the synthetic house's sun used.
const STILL_SUN: Coefficients = Coefficients {
    wind: 0.56,
    humidity: 0.01,
    solar: 0.0,
};

async fn fill_store(data: &Path, spec: &HouseSpec) -> f64 {
    let tz = TimeZone::get("Europe/Stockholm").unwrap();
    let house = year(
        spec,
        &STILL_SUN,
        &tz,
        "2025-01-01T00:00:00Z".parse().unwrap(),
    );
    let store = Store::open(data, &StoreConfig::default()).unwrap();
    let mut points: Vec<Point> = Vec::new();
    for h in &house.meter {
        points.push(
            Point::new("energy_meter", to_nanos(h.start))
                .tag("house_id", "villa_a")
                .tag("meter_id", "735999")
                .field("consumption", h.kwh),
        );
    }
    for r in &house.heating {
        points.push(
            Point::new("heating_system", to_nanos(r.time))
                .tag("house_id", "villa_a")
                .field("room_temperature", r.indoor_c.unwrap())
                .field("hot_water_temp", r.hot_water_c.unwrap()),
        );
    }
    for w in &house.weather {
        points.push(
            Point::new("weather_observation", to_nanos(w.time))
                .tag("house_id", "villa_a")
                .tag("station_id", "98230")
                .field("temperature", w.temp_c)
                .field("wind_speed", w.wind_ms.unwrap())
                .field("humidity", w.humidity_pct.unwrap()),
        );
    }
    for chunk in points.chunks(10_000) {
        store.write("test", chunk.to_vec(), None).await.unwrap();
    }
    let dhw: f64 = house.truth.iter().map(|h| h.dhw_kwh).sum();
    let total: f64 = house.meter.iter().map(|h| h.kwh).sum();
    dhw / total
}

fn hemflux(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hemflux"))
        .arg("analytics")
        .arg("run")
        .args(args)
        .arg("--data")
        .arg(dir.join("data"))
        .arg("--profiles")
        .arg(dir.join("profiles"))
        .arg("--buildings")
        .arg(dir.join("buildings"))
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn analytics_run_finds_the_synthetic_houses_k_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["data", "profiles", "buildings"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
    }
    // An entity with imported data and no live source: an id, a position, a time zone and an
    // analytics section. A second house has no analytics section and is left out by default.
    std::fs::write(
        dir.path().join("profiles/villa_a.json"),
        r#"{"location": {"lat": 59.33, "lon": 18.07}, "timezone": "Europe/Stockholm",
            "analytics": {"coefficients": {"wind": 0.56, "humidity": 0.01, "solar": 0}}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("profiles/villa_b.json"),
        r#"{"location": {"lat": 59.3, "lon": 18.0}}"#,
    )
    .unwrap();
    let spec = HouseSpec::default();
    let true_dhw_share = fill_store(&dir.path().join("data"), &spec).await;

    let out = hemflux(
        dir.path(),
        &[
            "--from",
            "2025-01-01",
            "--to",
            "2025-12-31",
            "--format",
            "json",
        ],
    );
    let rows: Vec<Value> = serde_json::from_str(&stdout_of(out)).unwrap();
    assert_eq!(
        rows.len(),
        1,
        "only the house with an analytics section: {rows:?}"
    );
    let r = &rows[0];
    assert_eq!(r["entity"], "villa_a");
    let k = r["k_kw_per_k"].as_f64().unwrap();
    assert!((k - spec.k_kw_per_k).abs() / spec.k_kw_per_k < 0.02, "{r}");
    assert!(
        (r["balance_point_c"].as_f64().unwrap() - spec.balance_point_c).abs() < 1.5,
        "{r}"
    );
    assert_eq!(
        r["days_used"], 364,
        "2025-01-01 starts at 00:00 UTC, an hour into the Swedish day"
    );
    let share = r["dhw_share"].as_f64().unwrap();
    assert!(
        (share - true_dhw_share).abs() < 0.02,
        "hot water share {share} vs {true_dhw_share}"
    );
    for key in ["base_kwh_per_day", "r2_adj", "cvrmse"] {
        assert!(r[key].is_number(), "{key} in {r}");
    }

    // Named entities: the table, and a house without data gets a row that says why.
    let out = hemflux(
        dir.path(),
        &[
            "villa_a",
            "villa_b",
            "--from",
            "2025-01-01",
            "--to",
            "2025-12-31",
        ],
    );
    let table = stdout_of(out);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("entity")
            && lines[0].contains("k_kw_per_k")
            && lines[0].contains("dhw_share"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("villa_a") && lines[1].contains(&format!("{k}")),
        "{table}"
    );
    assert!(
        lines[2].starts_with("villa_b") && lines[2].contains("no fit: too few usable days"),
        "{table}"
    );

    let out = hemflux(dir.path(), &["villa_x"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("\"villa_x\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
