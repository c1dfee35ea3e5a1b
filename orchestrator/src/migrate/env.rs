//! The seeds' `.env` files: BVPro's (credentials, InfluxDB, Dropbox, Seq, position), the HEMS
//! B-route collector's (seed 003) and the WattiVahti sync's (seed 001). Each key is carried
//! over, turned into a config file, or reported as dropped with the reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::plan::Plan;

/// The house id a migrated B-route collector or WattiVahti sync gets.
pub const BROUTE_HOUSE: &str = "home";

/// `DIR/.env` as written; an empty map when there is none.
pub fn read(dir: &Path, plan: &mut Plan) -> BTreeMap<String, String> {
    let path = dir.join(".env");
    let mut values = BTreeMap::new();
    match dotenvy::from_path_iter(&path) {
        Ok(iter) => {
            for (n, item) in iter.enumerate() {
                match item {
                    Ok((k, v)) => {
                        values.insert(k, v);
                    }
                    Err(e) => plan.problem(&path, format!("entry {}: {e}", n + 1)),
                }
            }
        }
        Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => plan.problem(&path, e.to_string()),
    }
    values
}

/// `LATITUDE` / `LONGITUDE`, the seed's one position for all houses, as a hemflux `location`.
pub fn location(env: &BTreeMap<String, String>, from: &Path, plan: &mut Plan) -> Option<Value> {
    let lat = env.get("LATITUDE")?.parse::<f64>();
    let lon = env.get("LONGITUDE")?.parse::<f64>();
    match (lat, lon) {
        (Ok(lat), Ok(lon)) => {
            plan.mapped(from, format!("LATITUDE, LONGITUDE -> every house's and building's location ({lat}, {lon}) for weather"));
            Some(json!({"lat": lat, "lon": lon}))
        }
        _ => {
            plan.problem(from, "LATITUDE or LONGITUDE is not a number");
            None
        }
    }
}

fn copy(plan: &mut Plan, from: &Path, key: &str, value: &str, why: &str) {
    plan.env.insert(key.to_string(), value.to_string());
    plan.mapped(from, format!("{key} -> hemflux's .env ({why})"));
}

/// Every key of one `.env`: carried over, made into config, or dropped with the reason.
pub fn keys(dir: &Path, env: &BTreeMap<String, String>, plan: &mut Plan) {
    let from = dir.join(".env");
    let influx_off = env.get("INFLUXDB_ENABLED").is_some_and(|v| v == "false");
    if env.contains_key("B_ROUTE_ID") {
        broute(&from, env, plan);
    }
    if env.contains_key("WATTIVAHTI_METERING_POINT") {
        wattivahti(dir, &from, env, plan);
    }
    for (key, value) in env {
        let k = key.as_str();
        let credential = (k.starts_with("HOUSE_") || k.starts_with("BUILDING_"))
            && (k.ends_with("_USERNAME") || k.ends_with("_PASSWORD"));
        match k {
            _ if credential => copy(plan, &from, k, value, "the worker's login, same name"),
            _ if k.starts_with("HOUSE_") && k.ends_with("_METER_IDS") => {
                plan.mapped(&from, format!("{k} -> that house's meter_ids"))
            }
            "INFLUXDB_URL" | "INFLUXDB_TOKEN" | "INFLUXDB_ORG" | "INFLUXDB_BUCKET" if influx_off => {
                plan.dropped(&from, format!("{k}: INFLUXDB_ENABLED=false"))
            }
            "INFLUXDB_URL" | "INFLUXDB_TOKEN" | "INFLUXDB_ORG" | "INFLUXDB_BUCKET" => {
                if let Some(other) = plan.env.get(k).filter(|o| *o != value) {
                    plan.dropped(&from, format!("{k}={value:?}: another seed's .env already gives {other:?}; add a [[sinks]] entry to hemflux.toml for this one"));
                } else {
                    copy(plan, &from, k, value, "the InfluxDB sink `influxdb-env`");
                }
            }
            "INFLUXDB_ENABLED" => plan.dropped(&from, format!("{k}: hemflux forwards to InfluxDB whenever INFLUXDB_URL is set")),
            "INFLUXDB_ADMIN_PASSWORD" => plan.dropped(&from, format!("{k}: for the seed's InfluxDB container setup, not a client setting")),
            "DROPBOX_APP_KEY" | "DROPBOX_APP_SECRET" | "DROPBOX_REFRESH_TOKEN" | "SEQ_URL" | "SEQ_API_KEY"
                if value.is_empty() => plan.dropped(&from, format!("{k}: empty")),
            "DROPBOX_APP_KEY" | "DROPBOX_APP_SECRET" | "DROPBOX_REFRESH_TOKEN" => {
                copy(plan, &from, k, value, "the district-heating file exchange")
            }
            "SEQ_URL" | "SEQ_API_KEY" => copy(plan, &from, k, value, "logs shipped to Seq"),
            "LATITUDE" | "LONGITUDE" | "POLL_INTERVAL_MINUTES" => {}
            "LOG_LEVEL" | "DEBUG_MODE" => plan.dropped(&from, format!("{k}: set RUST_LOG (info, debug) in hemflux's environment instead")),
            "CONTAINER_PREFIX" | "DOCKER_NETWORK" => plan.dropped(&from, format!("{k}: hemflux runs as one process tree; see deploy/ for its container")),
            "B_ROUTE_ID" | "B_ROUTE_PASSWORD" | "SERIAL_PORT" | "SERIAL_RATE" | "LOCAL_TIMEZONE" | "WEBHOOK_URL"
            | "WATTIVAHTI_METERING_POINT" | "REFRESH_TOKEN_FILE" | "INITIAL_SYNC_DAYS" | "SYNC_BUFFER_HOURS" => {}
            "FILE_FORMAT" => plan.todo.push(format!("{}: FILE_FORMAT={value}: if the collector wrote to a file, add a `type = \"file\"` sink with format = \"{value}\" (docs/serial.md)", from.display())),
            "GCP_PROJECT_ID" | "GCP_TOPIC_NAME" => plan.dropped(&from, format!("{k}: Google Pub/Sub is not offered (no faithful local simulator to test it against)")),
            _ => plan.dropped(&from, format!("{k}: not read by hemflux")),
        }
    }
}

/// Seed 003: one B-route smart meter → `profiles/home.json` with its serial device.
fn broute(from: &Path, env: &BTreeMap<String, String>, plan: &mut Plan) {
    let mut device = json!({
        "name": "broute",
        "port": env.get("SERIAL_PORT").map_or("/dev/ttyUSB0", String::as_str),
    });
    if let Some(rate) = env.get("SERIAL_RATE") {
        match rate.parse::<u32>() {
            Ok(baud) => device["baud"] = json!(baud),
            Err(_) => plan.problem(from, format!("SERIAL_RATE {rate:?} is not a baud rate")),
        }
    }
    if let Some(tz) = env.get("LOCAL_TIMEZONE") {
        device["timezone"] = json!(tz);
    }
    let prefix = format!("BROUTE_{BROUTE_HOUSE}_broute");
    for (seed, suffix) in [("B_ROUTE_ID", "ID"), ("B_ROUTE_PASSWORD", "PASSWORD")] {
        match env.get(seed) {
            Some(v) => copy(
                plan,
                from,
                &format!("{prefix}_{suffix}"),
                v,
                &format!("from {seed}"),
            ),
            None => plan.problem(from, format!("{seed} is missing")),
        }
    }
    let to = PathBuf::from("profiles").join(format!("{BROUTE_HOUSE}.json"));
    plan.mapped(
        from,
        format!(
            "SERIAL_PORT, SERIAL_RATE, LOCAL_TIMEZONE -> {} serial device broute",
            to.display()
        ),
    );
    plan.json_file(to, &json!({"id": BROUTE_HOUSE, "serial": [device]}));
    if let Some(url) = env.get("WEBHOOK_URL").filter(|u| !u.is_empty()) {
        plan.mapped(
            from,
            "WEBHOOK_URL -> hemflux.toml [[sinks]] type = \"webhook\"",
        );
        plan.toml.push(format!(
            "[[sinks]]\ntype = \"webhook\"\nname = \"hems-webhook\"\nurl = {}\nmeasurements = [\"smart_meter\"]\n",
            toml_string(url)
        ));
    }
}

/// Seed 001: one WattiVahti metering point → `profiles/wattivahti_<point>.json`, its refresh
/// token where the meter worker picks it up.
fn wattivahti(dir: &Path, from: &Path, env: &BTreeMap<String, String>, plan: &mut Plan) {
    let point = &env["WATTIVAHTI_METERING_POINT"];
    let id = format!("wattivahti_{point}");
    let mut source = json!({"type": "wattivahti", "metering_point": point});
    for (key, field) in [
        ("INITIAL_SYNC_DAYS", "initial_sync_days"),
        ("SYNC_BUFFER_HOURS", "sync_buffer_hours"),
    ] {
        if let Some(v) = env.get(key) {
            match v.parse::<u32>() {
                Ok(n) => source[field] = json!(n),
                Err(_) => plan.problem(from, format!("{key} {v:?} is not a whole number")),
            }
        }
    }
    let to = PathBuf::from("profiles").join(format!("{id}.json"));
    plan.mapped(from, format!("WATTIVAHTI_METERING_POINT, INITIAL_SYNC_DAYS, SYNC_BUFFER_HOURS -> {} meter electricity", to.display()));
    plan.json_file(
        to,
        &json!({"id": id, "meters": [{"name": "electricity", "source": source}]}),
    );
    let token_file = dir.join(
        env.get("REFRESH_TOKEN_FILE")
            .map_or("refresh_token.txt", String::as_str),
    );
    match std::fs::read_to_string(&token_file) {
        Ok(token) if !token.trim().is_empty() => {
            let to = PathBuf::from(format!("tokens/wattivahti_{point}.txt"));
            plan.mapped(
                &token_file,
                format!("-> {} (the meter worker takes it from there)", to.display()),
            );
            plan.files
                .insert(to, (token.trim().to_string() + "\n", 0o600));
            plan.todo.push(format!("{}: stop the seed's cron job before starting hemflux: WattiVahti rotates the refresh token, and only one of the two can hold it", from.display()));
        }
        _ => plan.todo.push(format!(
            "{}: no refresh token at {}; give it with `hemflux meter-token meter:{id}/electricity`",
            from.display(),
            token_file.display()
        )),
    }
    // The sync's own defaults, where its .env leaves them out.
    for (key, default) in [
        ("INFLUXDB_URL", "http://localhost:8086"),
        ("INFLUXDB_ORG", "wattivahti"),
        ("INFLUXDB_BUCKET", "electricity"),
    ] {
        if !env.contains_key(key) && !plan.env.contains_key(key) {
            copy(plan, from, key, default, "the WattiVahti sync's default");
        }
    }
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}
