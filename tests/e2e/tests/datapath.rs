//! The data path end to end: a synthetic worker under the real `hemflux run`, forwarding to a
//! real InfluxDB 1.x (`/write`) and a real VictoriaMetrics (`/api/v2/write`); `kill -9` of the
//! orchestrator mid-stream loses nothing that was acknowledged.

use std::collections::BTreeSet;
use std::time::Duration;

use hemflux_e2e::servers::{Influxd, VictoriaMetrics};
use hemflux_e2e::{wait_for, Orchestrator};
use serde_json::Value;

const T: Duration = Duration::from_secs(60);

fn sinks_toml(influxd: &Influxd, vm: &VictoriaMetrics) -> String {
    format!(
        r#"
[[sinks]]
type = "influxdb_v1"
name = "influx1"
url = "{}"
db = "energy"
flush_interval_ms = 100

[[sinks]]
type = "influxdb_v2"
name = "vm"
url = "{}"
org = "hemflux"
bucket = "energy"
token = "unused-by-victoria"
flush_interval_ms = 100
"#,
        influxd.url(),
        vm.url()
    )
}

/// The `n` field of every stored synthetic point.
fn stored_ns(o: &Orchestrator) -> Vec<i64> {
    o.query("synthetic", &[])
        .iter()
        .map(|p| p["fields"]["n"].as_i64().expect("n is an integer"))
        .collect()
}

/// The stored points once a stopped worker's last batches are committed: the orchestrator
/// stores what it accepted even after the worker is gone, within the store's commit window.
fn stored_ns_settled(o: &Orchestrator) -> Vec<i64> {
    let mut last = stored_ns(o);
    wait_for(T, "the store to settle", || {
        std::thread::sleep(Duration::from_millis(300));
        let now = stored_ns(o);
        let settled = now.len() == last.len();
        last = now;
        settled.then_some(())
    });
    last
}

fn sinks(o: &Orchestrator) -> Vec<Value> {
    o.get("/api/sinks")
        .ok()
        .and_then(|body| serde_json::from_str::<Vec<Value>>(&body).ok())
        .unwrap_or_default()
}

#[test]
fn synthetic_points_reach_both_servers_and_a_kill9_loses_nothing_acknowledged() {
    let (Some(influxd), Some(vm)) = (Influxd::start("energy"), VictoriaMetrics::start()) else {
        return;
    };
    let mut o = Orchestrator::new(&sinks_toml(&influxd, &vm)).start();
    // One point per batch, 20 ms apart: distinct milliseconds, as VictoriaMetrics keeps ms.
    o.write_profile(
        "villa.json",
        r#"{"synthetic": {"interval_ms": 20, "points_per_batch": 1, "series": 3}}"#,
    );
    wait_for(T, "100 stored points", || {
        (stored_ns(&o).len() >= 100).then_some(())
    });

    o.kill9();
    let acknowledged = stored_ns(&o);
    o.restart();
    wait_for(T, "the worker to go on after the restart", || {
        (stored_ns(&o).len() >= acknowledged.len() + 100).then_some(())
    });
    std::fs::remove_file(o.path("profiles/villa.json")).unwrap();
    o.wait_gone("synthetic:villa", T);

    // Nothing acknowledged before the kill is lost, the worker resumed from its durable state
    // (no gap, no second copy), and the store holds each n once.
    let after = stored_ns_settled(&o);
    let set: BTreeSet<i64> = after.iter().copied().collect();
    assert_eq!(set.len(), after.len(), "a point is stored twice");
    assert!(
        acknowledged.iter().all(|n| set.contains(n)),
        "an acknowledged point was lost"
    );
    let max = *set.last().unwrap();
    assert_eq!(set, (0..=max).collect(), "the sequence has a gap");
    let total = after.len() as u64;

    wait_for(T, "both sinks to catch up", || {
        let s = sinks(&o);
        (s.len() == 2 && s.iter().all(|s| s["points_behind"] == 0)).then_some(())
    });
    wait_for(T, "every point in influxd", || {
        (influxd.count("energy", "synthetic", "value") == total).then_some(())
    });
    wait_for(T, "every point in VictoriaMetrics", || {
        (vm.count(r#"{__name__="synthetic_value"}"#) == total).then_some(())
    });
    // Tags as written: the house and the series.
    let rows = influxd.rows("energy", r#""value", "house_id", "series""#, "synthetic");
    assert!(rows.iter().all(|r| r[2] == "villa"));
    assert_eq!(
        rows.iter()
            .map(|r| r[3].as_str().unwrap())
            .collect::<BTreeSet<_>>(),
        ["0", "1", "2"].into()
    );
}

#[test]
fn a_sink_that_is_down_catches_up_when_it_returns() {
    let (Some(mut influxd), Some(vm)) = (Influxd::start("energy"), VictoriaMetrics::start()) else {
        return;
    };
    let o = Orchestrator::new(&sinks_toml(&influxd, &vm)).start();
    influxd.stop();
    o.write_profile(
        "villa.json",
        r#"{"synthetic": {"interval_ms": 20, "points_per_batch": 1}}"#,
    );
    wait_for(T, "influx1 to fall behind with an error", || {
        let s = sinks(&o);
        let influx = s.iter().find(|s| s["name"] == "influx1")?;
        (influx["points_behind"].as_u64()? > 20 && influx["last_error"].is_string()).then_some(())
    });
    influxd.start_again();
    std::fs::remove_file(o.path("profiles/villa.json")).unwrap();
    o.wait_gone("synthetic:villa", T);
    let total = stored_ns_settled(&o).len() as u64;
    wait_for(T, "influxd to hold every point", || {
        (influxd.count("energy", "synthetic", "value") == total).then_some(())
    });
    wait_for(T, "VictoriaMetrics to hold every point", || {
        (vm.count(r#"{__name__="synthetic_value"}"#) == total).then_some(())
    });
}

#[test]
fn the_influxdb_variables_in_env_configure_a_sink() {
    let Some(vm) = VictoriaMetrics::start() else {
        return;
    };
    let o = Orchestrator::new("");
    std::fs::write(
        o.path(".env"),
        format!(
            "INFLUXDB_URL={}\nINFLUXDB_TOKEN=t0ken\nINFLUXDB_ORG=hemflux\nINFLUXDB_BUCKET=energy\n",
            vm.url()
        ),
    )
    .unwrap();
    let o = o.start();
    o.write_profile("env.json", r#"{"synthetic": {"interval_ms": 50}}"#);
    let sink = wait_for(T, "the .env sink in /api/sinks", || {
        sinks(&o).into_iter().find(|s| s["name"] == "influxdb-env")
    });
    assert_eq!(sink["kind"], "influxdb_v2");
    wait_for(T, "points in VictoriaMetrics", || {
        (vm.count(r#"{__name__=~"synthetic_.*"}"#) >= 10).then_some(())
    });
    assert!(!o.log().contains("t0ken"), "the token reached the log");
}
