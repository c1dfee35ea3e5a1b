//! The demo's past: before `hemflux run` starts, every house with a HomeSide substation and every
//! building of the demo gets an `analytics` section and 45 days of simulated history (hourly
//! district-heating energy, 5-minute heating rows, hourly weather), written as a line-protocol
//! file and imported with `hemflux import`'s code, so that `hemflux analytics run` (and the
//! analytics workers) show a k for each within the demo's first minute.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use hemflux_analytics::energy::effective::Coefficients;
use hemflux_analytics::energy::synthetic::{generate, HouseSpec, SyntheticHouse};
use hemflux_shared::config::{Location, DEFAULT_TIMEZONE};
use hemflux_shared::point::write_line_protocol;
use hemflux_shared::time::to_nanos;
use hemflux_shared::Point;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};

use crate::import::{self, Format, ImportArgs};

/// Days of history: the default calibration window (30) with room for incomplete days.
const DAYS: i64 = 45;

/// One demo entity to give a past.
struct Entity {
    file: PathBuf,
    tag: &'static str,
    id: String,
    /// Its district-heating meter (the file exchange's meter id for the villa that has one).
    meter_id: String,
    spec: HouseSpec,
}

/// Adds `analytics` to the demo's houses and buildings and imports their history into `data`.
pub async fn import(root: &Path, data: &Path) -> Result<()> {
    let entities = entities(root)?;
    let to = Timestamp::now();
    let from = to - SignedDuration::from_hours(24 * DAYS);
    let tz = TimeZone::get(DEFAULT_TIMEZONE)?;
    let mut buf = Vec::new();
    for e in &entities {
        let house = generate(&e.spec, &Coefficients::default(), &tz, from, to);
        write_line_protocol(&points(e, &house), &mut buf);
        let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&e.file)?)?;
        config["timezone"] = json!(DEFAULT_TIMEZONE);
        config["analytics"] = json!({});
        std::fs::write(&e.file, serde_json::to_string_pretty(&config)?)?;
    }
    let file = root.join("demo-history.lp");
    std::fs::write(&file, &buf).with_context(|| format!("writing {}", file.display()))?;
    println!(
        "  history       {DAYS} days for {} houses and buildings ({})",
        entities.len(),
        file.display()
    );
    import::run(ImportArgs {
        files: vec![file],
        data: data.to_path_buf(),
        format: Some(Format::Lp),
        precision: Default::default(),
        measurement: None,
        tags: None,
        database: None,
        skip_bad: false,
        dry_run: false,
    })
    .await
    .context("importing the demo's history")
}

/// The villas (profiles with `homeside`) and every building, with a house model each: villas
/// of about 0.1 kW/K, the office of 4 kW/K with a larger base load and no hot-water tap.
fn entities(root: &Path) -> Result<Vec<Entity>> {
    let mut out = Vec::new();
    for (dir, tag) in [("profiles", "house_id"), ("buildings", "building_id")] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            let config: Value = serde_json::from_str(&std::fs::read_to_string(&file)?)
                .with_context(|| format!("reading {}", file.display()))?;
            if tag == "house_id" && config.get("homeside").is_none() {
                continue;
            }
            let id = config["id"]
                .as_str()
                .map(String::from)
                .or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .unwrap_or_default();
            let location = Location {
                lat: config["location"]["lat"].as_f64().unwrap_or(56.68),
                lon: config["location"]["lon"].as_f64().unwrap_or(12.87),
            };
            let n = out.len() as u64;
            let spec = if tag == "house_id" {
                HouseSpec {
                    k_kw_per_k: 0.09 + 0.02 * n as f64,
                    location,
                    seed: n + 1,
                    ..HouseSpec::default()
                }
            } else {
                HouseSpec {
                    k_kw_per_k: 4.0,
                    base_load_kw: 3.0,
                    kwh_per_dhw_minute: 0.0,
                    location,
                    seed: n + 1,
                    ..HouseSpec::default()
                }
            };
            let meter_id = config["meter_ids"][0]
                .as_str()
                .map_or_else(|| format!("{id}_heat"), String::from);
            out.push(Entity {
                file,
                tag,
                id,
                meter_id,
                spec,
            });
        }
    }
    Ok(out)
}

/// The points the entity's sources would have written: `energy_meter`, the heating rows (houses)
/// and `weather_observation`, tagged with the entity.
fn points(e: &Entity, house: &SyntheticHouse) -> Vec<Point> {
    let at = |t: Timestamp, m: &str| Point::new(m, to_nanos(t)).tag(e.tag, e.id.as_str());
    let mut out = Vec::new();
    for h in &house.meter {
        out.push(
            at(h.start, "energy_meter")
                .tag("meter_id", e.meter_id.as_str())
                .field("consumption", h.kwh),
        );
    }
    if e.tag == "house_id" {
        for r in &house.heating {
            let mut p = at(r.time, "heating_system");
            if let Some(t) = r.indoor_c {
                p = p.field("room_temperature", t);
            }
            if let Some(t) = r.hot_water_c {
                p = p.field("hot_water_temp", t);
            }
            out.push(p);
        }
    }
    for w in &house.weather {
        let mut p = at(w.time, "weather_observation")
            .tag("source", "demo_history")
            .field("temperature", w.temp_c);
        if let Some(v) = w.wind_ms {
            p = p.field("wind_speed", v);
        }
        if let Some(v) = w.humidity_pct {
            p = p.field("humidity", v);
        }
        out.push(p);
    }
    out
}
