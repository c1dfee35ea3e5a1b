//! `bench`: the spine's figures. Build in release first:
//! `cargo build --release --workspace && target/release/bench [--workers 100,1000] [--drops 100]`.
//!
//! Reports onboarding latency (profile written → worker `running`), offboarding latency (file
//! deleted → process gone), and memory of the orchestrator and of the workers for fleets of
//! synthetic workers. Memory is shown as RSS (which counts the binary's shared pages in every
//! process), PSS (shared pages split between the processes that share them) and private memory
//! (what one more worker really costs).

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
        let w = poll_fast("running", || {
            o.worker(&id).filter(|w| w["state"] == "running")
        });
        on.push(t0.elapsed());
        let pid = w["pid"].as_i64().unwrap() as i32;
        let t1 = Instant::now();
        std::fs::remove_file(o.path(&format!("profiles/b{i}.json"))).unwrap();
        poll_fast("gone", || {
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
    let o_mem = mem_kib(o.pid());
    let w_mem = pids
        .iter()
        .map(|p| mem_kib(*p))
        .fold(Mem::default(), |a, b| Mem {
            rss: a.rss + b.rss,
            pss: a.pss + b.pss,
            private: a.private + b.private,
        });
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "{n} workers: orchestrator RSS {:.1} MiB; per worker: RSS {:.2} MiB, PSS {:.2} MiB, private {:.2} MiB; whole tree PSS {:.1} MiB",
        mib(o_mem.rss),
        mib(w_mem.rss) / n as f64,
        mib(w_mem.pss) / n as f64,
        mib(w_mem.private) / n as f64,
        mib(o_mem.pss + w_mem.pss)
    );
}

#[derive(Default)]
struct Mem {
    rss: u64,
    pss: u64,
    /// Pages only this process uses: what one more worker costs.
    private: u64,
}

/// Memory in KiB from /proc/<pid>/smaps_rollup.
fn mem_kib(pid: i32) -> Mem {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Mem {
        rss: field("Rss:"),
        pss: field("Pss:"),
        private: field("Private_Clean:") + field("Private_Dirty:"),
    }
}

/// Like `wait_for`, but polls every 2 ms so that the latency measured is not rounded up to the
/// polling interval.
fn poll_fast<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}
