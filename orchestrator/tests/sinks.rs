//! Sinks against real servers: InfluxDB 1.x (`/write`) and VictoriaMetrics (`/api/v2/write`),
//! counted by querying the servers themselves.
//!
//! The tests are plain `#[test]`s with their own tokio runtime because the server helpers use a
//! blocking HTTP client, which must not run inside the runtime.

use std::time::Duration;

use hemflux::sinks::{
    self, BatchSettings, InfluxV1Config, InfluxV2Config, Kind, SinkConfig, SinkStatus, Sinks,
};
use hemflux::store::{Store, StoreConfig};
use hemflux_e2e::servers::{Influxd, VictoriaMetrics};
use hemflux_e2e::wait_for;
use hemflux_shared::Point;

const T0: i64 = 1_700_000_000_000_000_000;
const SEC: i64 = 1_000_000_000;
const WAIT: Duration = Duration::from_secs(60);
const VM_METER: &str = r#"{__name__="energy_meter_kwh"}"#;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A runtime and a store in a temporary folder.
fn rig() -> (tokio::runtime::Runtime, tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    (runtime(), dir, store)
}

/// Writes `n` meter points of each house as `writer` (kWh from the index), then starts the sinks.
fn start_after_writing(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    configs: &[SinkConfig],
    writer: &str,
    houses: &[&str],
    n: i64,
    kwh: impl Fn(i64) -> f64,
) -> Sinks {
    rt.block_on(async {
        for house in houses {
            let points = (0..n).map(|i| meter(house, i, kwh(i))).collect();
            store.write(writer, points, None).await.unwrap();
        }
        Sinks::start(store, configs).unwrap()
    })
}

/// Waits until influxd and VictoriaMetrics both hold `n` meter points.
fn wait_for_both(influxd: &Influxd, vm: &VictoriaMetrics, n: u64) {
    wait_for(WAIT, &format!("{n} points in influxd"), || {
        (influxd.count("energy", "energy_meter", "kwh") == n).then_some(())
    });
    wait_for(WAIT, &format!("{n} samples in VictoriaMetrics"), || {
        (vm.count(VM_METER) == n).then_some(())
    });
}

fn meter(house: &str, i: i64, kwh: f64) -> Point {
    Point::new("energy_meter", T0 + i * SEC)
        .tag("house_id", house)
        .tag("meter_id", "el")
        .field("kwh", kwh)
}

/// Batches of 1000 points, flushed after 50 ms.
const BATCH: BatchSettings = BatchSettings {
    batch_size: Some(1000),
    flush_interval_ms: Some(50),
    retry_max_ms: None,
};

fn v1(influxd: &Influxd, db: &str) -> SinkConfig {
    SinkConfig {
        name: Some("influx1".into()),
        batch: BATCH,
        kind: Kind::InfluxdbV1(InfluxV1Config {
            url: influxd.url(),
            db: db.into(),
            ..InfluxV1Config::default()
        }),
    }
}

fn v2(vm: &VictoriaMetrics) -> SinkConfig {
    SinkConfig {
        name: Some("vm".into()),
        batch: BATCH,
        kind: Kind::InfluxdbV2(InfluxV2Config {
            url: vm.url(),
            org: "hemflux".into(),
            bucket: "energy".into(),
            token: Some("unused-by-victoria".into()),
            ..InfluxV2Config::default()
        }),
    }
}

/// Waits until every sink's status satisfies `ok`.
fn wait_all(sinks: &Sinks, what: &str, ok: impl Fn(&SinkStatus) -> bool) {
    wait_for(WAIT, what, || sinks.status().iter().all(&ok).then_some(()));
}

fn status(sinks: &Sinks, name: &str) -> SinkStatus {
    sinks
        .status()
        .into_iter()
        .find(|s| s.name == name)
        .expect("sink status")
}

#[test]
fn points_arrive_in_both_servers_in_full() {
    let (Some(influxd), Some(vm)) = (Influxd::start("energy"), VictoriaMetrics::start()) else {
        return;
    };
    let (rt, _dir, store) = rig();
    let configs = [v1(&influxd, "energy"), v2(&vm)];
    let houses = ["a", "b", "c"];
    let sinks = start_after_writing(&rt, &store, &configs, "test", &houses, 5000, |i| {
        i as f64 * 0.5
    });
    wait_for_both(&influxd, &vm, 15_000);
    // Values and tags arrive as written.
    let rows = influxd.rows("energy", "kwh, house_id", "energy_meter");
    assert_eq!(rows.len(), 15_000);
    assert!(rows.iter().any(|r| r[1] == 2499.5 && r[2] == "c"));
    let series = vm.export(VM_METER);
    assert_eq!(series.len(), 3);
    assert_eq!(series[0]["metric"]["meter_id"], "el");

    wait_all(&sinks, "both sinks to report no lag", |s| {
        s.points_behind == 0 && s.cursor == 15_000
    });
    let s = status(&sinks, "vm");
    assert_eq!(
        (s.kind.as_str(), s.points_sent, s.points_rejected),
        ("influxdb_v2", 15_000, 0)
    );
    rt.block_on(sinks.shutdown());

    // The cursor is durable: a restart sends nothing again.
    let sinks = rt.block_on(async { Sinks::start(&store, &configs).unwrap() });
    wait_all(&sinks, "the restarted sinks to load their cursors", |s| {
        s.cursor == 15_000
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(sinks.status().iter().all(|s| s.points_sent == 0));
    rt.block_on(sinks.shutdown());
}

#[test]
fn a_server_down_under_steady_load_loses_nothing_and_duplicates_nothing() {
    let (Some(mut influxd), Some(mut vm)) = (Influxd::start("energy"), VictoriaMetrics::start())
    else {
        return;
    };
    let (rt, _dir, store) = rig();
    let configs = [v1(&influxd, "energy"), v2(&vm)];
    let sinks = rt.block_on(async { Sinks::start(&store, &configs).unwrap() });

    // Steady load: 100 points every 20 ms; every batch is also sent a second time (a worker
    // re-fetching after a crash), which must not make a second point anywhere.
    let load = {
        let store = store.clone();
        rt.spawn(async move {
            for batch in 0..200i64 {
                let points: Vec<Point> = (0..100)
                    .map(|i| meter("steady", batch * 100 + i, batch as f64))
                    .collect();
                store.write("load", points.clone(), None).await.unwrap();
                store.write("load", points, None).await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    std::thread::sleep(Duration::from_millis(800));
    influxd.stop();
    vm.stop();
    wait_all(&sinks, "the sinks to notice the servers are down", |s| {
        s.last_error.is_some() && s.points_behind > 0
    });
    std::thread::sleep(Duration::from_secs(2));
    let lagging = status(&sinks, "influx1");
    assert!(
        lagging.oldest_unsent_age_secs.unwrap_or(0.0) > 0.5,
        "{lagging:?}"
    );
    influxd.start_again();
    vm.start_again();
    rt.block_on(load).unwrap();

    wait_for(WAIT, "20000 points in influxd", || {
        (influxd.count("energy", "energy_meter", "kwh") == 20_000).then_some(())
    });
    wait_for(WAIT, "20000 samples in VictoriaMetrics", || {
        (vm.count(VM_METER) == 20_000).then_some(())
    });
    wait_all(&sinks, "the sinks to catch up", |s| s.points_behind == 0);
    // Settled: still exactly once each.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(influxd.count("energy", "energy_meter", "kwh"), 20_000);
    assert_eq!(vm.count(VM_METER), 20_000);
    rt.block_on(sinks.shutdown());
}

#[test]
fn a_poisoned_point_is_set_aside_while_the_rest_flows() {
    let Some(influxd) = Influxd::start("energy") else {
        return;
    };
    let (rt, _dir, store) = rig();
    let configs = [v1(&influxd, "energy")];
    let sinks = rt.block_on(async {
        store
            .write("w", (0..100).map(|i| meter("a", i, 1.0)).collect(), None)
            .await
            .unwrap();
        let sinks = Sinks::start(&store, &configs).unwrap();
        // `kwh` is a float in InfluxDB now; an integer `kwh` is a field type conflict (HTTP 400).
        let mut batch: Vec<Point> = (100..600).map(|i| meter("a", i, 1.0)).collect();
        batch[250] = Point::new("energy_meter", T0 + 350 * SEC)
            .tag("house_id", "a")
            .tag("meter_id", "el")
            .field("kwh", 7i64);
        store.write("w", batch, None).await.unwrap();
        store
            .write("w", (600..700).map(|i| meter("a", i, 1.0)).collect(), None)
            .await
            .unwrap();
        sinks
    });
    wait_for(WAIT, "699 good points in influxd", || {
        (influxd.count("energy", "energy_meter", "kwh") == 699).then_some(())
    });
    wait_for(WAIT, "the sink to catch up", || {
        let s = status(&sinks, "influx1");
        (s.points_behind == 0 && s.cursor == 700).then_some(s)
    });
    let s = status(&sinks, "influx1");
    assert_eq!((s.points_sent, s.points_rejected), (700, 1));
    assert!(s.last_error.unwrap().contains("field type conflict"));
    let rejected = store.reader().unwrap().rejected_batches("influx1").unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].first_seq, 351);
    assert!(
        rejected[0].error.starts_with("HTTP 400"),
        "{}",
        rejected[0].error
    );
    assert!(rejected[0].error.contains("field type conflict"));
    assert_eq!(
        rejected[0].line_protocol,
        format!(
            "energy_meter,house_id=a,meter_id=el kwh=7i {}\n",
            T0 + 350 * SEC
        )
    );
    rt.block_on(sinks.shutdown());
}

#[test]
fn delete_by_tag_reaches_the_store_and_both_servers() {
    let (Some(influxd), Some(vm)) = (Influxd::start("energy"), VictoriaMetrics::start()) else {
        return;
    };
    let (rt, _dir, store) = rig();
    let configs = [v1(&influxd, "energy"), v2(&vm)];
    let houses = ["gone", "kept"];
    let sinks = start_after_writing(&rt, &store, &configs, "w", &houses, 50, |_| 1.0);
    wait_for_both(&influxd, &vm, 100);
    rt.block_on(sinks.shutdown());
    let outcomes = rt.block_on(async {
        assert_eq!(store.delete_by_tag("house_id", "gone").await.unwrap(), 50);
        sinks::delete_by_tag(&configs, "house_id", "gone")
            .await
            .unwrap()
    });
    assert_eq!(outcomes.len(), 2);
    for (name, result) in &outcomes {
        assert!(result.is_ok(), "{name}: {result:?}");
    }
    assert_eq!(influxd.count("energy", "energy_meter", "kwh"), 50);
    let houses = influxd.rows("energy", "kwh, house_id", "energy_meter");
    assert!(houses.iter().all(|r| r[2] == "kept"));
    // VictoriaMetrics has no /api/v2/delete: the sink falls back to its delete_series.
    let series = vm.export(VM_METER);
    assert_eq!(series.len(), 1);
    assert_eq!(series[0]["metric"]["house_id"], "kept");
    assert_eq!(
        store.measurement_counts().unwrap(),
        vec![("energy_meter".to_string(), 50)]
    );
}

#[test]
fn an_auth_failure_is_retried_without_losing_or_setting_aside_anything() {
    let Some(influxd) = Influxd::start_with_auth("energy", "admin", "right") else {
        return;
    };
    let (rt, _dir, store) = rig();
    let with_password = |password: &str| {
        let mut config = v1(&influxd, "energy");
        let Kind::InfluxdbV1(c) = &mut config.kind else {
            unreachable!()
        };
        c.username = Some("admin".into());
        c.password = Some(password.into());
        config
    };
    let sinks = rt.block_on(async {
        store
            .write("w", (0..300).map(|i| meter("a", i, 1.0)).collect(), None)
            .await
            .unwrap();
        Sinks::start(&store, &[with_password("wrong")]).unwrap()
    });
    let s = wait_for(WAIT, "the sink to report the auth error", || {
        let s = status(&sinks, "influx1");
        s.last_error.as_ref()?.contains("HTTP 401").then_some(s)
    });
    assert_eq!((s.cursor, s.points_behind, s.points_rejected), (0, 300, 0));
    rt.block_on(sinks.shutdown());
    assert!(store
        .reader()
        .unwrap()
        .rejected_batches("influx1")
        .unwrap()
        .is_empty());

    // The password fixed (a restart with the new config): everything arrives.
    let sinks = rt.block_on(async { Sinks::start(&store, &[with_password("right")]).unwrap() });
    wait_for(WAIT, "300 points in influxd", || {
        (influxd.count("energy", "energy_meter", "kwh") == 300).then_some(())
    });
    rt.block_on(sinks.shutdown());
}
