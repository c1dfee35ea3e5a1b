//! `bench`: the spine's figures. Build in release first:
//! `cargo build --release --workspace && target/release/bench [--workers 100,1000] [--drops 100]
//! [--cpu-secs 30] [--only cpu]`.
//!
//! Reports onboarding latency (profile written → worker `running`), offboarding latency (file
//! deleted → process gone), memory of the orchestrator and of the workers for fleets of
//! synthetic workers, and the orchestrator's CPU: idle with 1,000 profiles, and with 200 workers
//! sending 10-point batches every second. Memory is shown as RSS (which counts the binary's shared pages in every
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

    let cpu_secs: u64 = arg("--cpu-secs", "30").parse().expect("--cpu-secs N");
    let only = arg("--only", "all");
    if only == "all" || only == "cpu" {
        cpu_idle(1000, cpu_secs);
        // The writer's commit window (`[store] commit_window_ms`): 0 commits each batch alone,
        // 50 is the default.
        for window_ms in [0, 10, 50] {
            cpu_busy(200, cpu_secs, window_ms);
        }
    }
    if only == "cpu" {
        return;
    }
    // Production settings: the measured latency includes the real 100 ms debounce.
    let o = Orchestrator::with_settings("").start();
    latencies(&o, drops);
    drop(o);
    for n in fleets {
        memory(n);
    }
}

/// CPU seconds (user + system, all threads) a process has used so far.
fn cpu_secs(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit(')').next().unwrap();
    let f: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|v| v.parse().unwrap())
        .collect();
    // utime and stime, in USER_HZ (100 per second on Linux).
    (f[0] + f[1]) as f64 / 100.0
}

/// The orchestrator's CPU over `secs`, as a share of one core.
fn cpu_share(o: &Orchestrator, secs: u64) -> f64 {
    let (c0, t0) = (cpu_secs(o.pid()), Instant::now());
    std::thread::sleep(Duration::from_secs(secs));
    (cpu_secs(o.pid()) - c0) / t0.elapsed().as_secs_f64()
}

/// Production settings (rescan every 30 s), `n` profiles that start no worker: what the watcher,
/// supervisor and HTTP side cost when nothing happens.
fn cpu_idle(n: usize, secs: u64) {
    let o = Orchestrator::with_idle_profiles(n).start();
    std::thread::sleep(Duration::from_secs(5));
    let share = cpu_share(&o, secs);
    println!(
        "idle with {n} profiles: orchestrator CPU {:.2} % of a core over {secs} s (target < 1 %)",
        share * 100.0
    );
}

/// `n` workers, each sending a 10-point batch every second: the orchestrator's CPU per 1,000
/// points/s (every point stored, fsync'd, acknowledged).
fn cpu_busy(n: usize, secs: u64, window_ms: u64) {
    let o = Orchestrator::with_settings(&format!(
        "[weather]\nenabled = false\n[supervisor]\nstagger_ms = 1000\n[store]\ncommit_window_ms = {window_ms}\n"
    ));
    for i in 0..n {
        std::fs::write(
            o.path(&format!("profiles/busy{i:04}.json")),
            r#"{"synthetic": {"interval_ms": 1000, "points_per_batch": 10}}"#,
        )
        .unwrap();
    }
    let o = o.start();
    wait_for(Duration::from_secs(300), "the fleet to run", || {
        (o.workers()
            .iter()
            .filter(|w| w["state"] == "running")
            .count()
            == n)
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(5));
    let points = |o: &Orchestrator| -> u64 {
        o.workers()
            .iter()
            .filter_map(|w| w["points"].as_u64())
            .sum()
    };
    let (p0, t0) = (points(&o), Instant::now());
    let share = cpu_share(&o, secs);
    let rate = (points(&o) - p0) as f64 / t0.elapsed().as_secs_f64();
    println!(
        "{n} workers x 10-point batches every second, commit window {window_ms} ms: {rate:.0} points/s stored; orchestrator CPU {:.2} % of a core, {:.2} % per 1,000 points/s",
        share * 100.0,
        share * 100.0 / (rate / 1000.0)
    );
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
