//! The `influxdb` source against a real `influxd` holding Home Assistant-shaped readings
//! (measurement = the unit, tags `entity_id` and `domain`, field `value`): paged by time,
//! filtered by entity, checkpointed, halving its pages when the server cuts an answer short,
//! and run by `hemflux run` from `[[influxdb_sources]]` with credentials bound to the server.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use hemflux_e2e::servers::Influxd;
use hemflux_e2e::{wait_for, Orchestrator, WorkerProcess};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);
const DB: &str = "homeassistant";
const HOUR_NS: i64 = 3_600_000_000_000;
/// 2024-01-01T00:00:00Z.
const START_NS: i64 = 1_704_067_200_000_000_000;
const EL_HOURS: i64 = 480;
const GAS_DAYS: i64 = 20;

/// 480 hourly electricity readings, 20 daily gas readings, and two series that must not be
/// read: another entity of the same unit, and a unit not asked for.
fn fill(influx: &Influxd) {
    let mut lines = String::new();
    for h in 0..EL_HOURS {
        let t = START_NS + h * HOUR_NS;
        lines += &format!(
            "kWh,domain=sensor,entity_id=electricity_meter value={} {t}\n",
            1000.0 + h as f64 * 0.5
        );
        lines += &format!("kWh,domain=sensor,entity_id=other value=1 {t}\n");
        lines += &format!("°C,domain=sensor,entity_id=outdoor value=3.5 {t}\n");
    }
    for d in 0..GAS_DAYS {
        let t = START_NS + d * 24 * HOUR_NS;
        lines += &format!(
            "m³,domain=sensor,entity_id=gas_meter value={} {t}\n",
            500.0 + d as f64 * 2.25
        );
    }
    influx.write(DB, &lines);
}

fn source(url: &str, page_hours: u32) -> Value {
    json!({"source": {
        "name": "hass", "url": url, "database": DB, "measurements": ["kWh", "m³"],
        "entities": ["electricity_meter", "gas_meter"], "page_hours": page_hours,
        "overlap_secs": 60, "poll_interval_secs": 3600, "credential_ref": "HASS"
    }})
}

fn start(config: Value, secrets: Value, state: Value) -> WorkerProcess {
    let mut w = WorkerProcess::spawn("influxdb", "influxdb:hass", Stdio::inherit(), &[]);
    w.send(
        json!({"type": "init", "version": 1, "id": "influxdb:hass", "kind": "influxdb",
        "config": config, "secrets": secrets, "state": state, "heartbeat_ms": 1000}),
    );
    assert_eq!(w.next_of("ready", WAIT)["version"], 1);
    w
}

/// Acknowledges every batch until the worker reports its poll done (a status) or an error:
/// the points, the checkpoints in order, the batches that held points, and that report.
fn one_poll(w: &mut WorkerProcess) -> (Vec<Value>, Vec<String>, usize, Value) {
    let (mut points, mut untils, mut batches) = (Vec::new(), Vec::new(), 0);
    loop {
        let msg = w
            .messages
            .recv_timeout(WAIT)
            .expect("the worker finishes its poll");
        match msg["type"].as_str() {
            Some("points") => {
                let batch = msg["points"].as_array().unwrap();
                batches += usize::from(!batch.is_empty());
                points.extend(batch.iter().cloned());
                if let Some(until) = msg["state"]["until"].as_str() {
                    untils.push(until.to_string());
                }
                w.send(json!({"type": "ack", "seq": msg["seq"]}));
            }
            Some("status") | Some("error") => return (points, untils, batches, msg),
            _ => {}
        }
    }
}

fn secrets() -> Value {
    json!({"username": "hass", "password": "hass-secret"})
}

#[test]
fn home_assistant_readings_are_read_page_by_page_and_resume_from_the_checkpoint() {
    let Some(influx) = Influxd::start_with_auth(DB, "hass", "hass-secret") else {
        return;
    };
    fill(&influx);
    let mut w = start(source(&influx.url(), 72), secrets(), Value::Null);
    let (points, untils, batches, report) = one_poll(&mut w);
    assert_eq!(report["type"], "status", "{report}");
    assert_eq!(points.len() as i64, EL_HOURS + GAS_DAYS, "{report}");
    let el: Vec<_> = points
        .iter()
        .filter(|p| p["measurement"] == "kWh")
        .collect();
    assert_eq!(el.len() as i64, EL_HOURS);
    assert!(el
        .iter()
        .all(|p| p["tags"] == json!({"entity_id": "electricity_meter", "domain": "sensor"})));
    let last = el.iter().max_by_key(|p| p["time"].as_i64()).unwrap();
    assert_eq!(last["time"], START_NS + (EL_HOURS - 1) * HOUR_NS);
    assert_eq!(
        last["fields"]["value"],
        1000.0 + (EL_HOURS - 1) as f64 * 0.5
    );
    let gas: Vec<_> = points.iter().filter(|p| p["measurement"] == "m³").collect();
    assert_eq!(gas.len() as i64, GAS_DAYS);
    assert_eq!(gas[1]["fields"]["value"], 502.25);
    // 480 hours in pages of 72: the history came in several pages, each with its checkpoint.
    assert!(batches >= 7, "{batches} batches");
    let sorted: Vec<_> = {
        let mut s = untils.clone();
        s.sort_by_key(|u| u.parse::<jiff::Timestamp>().unwrap());
        s
    };
    assert_eq!(untils, sorted, "the checkpoint only moves forward");
    let until: jiff::Timestamp = untils.last().unwrap().parse().unwrap();
    let behind = jiff::Timestamp::now().duration_since(until);
    assert!(behind.as_secs() < 30, "read up to now: {until}");
    drop(w);

    // Restarted with its checkpoint: only what is new (and the 60 s overlap) is read again.
    let now_ns = jiff::Timestamp::now().as_nanosecond() as i64;
    influx.write(
        DB,
        &format!(
            "kWh,domain=sensor,entity_id=electricity_meter value=1300 {}\nkWh,domain=sensor,entity_id=other value=9 {}\n",
            now_ns, now_ns
        ),
    );
    let mut w = start(
        source(&influx.url(), 72),
        secrets(),
        json!({"until": until.to_string()}),
    );
    let (points, _, _, report) = one_poll(&mut w);
    assert_eq!(report["type"], "status", "{report}");
    assert_eq!(points.len(), 1, "{points:?}");
    assert_eq!(points[0]["fields"]["value"], 1300.0);

    // `hemflux sync` reads a range again without moving the checkpoint.
    w.send(json!({"type": "sync", "id": 7, "from": "2024-01-01T00:00:00Z", "to": "2024-01-02T00:00:00Z"}));
    let mut synced = 0;
    let reply = loop {
        let msg = w.messages.recv_timeout(WAIT).expect("a reply to sync");
        match msg["type"].as_str() {
            Some("points") => {
                assert!(msg["state"].is_null(), "a sync moves no checkpoint: {msg}");
                synced += msg["points"].as_array().unwrap().len();
                w.send(json!({"type": "ack", "seq": msg["seq"]}));
            }
            Some("reply") => break msg,
            _ => {}
        }
    };
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(
        synced,
        24 + 1,
        "24 hours of electricity and one gas reading"
    );
}

#[test]
fn a_server_that_cuts_answers_short_gets_smaller_pages_and_nothing_is_lost() {
    let Some(influx) = Influxd::start_with_row_limit(DB, "hass", "hass-secret", 50) else {
        return;
    };
    fill(&influx);
    let cut = influx.query_db(DB, "SELECT value FROM \"kWh\" WHERE entity_id = 'other'");
    let series = &cut["results"][0]["series"][0];
    assert_eq!(series["values"].as_array().unwrap().len(), 50, "{cut}");
    assert_eq!(
        series["partial"], true,
        "the server marks a cut answer: {cut}"
    );
    // Pages of 30 days would be 720 rows; the server answers at most 50.
    let mut w = start(source(&influx.url(), 720), secrets(), Value::Null);
    let (points, _, _, report) = one_poll(&mut w);
    assert_eq!(report["type"], "status", "{report}");
    let distinct: BTreeSet<_> = points
        .iter()
        .map(|p| (p["measurement"].to_string(), p["time"].as_i64().unwrap()))
        .collect();
    assert_eq!(points.len() as i64, EL_HOURS + GAS_DAYS);
    assert_eq!(distinct.len(), points.len(), "no point twice");
}

#[test]
fn a_wrong_password_is_reported_as_such() {
    let Some(influx) = Influxd::start_with_auth(DB, "hass", "hass-secret") else {
        return;
    };
    let mut w = start(
        source(&influx.url(), 72),
        json!({"username": "hass", "password": "wrong"}),
        Value::Null,
    );
    let (_, _, _, report) = one_poll(&mut w);
    assert_eq!(report["type"], "error", "{report}");
    let message = report["message"].as_str().unwrap();
    assert!(message.contains("refused the credentials"), "{message}");
    assert!(
        !message.contains("wrong"),
        "no password in messages: {message}"
    );
}

#[test]
fn hemflux_run_reads_the_configured_source_into_the_store_once_the_server_is_verified() {
    let Some(influx) = Influxd::start_with_auth(DB, "hass", "hass-secret") else {
        return;
    };
    fill(&influx);
    let toml = format!(
        "[[influxdb_sources]]\nname = \"hass\"\nurl = \"{}\"\ndatabase = \"{DB}\"\nmeasurements = [\"kWh\", \"m³\"]\ncredential_ref = \"HASS\"\n",
        influx.url()
    );
    let o = Orchestrator::new(&toml);
    // The server is not yet the one the credentials are for: refused, naming the key.
    std::fs::write(
        o.path(".env"),
        "HASS_USERNAME=hass\nHASS_PASSWORD=hass-secret\n",
    )
    .unwrap();
    let o = o.start();
    let errors = wait_for(WAIT, "the unbound credentials to be refused", || {
        let errors = o.get("/api/errors").ok()?;
        errors.contains("influxdb_sources[0].url").then_some(errors)
    });
    assert!(
        errors.contains("hemflux.toml") && errors.contains("HASS_URL"),
        "{errors}"
    );
    assert!(o.worker("influxdb:hass").is_none());

    std::fs::write(
        o.path(".env"),
        format!(
            "HASS_USERNAME=hass\nHASS_PASSWORD=hass-secret\nHASS_URL={}\n",
            influx.url()
        ),
    )
    .unwrap();
    o.wait_state("influxdb:hass", "running", WAIT);
    let stored = wait_for(WAIT, "the readings in the store", || {
        let points = o.query("kWh", &[]);
        (points.len() as i64 == 2 * EL_HOURS).then_some(points)
    });
    let el = stored
        .iter()
        .filter(|p| p["tags"]["entity_id"] == "electricity_meter")
        .count();
    assert_eq!(el as i64, EL_HOURS);
    assert_eq!(o.query("m³", &[]).len() as i64, GAS_DAYS);
    assert!(o.query("°C", &[]).is_empty(), "a unit not asked for");
}
