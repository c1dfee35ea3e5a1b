//! BVPro (seed 002): `profiles/`, `buildings/`, `settings.json`, `variables_config.json` and
//! `offboarded.json`, as that system keeps them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hemflux_shared::schema;
use serde_json::{json, Map, Value};

use super::plan::Plan;

/// The profile keys that hold what the seed's analytics learned or were told: carried over as
/// the analytics' starting state (worker state `analytics:<id>`).
const ANALYTICS_KEYS: &[&str] = &[
    "learned",
    "energy_separation",
    "heat_curve_control",
    "comfort",
    "heating_system",
    "building",
];

const SCHEMA_VERSION: &str =
    "schema_version: hemflux checks its files by their fields (`hemflux check`)";

/// The worker-state id under which an entity's analytics find their starting state.
pub fn analytics_state_id(id: &str) -> String {
    format!("analytics:{id}")
}

/// Reads a JSON file; a problem (with line and column) if it is not a JSON object.
pub(super) fn read_object(path: &Path, plan: &mut Plan) -> Option<Map<String, Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            plan.problem(path, format!("cannot read: {e}"));
            return None;
        }
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Some(map),
        Ok(_) => {
            plan.problem(path, "not a JSON object");
            None
        }
        Err(e) => {
            // serde_json ends its message with the position; say it first, as `check` does.
            let message = e.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(m, _)| m);
            plan.problem(
                path,
                format!("line {} column {}: {message}", e.line(), e.column()),
            );
            None
        }
    }
}

/// The `*.json` files of `dir`, sorted; other files are reported as not migrated.
fn json_files(dir: &Path, plan: &mut Plan) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    files.retain(|p| {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        if name.ends_with("_signals.json") {
            // A house's Arrigo bootstrap report is read by `history`.
            if !dir.ends_with("profiles") {
                plan.dropped(p, "an Arrigo bootstrap report outside profiles/");
            }
            false
        } else if name.ends_with(".json") {
            true
        } else {
            if p.is_file() {
                plan.dropped(p, "not a .json config (a template or a stray file)");
            }
            false
        }
    });
    files
}

pub(super) fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// What every entity shares: the seed's settings and `.env`, read once.
pub struct Shared {
    /// HomeSide poll interval (settings `data_collection.heating_data_interval_minutes`, or
    /// `.env` `POLL_INTERVAL_MINUTES`).
    pub poll_secs: Option<u64>,
    /// `.env` `LATITUDE` / `LONGITUDE`: the seed's one position for every house.
    pub location: Option<Value>,
    /// Variables of `variables_config.json` that hemflux does not read by itself.
    pub extra_variables: BTreeMap<String, String>,
    /// The seed's `.env`.
    pub env: BTreeMap<String, String>,
}

/// Starting state of one entity's analytics, from the keys of its seed file.
fn starting_state(
    kind: &str,
    id: &str,
    from: &Path,
    seed: &Map<String, Value>,
    keys: &[&str],
) -> Option<Value> {
    let carried: Map<String, Value> = keys
        .iter()
        .filter_map(|k| seed.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    if carried.is_empty() {
        return None;
    }
    Some(json!({
        "entity": {"kind": kind, "id": id},
        "migrated_from": from.display().to_string(),
        "seed": carried,
    }))
}

/// `profiles/*.json` → `profiles/<id>.json`, with learned parameters as starting state.
pub fn profiles(dir: &Path, shared: &Shared, plan: &mut Plan) {
    let mut reports = super::history::reports(&dir.join("profiles"), plan);
    for path in json_files(&dir.join("profiles"), plan) {
        let Some(seed) = read_object(&path, plan) else {
            continue;
        };
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        let id = text(seed.get("customer_id")).unwrap_or_else(|| stem.to_string());
        let mut homeside = json!({});
        if let Some(secs) = shared.poll_secs {
            homeside["poll_interval_secs"] = json!(secs);
        }
        let mut overrides: Map<String, Value> = shared
            .extra_variables
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let mut meter_ids = string_list(seed.get("meter_ids"));
        if let Some(extra) = shared.env.get(&format!("HOUSE_{id}_METER_IDS")) {
            for m in extra.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                if !meter_ids.iter().any(|x| x == m) {
                    meter_ids.push(m.to_string());
                }
            }
        }
        let mut house = json!({"id": id});
        for (key, value) in &seed {
            match key.as_str() {
                "customer_id" | "meter_ids" => {}
                "friendly_name" => house["name"] = value.clone(),
                "energy_data_start_date" => house["energy_data_start_date"] = value.clone(),
                "variable_overrides" => {
                    for (k, v) in value.as_object().into_iter().flatten() {
                        overrides.insert(k.clone(), v.clone());
                    }
                }
                "schema_version" => plan.dropped(
                    &path,
                    "schema_version: hemflux checks its files by their fields (`hemflux check`)",
                ),
                k if ANALYTICS_KEYS.contains(&k) => {}
                k => plan.dropped(&path, format!("{k}: not a hemflux profile setting")),
            }
        }
        if !overrides.is_empty() {
            homeside["variable_overrides"] = Value::Object(overrides);
        }
        house["homeside"] = homeside;
        if let Some(history) = super::history::section(dir, &mut reports, &id, plan) {
            house["arrigo_history"] = history;
        }
        if !meter_ids.is_empty() {
            house["meter_ids"] = json!(meter_ids);
        }
        if let Some(location) = &shared.location {
            house["location"] = location.clone();
        }
        let to = PathBuf::from("profiles").join(format!("{id}.json"));
        let mut what = format!("house {id} (HomeSide controller {id}");
        if !meter_ids.is_empty() {
            what.push_str(&format!(
                ", district-heating meters {}",
                meter_ids.join(", ")
            ));
        }
        what.push_str(&format!(") -> {}", to.display()));
        plan.mapped(&path, what);
        if let Some(state) = starting_state("house", &id, &path, &seed, ANALYTICS_KEYS) {
            let keys: Vec<&String> = state["seed"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
                .collect();
            plan.mapped(
                &path,
                format!(
                    "{} -> the analytics' starting state (worker state {})",
                    keys.iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    analytics_state_id(&id)
                ),
            );
            plan.states.insert(analytics_state_id(&id), state);
        }
        credentials(&path, "HOUSE", &id, shared, plan);
        plan.json_file(to, &house);
    }
    super::history::unused(&reports, plan);
}

/// `.env`'s `<PREFIX>_<id>_USERNAME/PASSWORD` go along, or the user is told to add them.
fn credentials(from: &Path, prefix: &str, id: &str, shared: &Shared, plan: &mut Plan) {
    let keys = [
        format!("{prefix}_{id}_USERNAME"),
        format!("{prefix}_{id}_PASSWORD"),
    ];
    let found: Vec<&String> = keys
        .iter()
        .filter(|k| shared.env.contains_key(*k))
        .collect();
    if found.len() < keys.len() {
        plan.todo.push(format!(
            "{}: put {} and {} in hemflux's .env (the seed's .env does not have them)",
            from.display(),
            keys[0],
            keys[1]
        ));
    }
}

/// A building's analog signals as hemflux's `signals`. A signal the seed gave no field name
/// gets what `hemflux add-building` would give it: its name after the controller, or the whole
/// name where that is taken.
fn signals(analog: &Map<String, Value>) -> Vec<Value> {
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    let field_of = |name: &str, s: &Value| {
        text(s.get("field_name")).unwrap_or_else(|| crate::onboard::short_signal_name(name))
    };
    for (name, s) in analog {
        *taken.entry(field_of(name, s)).or_default() += 1;
    }
    analog
        .iter()
        .map(|(name, s)| {
            let mut field = field_of(name, s);
            if taken[&field] > 1 && text(s.get("field_name")).is_none() {
                field = name.clone();
            }
            let mut out = json!({
                "signal_id": s.get("signal_id").cloned().unwrap_or(Value::Null),
                "field": field,
                "name": name,
                "fetch": s.get("fetch").and_then(Value::as_bool).unwrap_or(false),
            });
            if let Some(unit) = text(s.get("unit")) {
                out["unit"] = json!(unit);
            }
            out
        })
        .collect()
}

/// `buildings/*.json` → `buildings/<id>.json`.
pub fn buildings(dir: &Path, shared: &Shared, plan: &mut Plan) {
    for path in json_files(&dir.join("buildings"), plan) {
        let Some(seed) = read_object(&path, plan) else {
            continue;
        };
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        let id = text(seed.get("building_id")).unwrap_or_else(|| stem.to_string());
        let connection = seed.get("connection").cloned().unwrap_or(Value::Null);
        let system = text(connection.get("system"));
        if system.as_deref() != Some("arrigo") {
            plan.problem(
                &path,
                format!("connection.system is {system:?}: hemflux reads Arrigo buildings only"),
            );
            continue;
        }
        let Some(host) = text(connection.get("host")) else {
            plan.problem(
                &path,
                "connection.host is missing: the Arrigo server is not known",
            );
            continue;
        };
        let mut arrigo = json!({"base_url": format!("https://{host}/arrigo/api")});
        // The seed logs in there with these credentials: hemflux sends them there only.
        plan.env
            .insert(format!("BUILDING_{id}_URL"), format!("https://{host}"));
        let mut building = json!({"id": id});
        let mut signals = Vec::new();
        for (key, value) in &seed {
            match key.as_str() {
                "building_id" | "connection" => {}
                "friendly_name" => building["name"] = value.clone(),
                "energy_data_start_date" => building["energy_data_start_date"] = value.clone(),
                "meter_ids" if !string_list(Some(value)).is_empty() => {
                    building["meter_ids"] = value.clone()
                }
                "meter_ids" => {}
                "poll_interval_minutes" => match value.as_u64() {
                    Some(m) if m > 0 => arrigo["poll_interval_secs"] = json!(m * 60),
                    _ => plan.problem(&path, format!("poll_interval_minutes {value} is not a positive number of minutes")),
                },
                "analog_signals" => {
                    if let Some(analog) = value.as_object() {
                        signals = self::signals(analog);
                    }
                }
                "digital_signals" => {
                    let all = value.as_object().map_or(0, Map::len);
                    let fetched = value
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter(|(_, s)| s["fetch"] == true)
                        .count();
                    if all > 0 {
                        plan.dropped(&path, format!("digital_signals: {all} ({fetched} fetched): hemflux polls analog signals only, for now"));
                    }
                }
                "energy_separation" => {}
                "schema_version" => plan.dropped(&path, SCHEMA_VERSION),
                "discovered_at" | "sub_areas" | "building_type" => plan.dropped(
                    &path,
                    format!("{key}: discovery notes, not settings (hemflux add-building finds them again)"),
                ),
                "alarm_monitoring" => plan.dropped(&path, "alarm_monitoring: not a setting in hemflux"),
                k => plan.dropped(&path, format!("{k}: not a hemflux building setting")),
            }
        }
        if let Some(account) = text(connection.get("account")) {
            plan.dropped(&path, format!("connection.account {account:?}: hemflux logs in with BUILDING_{id}_USERNAME/PASSWORD alone"));
        }
        building["arrigo"] = arrigo;
        let fetched = signals.iter().filter(|s| s["fetch"] == true).count();
        building["signals"] = Value::Array(signals);
        if let Some(location) = &shared.location {
            building["location"] = location.clone();
        }
        let to = PathBuf::from("buildings").join(format!("{id}.json"));
        plan.mapped(
            &path,
            format!(
                "building {id} (Arrigo at {host}, {fetched} signals fetched) -> {}",
                to.display()
            ),
        );
        if let Some(state) = starting_state("building", &id, &path, &seed, &["energy_separation"]) {
            plan.mapped(
                &path,
                format!(
                    "energy_separation -> the analytics' starting state (worker state {})",
                    analytics_state_id(&id)
                ),
            );
            plan.states.insert(analytics_state_id(&id), state);
        }
        credentials(&path, "BUILDING", &id, shared, plan);
        plan.json_file(to, &building);
    }
}

/// `variables_config.json`: the variables hemflux does not read by itself become every house's
/// `variable_overrides`.
pub fn variables(dir: &Path, plan: &mut Plan) -> BTreeMap<String, String> {
    let path = dir.join("variables_config.json");
    let mut extra = BTreeMap::new();
    if !path.exists() {
        return extra;
    }
    let Some(seed) = read_object(&path, plan) else {
        return extra;
    };
    let mut built_in = 0;
    for v in seed
        .get("variables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match (text(v.get("api_name")), text(v.get("field_name"))) {
            (Some(_), Some(field)) if schema::has_field("heating_system", &field) => built_in += 1,
            (Some(api), Some(field)) => {
                extra.insert(api, field);
            }
            _ => plan.problem(
                &path,
                format!("a variable without api_name or field_name: {v}"),
            ),
        }
    }
    plan.mapped(&path, format!("{built_in} variables are hemflux's built-in mapping; {} more become every house's homeside.variable_overrides", extra.len()));
    extra
}

/// `settings.json`: weather settings into `hemflux.toml`, the poll interval into each house.
pub fn settings(dir: &Path, plan: &mut Plan) -> Option<u64> {
    let path = dir.join("settings.json");
    if !path.exists() {
        return None;
    }
    let seed = read_object(&path, plan)?;
    let mut poll = None;
    let mut weather = Vec::new();
    for (section, values) in &seed {
        for (key, value) in values.as_object().into_iter().flatten() {
            let at = format!("{section}.{key}");
            let minutes = value.as_u64().map(|m| m * 60);
            match (at.as_str(), minutes) {
                ("data_collection.heating_data_interval_minutes", Some(s)) => {
                    poll = Some(s);
                    plan.mapped(&path, format!("{at} -> each house's homeside.poll_interval_secs = {s}"));
                }
                ("weather.forecast_interval_minutes", Some(s)) => weather.push(format!("forecast_interval_secs = {s}")),
                ("weather.forecast_hours", _) if value.is_u64() => weather.push(format!("forecast_hours = {value}")),
                ("weather.observation_enabled", _) if value.is_boolean() => weather.push(format!("observations = {value}")),
                ("weather.nearest_station_cache_hours", _) if value.is_u64() => weather.push(format!("station_cache_hours = {value}")),
                ("data_collection.weather_forecast_interval_minutes", _) => plan.dropped(&path, format!("{at}: the same as weather.forecast_interval_minutes")),
                _ if matches!(section.as_str(), "heating" | "calibration" | "daily_tasks") => {}
                _ => plan.dropped(&path, format!("{at}: no such setting in hemflux (its sinks retry by themselves; failures show in hemflux status)")),
            }
        }
    }
    if !weather.is_empty() {
        plan.mapped(
            &path,
            format!("weather -> hemflux.toml [weather] {}", weather.join(", ")),
        );
        plan.toml
            .push(format!("[weather]\n{}\n", weather.join("\n")));
    }
    let analytics: Map<String, Value> = ["heating", "calibration", "daily_tasks"]
        .iter()
        .filter_map(|k| seed.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    if !analytics.is_empty() {
        let keys: Vec<&String> = analytics.keys().collect();
        plan.mapped(
            &path,
            format!("{keys:?} -> the analytics' starting state (worker state analytics:settings)"),
        );
        plan.states.insert(
            "analytics:settings".into(),
            json!({"migrated_from": path.display().to_string(), "seed": analytics}),
        );
    }
    poll
}

/// `offboarded.json`: soft removals whose data is still to be purged.
pub fn offboarded(dir: &Path, plan: &mut Plan) {
    let path = dir.join("offboarded.json");
    if !path.exists() {
        return;
    }
    let Some(seed) = read_object(&path, plan) else {
        return;
    };
    for entry in seed
        .get("pending_purge")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(id), kind, Some(after)) = (
            text(entry.get("id")),
            text(entry.get("type")).unwrap_or_else(|| "house".into()),
            text(entry.get("purge_after")),
        ) else {
            plan.problem(
                &path,
                format!("pending_purge entry without id or purge_after: {entry}"),
            );
            continue;
        };
        if kind != "house" && kind != "building" {
            plan.problem(
                &path,
                format!("{id}: type {kind:?} is neither house nor building"),
            );
            continue;
        }
        match after.parse::<jiff::Timestamp>() {
            Ok(at) => plan.pending_purges.push((kind, id, at)),
            Err(e) => plan.problem(&path, format!("{id}: purge_after {after:?}: {e}")),
        }
    }
    let purged = seed
        .get("purged")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if purged > 0 {
        plan.dropped(
            &path,
            format!("purged: {purged} entities already purged by the seed (history only)"),
        );
    }
}
