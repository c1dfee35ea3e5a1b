//! The embedded store through its public API: idempotency, merge, state, queries, retention,
//! deletion, concurrent group commit, torn writes, and `hemflux query` against a live store.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use hemflux::store::{RangeQuery, Store, StoreConfig};
use hemflux_e2e::run_ok;
use hemflux_shared::{FieldValue, Point};
use serde_json::json;

const SEC: i64 = 1_000_000_000;

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path(), &StoreConfig::default()).unwrap()
}

/// Every stored point of `measurement`.
fn all_points(store: &Store, measurement: &str) -> Vec<Point> {
    store
        .reader()
        .unwrap()
        .points(&RangeQuery::new(measurement))
        .unwrap()
}

fn meter(house: &str, t: i64, kwh: f64) -> Point {
    Point::new("energy_meter", t)
        .tag("house_id", house)
        .tag("meter_id", "el")
        .field("kwh", kwh)
}

#[tokio::test]
async fn same_series_and_time_is_one_point_last_value_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .write("w", vec![meter("a", SEC, 1.0)], None)
        .await
        .unwrap();
    store
        .write("w", vec![meter("a", SEC, 2.0), meter("a", SEC, 3.0)], None)
        .await
        .unwrap();
    let points = all_points(&store, "energy_meter");
    assert_eq!(points, vec![meter("a", SEC, 3.0)]);
    assert_eq!(
        store.measurement_counts().unwrap(),
        vec![("energy_meter".to_string(), 1)]
    );
}

#[tokio::test]
async fn a_rewrite_merges_fields_like_influxdb() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let first = Point::new("heating_system", SEC)
        .tag("house_id", "v")
        .field("supply", 40.0)
        .field("mode", "auto");
    let second = Point::new("heating_system", SEC)
        .tag("house_id", "v")
        .field("supply", 41.0)
        .field("pumps", 2i64);
    store.write("w", vec![first], None).await.unwrap();
    store.write("w", vec![second], None).await.unwrap();
    let points = all_points(&store, "heating_system");
    assert_eq!(points.len(), 1);
    let fields = &points[0].fields;
    assert_eq!(fields["supply"], FieldValue::Float(41.0));
    assert_eq!(fields["mode"], FieldValue::Str("auto".into()));
    assert_eq!(fields["pumps"], FieldValue::Int(2));
}

#[tokio::test]
async fn state_is_stored_with_the_points_and_a_bad_batch_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert_eq!(store.load_state("meter:h/el").unwrap(), None);
    store
        .write(
            "meter:h/el",
            vec![meter("h", SEC, 1.0)],
            Some(json!({"last": 1})),
        )
        .await
        .unwrap();
    assert_eq!(
        store.load_state("meter:h/el").unwrap(),
        Some(json!({"last": 1}))
    );

    let bad = vec![meter("h", 2 * SEC, 2.0), meter("h", 3 * SEC, f64::NAN)];
    let err = store
        .write("meter:h/el", bad, Some(json!({"last": 3})))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("point 1 of 2") && err.contains("energy_meter"),
        "{err}"
    );
    assert_eq!(
        store.load_state("meter:h/el").unwrap(),
        Some(json!({"last": 1}))
    );
    assert_eq!(
        store.measurement_counts().unwrap(),
        vec![("energy_meter".to_string(), 1)]
    );

    // Durable: a new handle on the same folder sees it.
    drop(store);
    let again = open(&dir);
    assert_eq!(
        again.load_state("meter:h/el").unwrap(),
        Some(json!({"last": 1}))
    );
}

#[tokio::test]
async fn range_queries_by_tags_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut points = Vec::new();
    for house in ["a", "b"] {
        for i in 0..10 {
            points.push(meter(house, i * SEC, i as f64));
        }
    }
    points.push(Point::new("weather_observation", 0).field("t", 1.0));
    store.write("w", points, None).await.unwrap();
    let reader = store.reader().unwrap();

    let a = reader
        .points(
            &RangeQuery::new("energy_meter")
                .tag("house_id", "a")
                .between(Some(3 * SEC), Some(6 * SEC)),
        )
        .unwrap();
    assert_eq!(
        a.iter().map(|p| p.time / SEC).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    assert!(a.iter().all(|p| p.tags["house_id"] == "a"));

    let both = reader
        .points(&RangeQuery::new("energy_meter").tag("meter_id", "el"))
        .unwrap();
    assert_eq!(both.len(), 20);
    let none = reader
        .points(&RangeQuery::new("energy_meter").tag("house_id", "zz"))
        .unwrap();
    assert!(none.is_empty());

    let values = reader
        .numeric_field(
            &RangeQuery::new("energy_meter")
                .tag("house_id", "b")
                .between(Some(8 * SEC), None),
            "kwh",
        )
        .unwrap();
    assert_eq!(values, vec![(8 * SEC, 8.0), (9 * SEC, 9.0)]);
}

#[tokio::test]
async fn retention_and_delete_by_tag() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let old = now - 40 * 86_400 * SEC;
    store
        .write(
            "w",
            vec![
                meter("a", old, 1.0),
                meter("a", now, 2.0),
                meter("b", now, 3.0),
            ],
            None,
        )
        .await
        .unwrap();
    drop(store);

    // Retention runs when the store opens (and hourly after).
    let store = Store::open(
        dir.path(),
        &StoreConfig {
            retention_days: Some(30),
            ..StoreConfig::default()
        },
    )
    .unwrap();
    store.write("w", vec![], None).await.unwrap(); // queued after the retention pass
    let times: Vec<i64> = all_points(&store, "energy_meter")
        .iter()
        .map(|p| p.time)
        .collect();
    assert_eq!(times, [now, now]);

    assert_eq!(store.delete_by_tag("house_id", "a").await.unwrap(), 1);
    assert_eq!(store.delete_by_tag("house_id", "nobody").await.unwrap(), 0);
    let left = all_points(&store, "energy_meter");
    assert_eq!(left, vec![meter("b", now, 3.0)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_are_committed_together_and_seq_grows() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut tasks = Vec::new();
    for w in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for batch in 0..10 {
                let points = (0..50)
                    .map(|i| meter(&format!("h{w}"), (batch * 50 + i) * SEC, 1.0))
                    .collect();
                store
                    .write(&format!("w{w}"), points, Some(json!({"batch": batch})))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        store.measurement_counts().unwrap(),
        vec![("energy_meter".to_string(), 20 * 500)]
    );
    assert_eq!(store.load_state("w7").unwrap(), Some(json!({"batch": 9})));
    let mut reader = store.reader().unwrap();
    let feed = reader.after(0, 100_000).unwrap();
    assert_eq!(feed.len(), 10_000);
    assert!(feed.seqs.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(Some(*store.committed().borrow()), feed.last_seq());
    assert_eq!(reader.after(feed.seqs[9_989], 100).unwrap().len(), 10);
    // Group commit: 200 writes from 20 concurrent writers took fewer transactions than writes.
    let commits = commit_count(&dir);
    assert!(commits < 200, "{commits} transactions for 200 writes");
}

fn commit_count(dir: &tempfile::TempDir) -> i64 {
    let db = rusqlite::Connection::open(dir.path().join(hemflux::store::FILE_NAME)).unwrap();
    db.query_row("SELECT count(*) FROM commits", [], |r| r.get(0))
        .unwrap()
}

/// Ten writers whose batches arrive 20 ms apart: with a 1 s commit window they share one
/// commit; with none, the writer is idle between them and commits each alone.
async fn commits_for_staggered_writes(window_ms: u64) -> i64 {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        commit_window_ms: window_ms,
        ..StoreConfig::default()
    };
    let store = Store::open(dir.path(), &config).unwrap();
    let mut tasks = Vec::new();
    for w in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .write("w", vec![meter(&format!("h{w}"), SEC, 1.0)], None)
                .await
                .unwrap();
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        store.measurement_counts().unwrap(),
        vec![("energy_meter".to_string(), 10)]
    );
    commit_count(&dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commit_window_gathers_batches_that_arrive_apart() {
    assert_eq!(commits_for_staggered_writes(1000).await, 1);
    assert!(commits_for_staggered_writes(0).await > 5);
}

/// Two writers on one file, as `hemflux import` or `hemflux remove` beside `hemflux run`: each
/// sees the other's commits, so seqs never repeat (a sink would skip points otherwise) and a
/// series the other deleted is created again, not written under a dead id.
#[tokio::test]
async fn two_writers_of_one_file_take_turns() {
    let dir = tempfile::tempdir().unwrap();
    let (run, import) = (open(&dir), open(&dir));
    let batch = |house: &str, from: i64| {
        (from..from + 10)
            .map(|t| meter(house, t * SEC, 1.0))
            .collect()
    };
    run.write("w", batch("a", 0), None).await.unwrap();
    import.write("import", batch("b", 0), None).await.unwrap();
    run.write("w", batch("a", 10), None).await.unwrap();
    assert_eq!(import.delete_by_tag("house_id", "a").await.unwrap(), 20);
    run.write("w", batch("a", 20), None).await.unwrap();

    let mut reader = run.reader().unwrap();
    let feed = reader.after(0, 1_000).unwrap();
    assert_eq!(feed.len(), 20, "every point once in the sinks' feed");
    assert!(feed.seqs.windows(2).all(|w| w[0] < w[1]));
    assert!(feed.seqs[0] > 10, "b's seqs follow the first batch of a");
    let a = reader
        .points(&RangeQuery::new("energy_meter").tag("house_id", "a"))
        .unwrap();
    assert_eq!(
        a.len(),
        10,
        "the series deleted by the other writer is back"
    );
    assert_eq!(a[0].time, 20 * SEC);
}

/// The child half of `a_torn_write_leaves_a_consistent_store`: writes batches of 1000 points
/// forever, printing each acknowledged batch number, until it is killed.
#[tokio::test]
async fn torn_write_child() {
    let Ok(dir) = std::env::var("HEMFLUX_TORN_WRITE_DIR") else {
        return;
    };
    let store = Store::open(std::path::Path::new(&dir), &StoreConfig::default()).unwrap();
    for batch in 0i64.. {
        let points = (0..1000)
            .map(|i| meter("t", batch * 1000 + i, batch as f64))
            .collect();
        store
            .write("child", points, Some(json!({"batch": batch})))
            .await
            .unwrap();
        println!("ACK {batch}");
    }
}

#[tokio::test]
async fn a_torn_write_leaves_a_consistent_store() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "torn_write_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HEMFLUX_TORN_WRITE_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = -1i64;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acked < 30 {
        assert!(
            std::time::Instant::now() < deadline,
            "child wrote too slowly"
        );
        let line = lines.next().expect("child ended early").unwrap();
        if let Some(n) = line.strip_prefix("ACK ") {
            acked = n.parse().unwrap();
        }
    }
    // Kill while it is inside a transaction (it writes continuously).
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();

    let store = open(&dir);
    let state = store.load_state("child").unwrap().expect("state survived");
    let last = state["batch"].as_i64().unwrap();
    assert!(
        last >= acked,
        "acknowledged batch {acked} lost (state says {last})"
    );
    let count = store.measurement_counts().unwrap()[0].1 as i64;
    // Whole batches only, and exactly those the state says are done.
    assert_eq!(count, (last + 1) * 1000);
    let reader = store.reader().unwrap();
    let values: BTreeMap<i64, usize> = reader
        .points(&RangeQuery::new("energy_meter"))
        .unwrap()
        .iter()
        .fold(BTreeMap::new(), |mut m, p| {
            *m.entry(p.fields["kwh"].as_f64().unwrap() as i64)
                .or_default() += 1;
            m
        });
    assert!(values.values().all(|&n| n == 1000));
    store
        .write("after", vec![meter("t", -1, 0.0)], None)
        .await
        .unwrap();
}

#[tokio::test]
async fn hemflux_query_reads_a_store_that_is_being_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .write(
            "w",
            vec![
                meter("a", 1_700_000_000 * SEC, 1.5),
                meter("b", 1_700_000_000 * SEC, 2.5),
                meter("a", 1_700_000_900 * SEC, 3.5),
            ],
            None,
        )
        .await
        .unwrap();
    let run = |args: &[&str]| {
        run_ok(
            Command::new(env!("CARGO_BIN_EXE_hemflux"))
                .arg("query")
                .args(args)
                .arg("--data")
                .arg(dir.path()),
        )
    };
    assert_eq!(run(&["--list"]), "energy_meter\t3\n");
    let json: serde_json::Value = serde_json::from_str(&run(&[
        "energy_meter",
        "--tag",
        "house_id=a",
        "--from",
        "2023-11-14T22:15:00Z",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(
        json,
        json!([{"time": "2023-11-14T22:28:20Z", "tags": {"house_id": "a", "meter_id": "el"}, "fields": {"kwh": 3.5}}])
    );
    let csv = run(&["energy_meter", "--to", "2023-11-14T22:15:00Z"]);
    assert_eq!(
        csv,
        "time,house_id,meter_id,kwh\n2023-11-14T22:13:20Z,a,el,1.5\n2023-11-14T22:13:20Z,b,el,2.5\n"
    );
    // Points of several series merge in time order; a missing field is an empty cell; text with
    // commas or quotes is quoted.
    store
        .write(
            "w",
            vec![
                Point::new("heating_system", 2 * SEC)
                    .tag("house_id", "b")
                    .field("mode", "a,\"b\""),
                Point::new("heating_system", SEC)
                    .tag("house_id", "a")
                    .field("supply", 40.5),
                Point::new("heating_system", 3 * SEC)
                    .tag("house_id", "a")
                    .field("pumps", 2i64),
            ],
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        run(&["heating_system"]),
        "time,house_id,mode,pumps,supply\n\
         1970-01-01T00:00:01Z,a,,,40.5\n\
         1970-01-01T00:00:02Z,b,\"a,\"\"b\"\"\",,\n\
         1970-01-01T00:00:03Z,a,,2,\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&run(&["heating_system", "--format", "json"])).unwrap();
    assert_eq!(
        json[2],
        json!({"time": "1970-01-01T00:00:03Z", "tags": {"house_id": "a"}, "fields": {"pumps": 2}})
    );
    assert_eq!(run(&["nothing_here", "--format", "json"]), "[]\n");
    // The writer still works after the reader came and went.
    store
        .write("w", vec![meter("c", 0, 1.0)], None)
        .await
        .unwrap();
}
