//! `bench`: the spine's figures. Build in release first:
//! `cargo build --release --workspace && target/release/bench [--workers 100,1000] [--drops 100]`.
//!
//! Reports onboarding latency (profile written → worker `running`), offboarding latency (file
//! deleted → process gone), and memory of the orchestrator and of the workers for fleets of
//! synthetic workers. Memory is shown as RSS and as PSS (shared pages split between the
//! processes that share them, the fair measure for a fleet of one binary).

use std::time::{Duration, Instant};

use hemflux_e2e::{alive, wait_for, Orchestrator};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    let drops: usize = arg("--drops", "100").parse().expect("--drops N");
    let fleets: Vec<usize> = arg("--workers", "100,1000")
        .split(',')
        .map(|s| s.parse().expect("--workers N,M"))
        .collect();

    // Production settings: the measured latency includes the real 100 ms debounce.
    let o = Orchestrator::with_settings("").start();
    latencies(&o, drops);
    drop(o);
    for n in fleets {
        memory(n);
    }
}

fn latencies(o: &Orchestrator, drops: usize) {
    let mut on = Vec::new();
    let mut off = Vec::new();
    for i in 0..drops {
        let id = format!("synthetic:b{i}");
        let t0 = Instant::now();
        o.write_profile(
            &format!("b{i}.json"),
            r#"{"synthetic": {"interval_ms": 60000}}"#,
        );
        let w = wait_for(Duration::from_secs(10), "running", || {
            o.worker(&id).filter(|w| w["state"] == "running")
        });
        on.push(t0.elapsed());
        let pid = w["pid"].as_i64().unwrap() as i32;
        let t1 = Instant::now();
        std::fs::remove_file(o.path(&format!("profiles/b{i}.json"))).unwrap();
        wait_for(Duration::from_secs(10), "gone", || {
            (!alive(pid) && o.worker(&id).is_none()).then_some(())
        });
        off.push(t1.elapsed());
    }
    report("onboarding (file written -> worker running)", &mut on);
    report("offboarding (file deleted -> process gone)", &mut off);
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let pct = |p: f64| {
        samples[((samples.len() as f64 * p).ceil() as usize).saturating_sub(1)].as_secs_f64()
            * 1000.0
    };
    println!(
        "{what}: n={} p50={:.1} ms p99={:.1} ms max={:.1} ms",
        samples.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}

fn memory(n: usize) {
    let o = Orchestrator::with_settings("").start();
    for i in 0..n {
        o.write_profile(
            &format!("m{i:04}.json"),
            r#"{"synthetic": {"interval_ms": 5000}}"#,
        );
    }
    let pids: Vec<i32> = wait_for(Duration::from_secs(300), "the fleet to run", || {
        let ws = o.workers();
        (ws.iter().filter(|w| w["state"] == "running").count() == n).then(|| {
            ws.iter()
                .filter_map(|w| w["pid"].as_i64())
                .map(|p| p as i32)
                .collect()
        })
    });
    // Let every worker deliver a few batches.
    std::thread::sleep(Duration::from_secs(12));
    let (orss, opss) = mem_kib(o.pid());
    let (wrss, wpss) = pids
        .iter()
        .map(|p| mem_kib(*p))
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    println!(
        "{n} workers: orchestrator RSS {:.1} MiB (PSS {:.1}); workers RSS {:.2} MiB each (PSS {:.2} MiB each); total PSS {:.1} MiB",
        orss as f64 / 1024.0,
        opss as f64 / 1024.0,
        wrss as f64 / 1024.0 / n as f64,
        wpss as f64 / 1024.0 / n as f64,
        (opss + wpss) as f64 / 1024.0
    );
}

/// (RSS, PSS) in KiB from /proc/<pid>/smaps_rollup.
fn mem_kib(pid: i32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("Rss:"), field("Pss:"))
}
