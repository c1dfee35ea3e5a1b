//! `cargo bench -p hemflux --bench store`: the data path's figures.
//!
//! 1. points/s from concurrent writers into the store, batch sizes 100 / 1,000 / 10,000;
//! 2. range queries over 27 meters x 4 years at 15 min (3.79 M points), the analytics' load;
//! 3. store -> each real server (influxd /write, VictoriaMetrics /api/v2/write) points/s;
//! 4. resident memory while a sink is 1 M points behind, and while it catches up.

use std::time::{Duration, Instant};

use hemflux::sinks::{InfluxV1Config, InfluxV2Config, SinkConfig, Sinks};
use hemflux::store::{RangeQuery, Store, StoreConfig};
use hemflux_e2e::servers::{Influxd, VictoriaMetrics};
use hemflux_shared::Point;

const MIN15: i64 = 15 * 60 * 1_000_000_000;
const T0: i64 = 1_577_836_800_000_000_000; // 2020-01-01T00:00:00Z
const METERS: usize = 27;
/// 4 years (1,461 days) of 15-minute readings.
const PER_METER: usize = 1461 * 96;
const WRITERS: usize = 4;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn reading(meter: usize, i: usize) -> Point {
    Point::new("energy_meter", T0 + i as i64 * MIN15)
        .tag("house_id", format!("house_{}", meter % 9))
        .tag("meter_id", format!("m{meter:02}"))
        .field("kwh", i as f64 * 0.25 + meter as f64)
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU seconds (user + system) used so far by each live thread: tid -> (name, seconds). Lets the
/// figures be read on a busy machine: the writer thread's CPU per point is its capacity.
fn thread_cpu() -> std::collections::HashMap<String, (String, f64)> {
    let mut out = std::collections::HashMap::new();
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let name = head.split_once('(').map_or("", |(_, n)| n).to_string();
        // After the name: state, ppid, ..., utime is the 12th field, stime the 13th (clock ticks).
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        out.insert(
            task.file_name().to_string_lossy().into_owned(),
            (name, (ticks(11) + ticks(12)) / 100.0),
        );
    }
    out
}

/// CPU seconds used since `before` by threads named `name` (all: `None`).
fn cpu_since(before: &std::collections::HashMap<String, (String, f64)>, name: Option<&str>) -> f64 {
    thread_cpu()
        .iter()
        .filter(|(_, (n, _))| name.is_none_or(|w| w == n))
        .map(|(tid, (_, secs))| secs - before.get(tid).map_or(0.0, |(_, b)| *b))
        .sum()
}

/// Returns points/s (wall clock), points per CPU-second of the whole process, and points per
/// CPU-second of the writer thread.
fn fill(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    meters: usize,
    per_meter: usize,
    batch: usize,
) -> (f64, f64, f64) {
    let started = Instant::now();
    let before = thread_cpu();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for meter in (w..meters).step_by(WRITERS) {
                    let mut i = 0;
                    while i < per_meter {
                        let end = (i + batch).min(per_meter);
                        let points = (i..end).map(|i| reading(meter, i)).collect();
                        store
                            .write(
                                &format!("meter:{meter}"),
                                points,
                                Some(serde_json::json!({"i": end})),
                            )
                            .await
                            .unwrap();
                        i = end;
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let n = (meters * per_meter) as f64;
    (
        n / started.elapsed().as_secs_f64(),
        n / cpu_since(&before, None).max(0.01),
        n / cpu_since(&before, Some("store-writer")).max(0.01),
    )
}

fn main() {
    // `cargo bench -p hemflux --bench store -- writes queries servers` picks parts (default: all).
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |part: &str| parts.is_empty() || parts.iter().any(|p| p == part);
    let rt = runtime();
    println!(
        "## hemflux store benchmark ({} CPUs)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    if run("writes") {
        writes(&rt);
    }
    if run("queries") {
        queries(&rt);
    }
    if run("servers") {
        forward_to_servers(&rt);
    }
}

fn writes(rt: &tokio::runtime::Runtime) {
    println!("\n### writes into the store ({WRITERS} concurrent writers, fsync'd group commit)");
    for batch in [100, 1_000, 10_000] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        let per_meter = if batch == 100 { 10_000 } else { 40_000 };
        let (rate, per_cpu, per_writer_cpu) = fill(rt, &store, METERS, per_meter, batch);
        println!(
            "batch {batch:>6}: {rate:>7.0} points/s wall; {per_cpu:>7.0} per process CPU-s; writer thread {per_writer_cpu:>7.0} per CPU-s ({} points)",
            METERS * per_meter
        );
    }
}

fn queries(rt: &tokio::runtime::Runtime) {
    println!("\n### range queries: {METERS} meters x 4 years x 15 min");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let (rate, _, _) = fill(rt, &store, METERS, PER_METER, 10_000);
    let total = METERS * PER_METER;
    let size = std::fs::metadata(dir.path().join(hemflux::store::FILE_NAME)).map_or(0, |m| m.len())
        + std::fs::metadata(dir.path().join("hemflux.db-wal")).map_or(0, |m| m.len());
    println!(
        "filled {total} points at {rate:.0} points/s; file {:.0} MB ({:.1} B/point)",
        size as f64 / 1e6,
        size as f64 / total as f64
    );
    let reader = store.reader().unwrap();
    let started = Instant::now();
    let mut n = 0;
    for meter in 0..METERS {
        let q = RangeQuery::new("energy_meter").tag("meter_id", format!("m{meter:02}"));
        n += reader.numeric_field(&q, "kwh").unwrap().len();
    }
    let t = started.elapsed().as_secs_f64();
    println!(
        "numeric_field, meter by meter: {n} points in {t:.2} s ({:.1} M points/s)",
        n as f64 / t / 1e6
    );
    let started = Instant::now();
    let year = 365 * 96;
    let q = RangeQuery::new("energy_meter")
        .tag("meter_id", "m05")
        .between(
            Some(T0 + (year as i64) * MIN15),
            Some(T0 + 2 * (year as i64) * MIN15),
        );
    let one = reader.numeric_field(&q, "kwh").unwrap().len();
    println!(
        "one meter, one year: {one} points in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let started = Instant::now();
    let points = reader
        .points(&RangeQuery::new("energy_meter"))
        .unwrap()
        .len();
    let t = started.elapsed().as_secs_f64();
    println!(
        "points() as full Point values: {points} in {t:.2} s ({:.1} M points/s)",
        points as f64 / t / 1e6
    );
}

fn forward_to_servers(rt: &tokio::runtime::Runtime) {
    let (Some(influxd), Some(vm)) = (Influxd::start("bench"), VictoriaMetrics::start()) else {
        println!("(servers not installed: forwarding figures skipped)");
        return;
    };
    const BEHIND: usize = 1_000_000;
    println!("\n### store -> servers, {BEHIND} points behind, batch 5000, gzip");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    fill(rt, &store, 20, BEHIND / 20, 10_000);
    let baseline = rss_mb();

    // A sink whose server is down: the backlog stays on disk, memory stays flat.
    let down = SinkConfig::from(InfluxV2Config {
        url: format!("http://127.0.0.1:{}", hemflux_e2e::free_port()),
        org: "o".into(),
        bucket: "b".into(),
        token: Some("t".into()),
        ..InfluxV2Config::default()
    })
    .named("down");
    let sinks = rt.block_on(async { Sinks::start(&store, &[down]).unwrap() });
    std::thread::sleep(Duration::from_secs(5));
    let status = &sinks.status()[0];
    println!(
        "sink down, {} points behind: RSS {:.0} MB (before the sink started: {:.0} MB)",
        status.points_behind,
        rss_mb(),
        baseline
    );
    rt.block_on(sinks.shutdown());

    let targets = [
        (
            "influxd 1.6 /write",
            SinkConfig::from(InfluxV1Config {
                url: influxd.url(),
                db: "bench".into(),
                ..InfluxV1Config::default()
            })
            .named("influxd"),
        ),
        (
            "VictoriaMetrics /api/v2/write",
            SinkConfig::from(InfluxV2Config {
                url: vm.url(),
                org: "o".into(),
                bucket: "b".into(),
                token: Some("t".into()),
                ..InfluxV2Config::default()
            })
            .named("vm"),
        ),
    ];
    for (what, config) in targets {
        let sinks = rt.block_on(async { Sinks::start(&store, &[config]).unwrap() });
        let started = Instant::now();
        let mut peak = 0.0f64;
        loop {
            peak = peak.max(rss_mb());
            let s = &sinks.status()[0];
            if s.cursor as usize >= BEHIND {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(900),
                "{what}: too slow: {s:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let t = started.elapsed().as_secs_f64();
        println!(
            "{what}: {BEHIND} points in {t:.1} s = {:.0} points/s; peak RSS {peak:.0} MB",
            BEHIND as f64 / t
        );
        rt.block_on(sinks.shutdown());
    }
    println!(
        "influxd holds {} points; VictoriaMetrics {}",
        influxd.count("bench", "energy_meter", "kwh"),
        vm.count(r#"{__name__="energy_meter_kwh"}"#)
    );
}
