//! BVPro's Arrigo bootstrap reports (`profiles/<house>_signals.json`, written by its
//! `import_historical_data.py`): which Arrigo signal held which `heating_system` field, and
//! which were worth fetching. Carried over as the house's `arrigo_history` section, fetched
//! signals only, so that `hemflux backfill <house>` imports the same history.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::plan::Plan;

/// One report, as read.
pub struct Report {
    path: PathBuf,
    /// `house_id` in the report (the seed's test runs add a suffix, such as `_TEST`).
    house_id: String,
    /// The controller the signals belong to: their names' part before the dot.
    controller: Option<String>,
    resolution_secs: u64,
    signals: Map<String, Value>,
    used: bool,
}

/// The reports in `profiles/`, sorted by file name.
pub fn reports(profiles: &Path, plan: &mut Plan) -> Vec<Report> {
    let Ok(entries) = std::fs::read_dir(profiles) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with("_signals.json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|path| {
            let seed = super::bvpro::read_object(&path, plan)?;
            let Some(signals) = seed.get("signals").and_then(Value::as_object).cloned() else {
                plan.problem(&path, "signals: missing or not an object");
                return None;
            };
            let controllers: BTreeSet<&str> = signals
                .keys()
                .filter_map(|name| name.split_once('.').map(|(c, _)| c))
                .collect();
            let controller = (controllers.len() == 1)
                .then(|| controllers.first().map(|c| c.to_string()))
                .flatten();
            let minutes = seed.get("resolution_minutes").and_then(Value::as_u64);
            Some(Report {
                house_id: super::bvpro::text(seed.get("house_id")).unwrap_or_default(),
                controller,
                resolution_secs: if minutes == Some(60) { 3600 } else { 300 },
                signals,
                path,
                used: false,
            })
        })
        .collect()
}

/// The Arrigo servers the seed's buildings name (`connection.host`).
fn arrigo_hosts(dir: &Path) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("buildings")) else {
        return BTreeSet::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| serde_json::from_str::<Value>(&t).ok())
        .filter(|b| b["connection"]["system"] == "arrigo")
        .filter_map(|b| b["connection"]["host"].as_str().map(str::to_string))
        .collect()
}

/// The `arrigo_history` section of house `id` (HomeSide controller `id`), from its report.
pub fn section(dir: &Path, reports: &mut [Report], id: &str, plan: &mut Plan) -> Option<Value> {
    let report = reports
        .iter_mut()
        .find(|r| r.house_id == id || r.controller.as_deref() == Some(id))?;
    report.used = true;
    let path = report.path.clone();
    let hosts = arrigo_hosts(dir);
    let [host] = hosts.iter().collect::<Vec<_>>()[..] else {
        plan.dropped(
            &path,
            format!(
            "the report names no Arrigo server and the seed's buildings name {}: add house {id}'s \
             arrigo_history by hand (docs/houses.md)", hosts.len()),
        );
        return None;
    };
    let mut signals = Vec::new();
    let mut skipped = 0;
    for (name, s) in &report.signals {
        let field = super::bvpro::text(s.get("field_name"));
        match (s.get("fetch").and_then(Value::as_bool), field) {
            (Some(true), Some(field)) => {
                let mut out = json!({"signal_id": s["signal_id"], "field": field, "name": name});
                if let Some(unit) = super::bvpro::text(s.get("unit")) {
                    out["unit"] = json!(unit);
                }
                signals.push(out);
            }
            _ => skipped += 1,
        }
    }
    let prefix = format!("HOUSE_{id}_ARRIGO");
    // The seed logged in at its one Arrigo server: hemflux sends the login there only.
    plan.env
        .insert(format!("{prefix}_URL"), format!("https://{host}"));
    plan.mapped(
        &path,
        format!(
            "{} fetched signals -> house {id}'s arrigo_history (Arrigo at {host}, {} s buckets); \
         {skipped} not fetched by the seed left out",
            signals.len(),
            report.resolution_secs
        ),
    );
    plan.todo.push(format!(
        "{}: the report does not name its Arrigo server: hemflux took the seed's one ({host}); \
         check it, and put {prefix}_USERNAME and {prefix}_PASSWORD in .env to run \
         `hemflux backfill {id}`",
        path.display()
    ));
    Some(json!({
        "arrigo": {"base_url": format!("https://{host}/arrigo/api"),
                   "history_resolution_secs": report.resolution_secs},
        "signals": signals,
    }))
}

/// Reports that matched no profile are said so.
pub fn unused(reports: &[Report], plan: &mut Plan) {
    for r in reports.iter().filter(|r| !r.used) {
        plan.dropped(
            &r.path,
            format!(
            "the Arrigo bootstrap report of {:?} matches no profile (by house_id or controller)",
            r.house_id),
        );
    }
}
