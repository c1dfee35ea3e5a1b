//! Seed 004's Home Assistant schema for Tibber (`schema = "home_assistant"`): `kWh` rows whose
//! `value` is a cumulative register, continued from the history a migration brought and across
//! a killed and restarted worker. A running orchestrator with two meters of one home against
//! `hemflux-sim tibber`: the `hemflux` schema's hourly `electricity_consumption` is what the
//! register must add up.

use std::collections::BTreeMap;
use std::time::Duration;

use hemflux_e2e::{free_port, wait_for, Orchestrator, Sim};
use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};

const HOME: &str = "96a14971-525a-4420-aae9-e5aedaa129ff";
const ENTITY: &str = "haupt_strom";
const T: Duration = Duration::from_secs(30);
/// What the migrated history's last row says the register stood at.
const STORED: f64 = 5000.0;

fn sim(port: u16, null_recent_hours: u32) -> Sim {
    Sim::start(
        "tibber",
        &[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--null-recent-hours",
            &null_recent_hours.to_string(),
        ],
    )
}

fn by_time(points: Vec<Value>) -> BTreeMap<Timestamp, Value> {
    points
        .into_iter()
        .map(|p| (p["time"].as_str().unwrap().parse().unwrap(), p))
        .collect()
}

/// Every `kWh` row of the entity, checked against the hourly consumption after `since`: each
/// hour's register is the stored value plus every metered hour up to it, cost and price as
/// Tibber gave them. Returns the rows.
fn check_register(o: &Orchestrator, since: Timestamp) -> BTreeMap<Timestamp, Value> {
    let rows = by_time(o.query("kWh", &["--tag", &format!("entity_id={ENTITY}")]));
    let hours = by_time(o.query(
        "electricity_consumption",
        &["--tag", &format!("home_id={HOME}")],
    ));
    let mut total = STORED;
    let mut expected = 0;
    for (at, hour) in hours.range(since + SignedDuration::from_secs(1)..) {
        let Some(row) = rows.get(at) else { break };
        expected += 1;
        total += hour["fields"]["consumption_kwh"].as_f64().unwrap();
        let value = row["fields"]["value"].as_f64().unwrap();
        assert!((value - total).abs() < 1e-6, "at {at}: {value} vs {total}");
        assert_eq!(row["fields"]["cost"], hour["fields"]["cost"], "at {at}");
        assert_eq!(
            row["fields"]["unit_price"], hour["fields"]["unit_price"],
            "at {at}"
        );
        assert_eq!(
            row["tags"],
            json!({"entity_id": ENTITY, "domain": "input_number"}),
            "at {at}"
        );
    }
    // Plus the migrated row itself; nothing before it, no hour skipped after it.
    assert_eq!(
        rows.len(),
        expected + 1,
        "{:?}",
        rows.keys().collect::<Vec<_>>()
    );
    assert_eq!(rows.keys().next(), Some(&since));
    rows
}

fn kill_worker(o: &Orchestrator, id: &str) -> i64 {
    let pid = o.worker(id).unwrap()["pid"].as_i64().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::SIGKILL,
    )
    .unwrap();
    pid
}

/// How many rows of `measurement` the store has.
fn count(o: &Orchestrator, measurement: &str) -> usize {
    o.query(measurement, &[]).len()
}

#[test]
fn the_home_assistant_register_continues_the_migrated_value_and_survives_a_restart() {
    let port = free_port();
    let mut tibber = sim(port, 6);
    let o = Orchestrator::new("");

    // History a migration brought: the register's last row, 30 hours ago.
    let hour = Timestamp::from_second(Timestamp::now().as_second() / 3600 * 3600).unwrap();
    let since = hour - SignedDuration::from_hours(30);
    let line = format!(
        "kWh,entity_id={ENTITY},domain=input_number value={STORED} {}\n",
        since.as_nanosecond()
    );
    o.import_lines("history.lp", &line);

    std::fs::write(
        o.path(".env"),
        format!(
            "TIBBER_TOKEN=sim-tibber-token\nTIBBER_URL={}\n",
            tibber.address
        ),
    )
    .unwrap();
    let meter = |name: &str, extra: Value| {
        let mut source = json!({"type": "tibber", "home_id": HOME, "backfill_days": 3,
            "base_url": format!("{}/v1-beta/gql", tibber.address), "min_request_interval_ms": 50});
        for (k, v) in extra.as_object().unwrap() {
            source[k] = v.clone();
        }
        json!({"name": name, "source": source})
    };
    let profile = json!({"meters": [
        meter("tibber", json!({})),
        meter("ha", json!({"schema": "home_assistant", "entity_id": ENTITY})),
    ]});
    let o = o.start();
    o.write_profile("villa.json", &profile.to_string());
    let (ha, plain) = ("meter:villa/ha", "meter:villa/tibber");
    wait_for(T, "both meters polled", || {
        (count(&o, "kWh") > 1 && count(&o, "electricity_consumption") > 0).then_some(())
    });
    let first = check_register(&o, since);
    assert!(
        first.len() >= 20,
        "the 30 h since the stored row, less 6 unmetered: {}",
        first.len()
    );

    // Killed; meanwhile Tibber meters three of the six open hours. The restarted worker adds
    // exactly those on top of what it had, counting none twice and starting from no zero.
    let hours = count(&o, "electricity_consumption");
    let old = [kill_worker(&o, ha), kill_worker(&o, plain)];
    drop(tibber);
    tibber = sim(port, 3);
    wait_for(
        T,
        "both workers restarted, and the newly metered hours",
        || {
            let restarted = [ha, plain].iter().zip(old).all(|(id, pid)| {
                o.worker(id)
                    .is_some_and(|w| w["pid"].as_i64().is_some_and(|p| p != pid))
            });
            let grown = count(&o, "kWh") >= first.len() + 3
                && count(&o, "electricity_consumption") >= hours + 3;
            (restarted && grown).then_some(())
        },
    );
    let second = check_register(&o, since);
    for (at, row) in &first {
        assert_eq!(&second[at], row, "a counted hour is never rewritten");
    }
    let log = std::fs::read_to_string(o.log_path()).unwrap_or_default();
    assert!(!log.contains("sim-tibber-token"));
    drop(tibber);
}
