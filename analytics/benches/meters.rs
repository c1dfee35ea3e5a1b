//! `cargo bench -p hemflux-analytics --bench meters`: the meter analytics on the load.
//!
//! The seed's inventory (`tests/data/nebenkosten/meters.yaml`: 22 physical meters, two masters
//! with one swap each, two virtual meters) plus eight more meters, every one read every 15
//! minutes over its life in 2021–2024 (4 years, 1,461 days; the swapped meters share their
//! years, so that is 27 meters' worth) with three gaps and one reset each, plus three meters
//! read by hand once a month: 3.8 M readings. Measured:
//! a full run, peak RSS (VmHWM), the nightly run that adds one day, the worker's checkpoint
//! (the state packed) and a restart (unpacking it, then the nightly run), and the run after a
//! reading added a week back.

use std::convert::Infallible;
use std::time::Instant;

use hemflux_analytics::meters::synth::{readings, Profile};
use hemflux_analytics::meters::{
    packed, parse, run, Changes, Kind, MeterSet, Reading, Source, State, Ts,
};

const END: Ts = 1_735_689_600; // 2025-01-01T00:00:00Z
const START: Ts = 1_609_459_200; // 2021-01-01T00:00:00Z
const EXTRA_DENSE: usize = 8;
const MANUAL: usize = 3;

/// The seed's inventory over 2021–2024: meters it installs in 2022 start in 2021 here.
fn meter_set() -> MeterSet {
    let seed = include_str!("../tests/data/nebenkosten/meters.yaml");
    let mut yaml = format!(
        "start_date: 2021-01-01\n{}",
        seed.replace("installation_date: \"2022-", "installation_date: \"2021-")
    );
    for k in 0..EXTRA_DENSE {
        yaml += &format!("  - {{meter_id: sub_{k}, type: physical, output_unit: kWh, installation_date: 2021-01-01}}\n");
    }
    for k in 0..MANUAL {
        yaml += &format!("  - {{meter_id: manual_{k}, type: physical, output_unit: m³, installation_date: 2021-01-01}}\n");
    }
    let patterns = include_str!("../tests/data/nebenkosten/seasonal_patterns.yaml");
    parse(
        Source {
            name: "meters.yaml",
            text: &yaml,
        },
        Some(Source {
            name: "seasonal_patterns.yaml",
            text: patterns,
        }),
    )
    .unwrap_or_else(|e| panic!("{e:?}"))
}

/// Every physical meter's readings over its life, up to a day past the end (for the nightly run).
fn generate(set: &MeterSet) -> Vec<Vec<Reading>> {
    set.meters
        .iter()
        .enumerate()
        .map(|(k, m)| {
            let Kind::Physical(p) = &m.kind else {
                return Vec::new();
            };
            let manual = m.id.starts_with("manual_");
            let profile = Profile {
                per_day: if m.unit == "MWh" { 0.02 } else { 9.0 },
                seasonal: m.pattern.as_ref().map(|p| *p.shares()),
                step: if manual { 30 * 86_400 + 5_400 } else { 900 },
                gaps: if manual { 0 } else { 3 },
                resets: usize::from(!manual),
                start_value: 1000.0,
            };
            let from = p.installed.unwrap_or(START).max(START);
            let to = p.removed.map_or(END + 86_400, |r| r + 1);
            readings(k as u64 + 1, from, to, &profile)
        })
        .collect()
}

fn vm_kb(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// A run at `now` over readings up to `now`; returns the seconds and how many were read.
fn timed(
    set: &MeterSet,
    state: &mut State,
    data: &[Vec<Reading>],
    now: Ts,
    changes: &Changes,
    full: bool,
) -> (f64, usize) {
    let mut read = 0;
    let started = Instant::now();
    let out = run(set, state, now, changes, full, |i, _, after| {
        let all = &data[i];
        let a = after.map_or(0, |a| all.partition_point(|r| r.t <= a));
        let b = all.partition_point(|r| r.t <= now);
        read += b.saturating_sub(a);
        Ok::<_, Infallible>(all[a..b.max(a)].to_vec())
    })
    .unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(out.len(), set.meters.len());
    (secs, read)
}

fn main() {
    let set = meter_set();
    let data = generate(&set);
    let dense: usize = data.iter().filter(|d| d.len() > 1000).map(Vec::len).sum();
    let manual: usize = data
        .iter()
        .filter(|d| !d.is_empty() && d.len() <= 1000)
        .map(Vec::len)
        .sum();
    let before_kb = vm_kb("VmHWM:");
    println!(
        "meters: {} ({} physical), readings: {dense} at 15 min + {manual} by hand",
        set.meters.len(),
        data.iter().filter(|d| !d.is_empty()).count()
    );
    println!(
        "input held in memory: {:.1} MB (VmHWM {:.1} MB before the first run)",
        (dense + manual) as f64 * 16.0 / 1e6,
        before_kb / 1024.0
    );

    let nightly_now = END - 86_400 + 1800; // 2024-12-31T00:30Z
    let mut full_secs = Vec::new();
    let mut state = State::default();
    for _ in 0..3 {
        state = State::default();
        let (secs, read) = timed(&set, &mut state, &data, nightly_now, &Changes::new(), true);
        full_secs.push(secs);
        println!(
            "full run: {secs:.3} s, {read} readings, {:.1} M readings/s",
            read as f64 / secs / 1e6
        );
    }
    let peak_kb = vm_kb("VmHWM:");
    full_secs.sort_by(f64::total_cmp);
    let state_json = serde_json::to_vec(&state).unwrap().len();

    let mut nightly = Vec::new();
    for _ in 0..5 {
        let mut s = state.clone();
        let (secs, read) = timed(&set, &mut s, &data, END + 1800, &Changes::new(), false);
        nightly.push((secs, read));
    }
    nightly.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (n_secs, n_read) = nightly[nightly.len() / 2];

    // The worker's checkpoint, and a restart: unpack it, then the nightly run.
    let started = Instant::now();
    let checkpoint = packed::pack(&state);
    let pack_secs = started.elapsed().as_secs_f64();
    let mut restart = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let mut s = packed::unpack(&checkpoint).expect("a packed state");
        let unpack_secs = started.elapsed().as_secs_f64();
        let (secs, _) = timed(&set, &mut s, &data, END + 1800, &Changes::new(), false);
        restart.push((unpack_secs + secs, unpack_secs));
    }
    restart.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (r_secs, r_unpack) = restart[restart.len() / 2];

    // A reading typed in a week back for one 15-minute meter: recomputed from there.
    let k = data
        .iter()
        .position(|d| d.len() > 1000)
        .expect("a dense meter");
    let at = nightly_now - 7 * 86_400 + 450;
    let mut late = data.clone();
    let pos = late[k].partition_point(|r| r.t < at);
    let value = (late[k][pos - 1].value + late[k][pos].value) / 2.0;
    late[k].insert(pos, Reading { t: at, value });
    let changes: Changes = [(set.meters[k].id.clone(), at)].into();
    let mut backdated = Vec::new();
    for _ in 0..5 {
        let mut s = state.clone();
        backdated.push(timed(&set, &mut s, &late, nightly_now, &changes, false));
    }
    backdated.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (b_secs, b_read) = backdated[backdated.len() / 2];

    println!();
    println!("| measure | hemflux | target | seed's claim (README, not measured: its flow cannot run as committed) |");
    println!("|---|---|---|---|");
    println!(
        "| full run, {} readings | {:.2} s (median of 3) | < 2 s | 2–5 min |",
        dense + manual,
        full_secs[1]
    );
    println!("| peak RSS (VmHWM) | {:.0} MB, of which {:.0} MB the generated input; the run adds {:.0} MB | < 200 MB | 150–500 MB |", peak_kb / 1024.0, before_kb / 1024.0, (peak_kb - before_kb) / 1024.0);
    println!("| nightly run (one new day, {n_read} readings) | {:.1} ms (median of 5) | < 100 ms | a full rerun every night |", n_secs * 1e3);
    println!(
        "| state kept between runs | {:.1} MB as JSON, {:.1} MB packed in the worker's checkpoint (deflate + base64, {:.0} ms) | | |",
        state_json as f64 / 1e6,
        checkpoint.len() as f64 / 1e6,
        pack_secs * 1e3
    );
    println!(
        "| restart: unpack the checkpoint, then the nightly run | {:.1} ms, of which {:.1} ms unpacking (median of 5) | | a full rerun |",
        r_secs * 1e3,
        r_unpack * 1e3
    );
    println!(
        "| a reading added a week back ({b_read} readings re-read) | {:.1} ms (median of 5) | | waits for the nightly run |",
        b_secs * 1e3
    );
}
