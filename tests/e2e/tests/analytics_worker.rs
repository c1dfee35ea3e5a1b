//! The `analytics` worker kind in the whole orchestrator (real `hemflux run`, real worker
//! processes, the real store): its schedule survives restarts of the worker and of the
//! orchestrator (nothing runs twice, nothing is skipped), it reads the house's history through
//! the read path and writes its records through the protocol, and its crash leaves collection
//! alone. Slots are set a few seconds ahead on the local wall clock rather than waited for.

use std::collections::BTreeMap;
use std::time::Duration;

use hemflux_e2e::{wait_for, Orchestrator, Sim};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};

const TZ: &str = "Europe/Stockholm";
const T: Duration = Duration::from_secs(30);

/// Every `analytics_run` record: (slot, occurrence in ns).
fn runs(o: &Orchestrator) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = o
        .query("analytics_run", &[])
        .iter()
        .map(|p| {
            let slot = p["tags"]["slot"].as_str().unwrap().to_string();
            (slot, p["fields"]["occurrence"].as_i64().unwrap())
        })
        .collect();
    out.sort();
    out
}

fn wait_runs(o: &Orchestrator, n: usize) -> Vec<(String, i64)> {
    wait_for(T, &format!("{n} analytics runs"), || {
        let r = runs(o);
        (r.len() >= n).then_some(r)
    })
}

fn pid(o: &Orchestrator, id: &str) -> i64 {
    o.wait_state(id, "running", T)["pid"].as_i64().unwrap()
}

/// Local wall-clock time `secs` from now, to the second, and its instant; clear of midnight.
fn slot_in(secs: i64) -> (String, i64) {
    let tz = TimeZone::get(TZ).unwrap();
    let t = Timestamp::now().to_zoned(tz.clone()) + SignedDuration::from_secs(secs);
    let t = t.round(jiff::Unit::Second).unwrap();
    (
        t.time().strftime("%H:%M:%S").to_string(),
        t.timestamp().as_nanosecond() as i64,
    )
}

fn sleep_until(ns: i64) {
    let now = Timestamp::now().as_nanosecond() as i64;
    if ns > now {
        std::thread::sleep(Duration::from_nanos((ns - now) as u64));
    }
}

/// Waits until the local day has at least a minute left, so that the slots fall on one day.
fn clear_of_midnight() {
    let tz = TimeZone::get(TZ).unwrap();
    let now = Timestamp::now().to_zoned(tz);
    let midnight = now.tomorrow().unwrap().start_of_day().unwrap().timestamp();
    let left = midnight.duration_since(now.timestamp());
    if left < SignedDuration::from_secs(90) {
        std::thread::sleep(left.unsigned_abs() + Duration::from_secs(1));
    }
}

#[test]
fn restarts_mid_schedule_neither_rerun_nor_skip_a_slot() {
    clear_of_midnight();
    let mut o = Orchestrator::new("").start();
    let (gap_at, gap_ns) = slot_in(10);
    let (pipe_at, pipe_ns) = slot_in(24);
    let profile = json!({"timezone": TZ, "location": {"lat": 59.33, "lon": 18.07},
        "analytics": {"schedule": [
            {"task": "gap_fill", "at": gap_at}, {"task": "energy_pipeline", "at": pipe_at}]}});
    o.write_profile("villa_s.json", &profile.to_string());
    let id = "analytics:villa_s";

    // First start: yesterday's occurrences were missed, and run once each.
    let first = wait_runs(&o, 2);
    let keys = (
        format!("gap_fill@{gap_at}"),
        format!("energy_pipeline@{pipe_at}"),
    );
    // Yesterday's occurrences (a 23- or 25-hour day moves them by an hour: compared by slot).
    assert_eq!(first.len(), 2, "{first:?}");
    assert_eq!(
        first.iter().map(|r| &r.0).collect::<Vec<_>>(),
        [&keys.1, &keys.0]
    );
    assert!(first.iter().all(|r| r.1 < gap_ns), "{first:?}");

    // The gap-fill slot comes; then the worker is killed: the new process reruns nothing.
    sleep_until(gap_ns);
    let after_gap = wait_runs(&o, 3);
    assert!(
        after_gap.contains(&(keys.0.clone(), gap_ns)),
        "{after_gap:?}"
    );
    let old = pid(&o, id);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for(T, "the analytics worker restarted", || {
        o.worker(id)
            .filter(|w| w["state"] == "running" && w["pid"].as_i64() != Some(old))
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(runs(&o), after_gap, "a restarted worker reran a slot");

    // The orchestrator is down while the pipeline slot passes: it runs once after the restart.
    o.terminate();
    sleep_until(pipe_ns + 2_000_000_000);
    o.restart();
    let all = wait_runs(&o, 4);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(runs(&o), all, "a slot ran twice");
    let mut by_slot: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (slot, at) in &all {
        by_slot.entry(slot).or_default().push(*at);
    }
    assert_eq!(by_slot[keys.0.as_str()].len(), 2, "{all:?}");
    assert_eq!(by_slot[keys.1.as_str()].len(), 2, "{all:?}");
    assert!(all.contains(&(keys.1.clone(), pipe_ns)), "{all:?}");
    // The pipeline wrote its days through the protocol, tagged with the house.
    let split = o.query("energy_separated", &[]);
    assert_eq!(
        split.len(),
        30,
        "one point per day of the calibration window"
    );
    assert!(split.iter().all(|p| p["tags"]["house_id"] == "villa_s"));
}

const HOUSE: &str = "HEM_FJV_Villa_149";
const USER: &str = "FC2000233091";
const PASSWORD: &str = "hs-pw-Kq73-never-logged";

#[test]
fn an_analytics_crash_leaves_collection_alone_and_it_reads_through_the_orchestrator() {
    let house = format!("{HOUSE}:{USER}:{PASSWORD}");
    let sim = Sim::start("homeside", &["--house", house.as_str()]);
    let o = Orchestrator::new("").start();
    std::fs::write(
        o.path(".env"),
        format!(
            "HOUSE_{HOUSE}_USERNAME={USER}\nHOUSE_{HOUSE}_PASSWORD={PASSWORD}\nHOUSE_{HOUSE}_URL={}\n",
            sim.address
        ),
    )
    .unwrap();
    // Slots far from now (the first start still catches up on yesterday's once).
    let profile = json!({"name": "Daggis 8", "timezone": TZ,
        "homeside": {"base_url": sim.address, "poll_interval_secs": 1},
        "analytics": {"calibration_days": 10}});
    // Heating rows first, so that the gap fill finds rows to give an effective temperature.
    let without_analytics = {
        let mut p = profile.clone();
        p.as_object_mut().unwrap().remove("analytics");
        p
    };
    o.write_profile(&format!("{HOUSE}.json"), &without_analytics.to_string());
    wait_for(T, "heating rows", || {
        (o.query("heating_system", &[]).len() >= 3).then_some(())
    });
    o.write_profile(&format!("{HOUSE}.json"), &profile.to_string());
    let analytics = format!("analytics:{HOUSE}");
    let house_id = format!("house:{HOUSE}");
    let house_pid = pid(&o, &house_id);
    // The default slots, all missed once: gap fill (two slots, one run) and the pipeline.
    let before = wait_runs(&o, 3);

    // The gap fill read the rows through the read path and wrote effective_temp onto them.
    let rows = o.query("heating_system", &[]);
    let with_eff: Vec<&Value> = rows
        .iter()
        .filter(|r| r["fields"]["effective_temp"].is_f64())
        .collect();
    assert!(!with_eff.is_empty(), "no row got an effective_temp");
    assert!(with_eff
        .iter()
        .all(|r| r["fields"]["room_temperature"].is_f64()));
    assert_eq!(o.query("energy_separated", &[]).len(), 10);

    let crashed = pid(&o, &analytics);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(crashed as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let n = o.query("heating_system", &[]).len();
    wait_for(T, "the analytics worker back", || {
        o.worker(&analytics)
            .filter(|w| w["state"] == "running" && w["pid"].as_i64() != Some(crashed))
    });
    wait_for(T, "heating rows after the crash", || {
        (o.query("heating_system", &[]).len() > n + 1).then_some(())
    });
    let house_after = o.worker(&house_id).unwrap();
    assert_eq!(house_after["pid"].as_i64(), Some(house_pid));
    assert_eq!(house_after["restarts"], 0);
    assert_eq!(runs(&o), before, "the restarted analytics reran a slot");
}
