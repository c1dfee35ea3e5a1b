//! `hemflux reading add`, `hemflux meters run` and `hemflux check --meters` as a user runs them:
//! the real binary on a real store in a temp folder.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const METERS: &str = "meters:
  - meter_id: water_total
    type: master
    output_unit: m³
    periods:
      - {start_date: 2024-11-01, end_date: 2024-11-15, composition_type: single, source_meters: [old], source_unit: m³}
      - {start_date: 2024-11-16, end_date: 9999-12-31, composition_type: single, source_meters: [new], source_unit: m³, apply_offset_from_previous_period: true}
  - meter_id: garden
    type: virtual
    output_unit: m³
    terms: [{meter: water_total, coef: 1}, {meter: flat, coef: -1}]
  - {meter_id: old, type: physical, output_unit: m³, installation_date: 2024-11-01, deinstallation_date: 2024-11-15}
  - {meter_id: new, type: physical, output_unit: m³, installation_date: 2024-11-16}
  - {meter_id: flat, type: physical, output_unit: m³, installation_date: 2024-11-01}
";

fn hemflux(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hemflux"))
        .args(args)
        .arg("--data")
        .arg(dir.join("data"))
        .arg("--meters")
        .arg(dir.join("meters.yaml"))
        .output()
        .unwrap()
}

#[track_caller]
fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn add(dir: &Path, meter: &str, value: &str, at: &str) {
    ok(hemflux(dir, &["reading", "add", meter, value, "--at", at]));
}

fn month(run: &Value, meter: &str, label: &str) -> f64 {
    let m = run
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["meter_id"] == meter)
        .unwrap();
    let month = m["months"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["label"] == label);
    month.unwrap_or_else(|| panic!("{meter} has no {label}: {m}"))["consumption"]
        .as_f64()
        .unwrap()
}

#[test]
fn readings_typed_in_become_consumption_and_a_late_one_recomputes_from_its_day() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("meters.yaml"), METERS).unwrap();
    let d = dir.path();
    add(d, "old", "5000", "2024-11-01");
    add(d, "old", "5075", "2024-11-16");
    add(d, "new", "0", "2024-11-16");
    add(d, "new", "60", "2024-12-01");
    add(d, "flat", "0", "2024-11-01");
    add(d, "flat", "100", "2024-12-01");
    let run: Value =
        serde_json::from_str(&ok(hemflux(d, &["meters", "run", "--format", "json"]))).unwrap();
    assert_eq!(
        month(&run, "water_total", "2024-11"),
        135.0,
        "nothing lost at the swap"
    );
    assert_eq!(month(&run, "garden", "2024-11"), 35.0);
    assert!(d.join("data/meters-state.json").exists());

    // A reading found later for 20 November: the flat's month splits differently, the run
    // resumes and only the flat and the virtual meter built on it change.
    add(d, "flat", "90", "2024-11-20");
    let again: Value = serde_json::from_str(&ok(hemflux(
        d,
        &["meters", "run", "--format", "json", "garden", "flat"],
    )))
    .unwrap();
    assert_eq!(
        again.as_array().unwrap().len(),
        2,
        "only the meters asked for"
    );
    let get = |id: &str| {
        again
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["meter_id"] == id)
            .unwrap()
            .clone()
    };
    let from = get("garden")["from"].as_str().unwrap().to_string();
    assert!(
        from >= "2024-11-01".into() && from <= "2024-11-20".into(),
        "{again}"
    );
    let day = |id: &str| {
        get(id)["days"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["label"] == "2024-11-19")
            .unwrap()["consumption"]
            .as_f64()
            .unwrap()
    };
    assert!((day("flat") - 90.0 / 19.0).abs() < 1e-9);
    assert!(
        (day("garden") - (4.0 - 90.0 / 19.0)).abs() < 1e-9,
        "the flat used more than the house that day"
    );
    let flagged = get("garden")["flags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["date"] == "2024-11-19" && f["kind"] == "negative_residual");
    assert!(flagged, "{}", get("garden")["flags"]);

    let table = ok(hemflux(d, &["meters", "run", "--full"]));
    assert!(
        table.lines().next().unwrap().starts_with("meter "),
        "{table}"
    );
    assert!(
        table.contains("water_total") && table.contains("(full run)"),
        "{table}"
    );
}

#[test]
fn mistakes_are_refused_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("meters.yaml"),
        METERS.replace("source_meters: [new]", "source_meters: [neu]"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hemflux"))
        .args(["check", "--profiles"])
        .arg(d)
        .arg("--buildings")
        .arg(d)
        .arg("--meters")
        .arg(d.join("meters.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("meters.yaml:7:1: meters[0].periods: no meter has the id \"neu\""),
        "{stderr}"
    );
    let out = hemflux(d, &["meters", "run"]);
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("no meter has the id \"neu\"")
    );

    std::fs::write(d.join("meters.yaml"), METERS).unwrap();
    let out = hemflux(d, &["reading", "add", "garden", "3"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("garden is a computed meter"));
    let out = hemflux(d, &["reading", "add", "nobody", "3"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no meter \"nobody\""));
    let out = hemflux(d, &["reading", "add", "flat", "3", "--at", "yesterday"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--at"));
}
