//! `hemflux demo`, the README's first command, run for a bounded time: every source delivers.

use std::process::Command;

use hemflux_e2e::{bin, free_port, run_ok};

/// Every measurement the demo fleet must have delivered by the end of its run.
const EXPECTED: &[&str] = &[
    "synthetic",
    "heating_system",
    "building_system",
    "weather_observation",
    "weather_forecast",
    "electricity_consumption",
    "electricity_price",
    "energy_meter",
    "smart_meter",
    // The analytics workers, on the history the demo imports at start.
    "k_value_history",
    "energy_separated",
];

#[test]
fn the_demo_shows_points_from_every_source() {
    let data = tempfile::tempdir().unwrap();
    let stdout = run_ok(
        Command::new(bin("hemflux"))
            .args([
                "demo",
                "--duration",
                "30",
                "--listen",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .arg("--data")
            .arg(data.path()),
    );
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.contains("workers:"))
        .expect("a summary line");
    assert!(
        !last.contains("failed") && !last.contains("backoff"),
        "{last}"
    );
    for m in EXPECTED {
        let count = last
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{m}=")))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        assert!(count > 0, "no {m} points in the demo summary: {last}");
    }
    assert!(
        stdout.contains(&format!("data kept in {}", data.path().display())),
        "{stdout}"
    );
    // The web UI's admin, with a password made for this run.
    let login = stdout
        .lines()
        .find(|l| l.contains("web UI"))
        .expect("the web UI line");
    let password = login
        .split_whitespace()
        .skip_while(|w| *w != "password")
        .nth(1)
        .expect("a password");
    assert!(login.contains("/login  user admin"), "{login}");
    assert_eq!(password.len(), 24, "{login}");
    assert!(data.path().join("users.sqlite").is_file());
    // A usable k for each villa and the office, fitted within the demo's 30 seconds.
    let out = Command::new(bin("hemflux"))
        .args(["query", "k_value_history", "--format", "json", "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    let points: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let fitted = |tag: &str, id: &str| {
        points.iter().any(|p| {
            p["tags"][tag] == id
                && p["fields"]["usable"] == 1
                && p["fields"]["k_value"].as_f64() > Some(0.0)
        })
    };
    for (tag, id) in [
        ("house_id", "HEM_FJV_Villa_101"),
        ("house_id", "HEM_FJV_Villa_102"),
        ("building_id", "demo_office"),
    ] {
        assert!(fitted(tag, id), "no usable k for {id}: {points:?}");
    }
}
