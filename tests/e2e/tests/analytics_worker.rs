//! The `analytics` worker kind in the whole orchestrator (real `hemflux run`, real worker
//! processes, the real store): its schedule survives restarts of the worker and of the
//! orchestrator (nothing runs twice, nothing is skipped), it reads the house's history through
//! the read path and writes its records through the protocol, and its crash leaves collection
//! alone; weather gaps are refilled from the SMHI simulator's nearest station, and a new weather
//! forecast gets an energy forecast without waiting for a slot. Slots are set a few seconds
//! ahead on the local wall clock rather than waited for. A failing task backs off, and a weather
//! gap SMHI has no data for is reported once across restarts (the worker alone, its store
//! played by the test).

use std::collections::BTreeMap;
use std::time::Duration;

use hemflux_analytics::energy::effective::Coefficients;
use hemflux_analytics::energy::synthetic::{generate, HouseSpec};
use hemflux_e2e::fake_orchestrator::FakeOrchestrator;
use hemflux_e2e::{wait_for, Orchestrator, Sim};
use hemflux_shared::point::write_line_protocol;
use hemflux_shared::Point;
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

/// A profile in `TZ` at (lat, lon) whose analytics run each (task, local time) daily.
fn analytics_profile((lat, lon): (f64, f64), schedule: &[(&str, &str)]) -> String {
    let schedule: Vec<Value> = schedule
        .iter()
        .map(|(task, at)| json!({"task": task, "at": at}))
        .collect();
    json!({"timezone": TZ, "location": {"lat": lat, "lon": lon},
        "analytics": {"schedule": schedule}})
    .to_string()
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

/// Waits until the local day has over three minutes left, so that the slots fall on one day.
fn clear_of_midnight() {
    let tz = TimeZone::get(TZ).unwrap();
    let now = Timestamp::now().to_zoned(tz);
    let midnight = now.tomorrow().unwrap().start_of_day().unwrap().timestamp();
    let left = midnight.duration_since(now.timestamp());
    if left < SignedDuration::from_secs(200) {
        std::thread::sleep(left.unsigned_abs() + Duration::from_secs(1));
    }
}

#[test]
fn restarts_mid_schedule_neither_rerun_nor_skip_a_slot() {
    clear_of_midnight();
    let mut o = Orchestrator::new("").start();
    let (gap_at, gap_ns) = slot_in(10);
    let (pipe_at, pipe_ns) = slot_in(24);
    let profile = analytics_profile(
        (59.33, 18.07),
        &[("gap_fill", &gap_at), ("energy_pipeline", &pipe_at)],
    );
    o.write_profile("villa_s.json", &profile);
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

/// `hemflux import` of line protocol into the orchestrator's store (running or not).
fn import(o: &Orchestrator, points: &[Point]) {
    let mut buf = Vec::new();
    write_line_protocol(points, &mut buf);
    o.import_lines("history.lp", &String::from_utf8(buf).unwrap());
}

fn ns(t: Timestamp) -> i64 {
    t.as_nanosecond() as i64
}

/// The time of a point `hemflux query --format json` printed (RFC 3339), in ns.
fn time_ns(p: &Value) -> i64 {
    ns(p["time"].as_str().unwrap().parse().unwrap())
}

/// The hours missing from the imported weather: 40 to 35 hours before the current hour, so
/// that they are older than SMHI's `latest-day` and more than 3 hours long (longer than the
/// as-of join bridges).
const HOLE: std::ops::RangeInclusive<i64> = 35..=40;

/// The simulator's observations of one parameter at one station: epoch ms to value.
fn sim_series(sim: &Sim, parameter: u32, station: u32) -> BTreeMap<i64, f64> {
    let url = format!(
        "{}/api/version/latest/parameter/{parameter}/station/{station}/period/latest-months/data.json",
        sim.address
    );
    let doc: Value = reqwest::blocking::get(url).unwrap().json().unwrap();
    doc["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let v: f64 = r["value"].as_str().unwrap().parse().unwrap();
            (r["date"].as_i64().unwrap(), (v * 100.0).round() / 100.0)
        })
        .collect()
}

#[test]
fn weather_gaps_are_refilled_from_the_nearest_active_station_after_an_outage_and_once() {
    clear_of_midnight();
    // SMHI answers the first request (the first run's station list) with 500, then recovers.
    let sim = Sim::start(
        "smhi",
        &["--missing-hours-percent", "0", "--fail-first", "1"],
    );
    // Weather on (its URLs are the simulator's), but the weather worker fetches nothing itself.
    let o = Orchestrator::new(&format!(
        "[weather]\nobservations_url = \"{0}/api/version/latest\"\n\
         forecast_url = \"{0}/api/category/snow1g/version/1\"\n\
         observations = false\nforecasts = false\ntimeout_secs = 5\n",
        sim.address
    ));
    // 80 hours of hourly weather with a 6-hour hole, and 15-minute heating rows throughout.
    let hour = Timestamp::from_second(Timestamp::now().as_second() / 3600 * 3600).unwrap();
    let at = |h: i64| hour - SignedDuration::from_hours(h);
    let mut history = Vec::new();
    for h in 0..80 {
        if !HOLE.contains(&h) {
            history.push(
                Point::new("weather_observation", ns(at(h)))
                    .tag("house_id", "villa_g")
                    .tag("station_id", "62040")
                    .field("temperature", 2.0),
            );
        }
        for q in 0..4 {
            let t = at(h) + SignedDuration::from_mins(15 * q);
            if t <= Timestamp::now() {
                history.push(
                    Point::new("heating_system", ns(t))
                        .tag("house_id", "villa_g")
                        .field("room_temperature", 21.0),
                );
            }
        }
    }
    import(&o, &history);
    let o = o.start();
    let (first_at, first_ns) = slot_in(15);
    let (second_at, second_ns) = slot_in(30);
    // On top of the inactive Helsingborg station; Helsingborg A (active) is about 1 km away.
    let profile = analytics_profile(
        (56.0461, 12.6950),
        &[("gap_fill", &first_at), ("gap_fill", &second_at)],
    );
    o.write_profile("villa_g.json", &profile);
    let gap_filled = |o: &Orchestrator| -> Vec<Value> {
        o.query("weather_observation", &[])
            .into_iter()
            .filter(|p| p["tags"]["source"] == "gap_fill")
            .collect()
    };
    let hole_rows = |o: &Orchestrator| -> Vec<Value> {
        let (from, to) = (ns(at(*HOLE.end())), ns(at(*HOLE.start())));
        o.query("heating_system", &[])
            .into_iter()
            .filter(|p| (from..=to).contains(&time_ns(p)))
            .collect()
    };

    // The first start catches up on yesterday's two slots in one run: SMHI fails, nothing is
    // refilled, and the hole's later hours (over 3 h from any observation) get no T_eff.
    let first = wait_runs(&o, 2);
    assert!(first.iter().all(|r| r.1 < first_ns), "{first:?}");
    assert!(gap_filled(&o).is_empty(), "refilled during the outage");
    let late = ns(at(*HOLE.start() + 1) + SignedDuration::from_mins(15));
    let bare: Vec<i64> = hole_rows(&o)
        .iter()
        .filter(|r| !r["fields"]["effective_temp"].is_f64())
        .map(time_ns)
        .collect();
    assert!(bare.contains(&late), "{bare:?}");

    // The next slot: the hole is filled with the simulator's hours of the nearest active
    // station, tagged as the weather worker's catch-up tags them.
    sleep_until(first_ns);
    wait_runs(&o, 3);
    let filled = gap_filled(&o);
    let times: Vec<i64> = filled.iter().map(time_ns).collect();
    let expected: Vec<i64> = HOLE.rev().map(|h| ns(at(h))).collect();
    assert_eq!(times, expected);
    let series = [
        ("temperature", sim_series(&sim, 1, 62040)),
        ("wind_speed", sim_series(&sim, 4, 62040)),
        ("humidity", sim_series(&sim, 6, 62040)),
    ];
    for p in &filled {
        assert_eq!(p["tags"]["house_id"], "villa_g");
        assert_eq!(p["tags"]["station_id"], "62040");
        assert_eq!(p["tags"]["station_name"], "Helsingborg A");
        let km = p["fields"]["distance_km"].as_f64().unwrap();
        assert!((0.3..2.0).contains(&km), "{km}");
        let ms = time_ns(p) / 1_000_000;
        for (field, values) in &series {
            assert_eq!(
                p["fields"][field].as_f64(),
                Some(values[&ms]),
                "{field} at {ms}"
            );
        }
    }
    // Every heating row of those hours has T_eff now.
    let rows = hole_rows(&o);
    assert!(rows.len() >= 20, "{}", rows.len());
    assert!(
        rows.iter().all(|r| r["fields"]["effective_temp"].is_f64()),
        "{rows:?}"
    );

    // The slot after writes nothing new.
    sleep_until(second_ns);
    let all = wait_runs(&o, 4);
    let last = o
        .query("analytics_run", &[])
        .into_iter()
        .find(|p| p["fields"]["occurrence"].as_i64() == Some(second_ns))
        .unwrap_or_else(|| panic!("no run for the second slot: {all:?}"));
    assert_eq!(last["fields"]["points"], 0, "{last}");
    assert_eq!(gap_filled(&o).len(), HOLE.count());
}

#[test]
fn a_new_weather_forecast_gets_an_energy_forecast_without_waiting_for_a_slot() {
    // 45 days of a synthetic villa, so that the first pipeline run fits a k.
    let o = Orchestrator::new("");
    let tz = TimeZone::get(TZ).unwrap();
    let now = Timestamp::now();
    let house = generate(
        &HouseSpec::default(),
        &Coefficients::default(),
        &tz,
        now - SignedDuration::from_hours(24 * 45),
        now,
    );
    let tagged = |m: &str, t: Timestamp| Point::new(m, ns(t)).tag("house_id", "villa_f");
    let mut history: Vec<Point> = house
        .meter
        .iter()
        .map(|h| {
            tagged("energy_meter", h.start)
                .tag("meter_id", "heat")
                .field("consumption", h.kwh)
        })
        .collect();
    for r in &house.heating {
        let mut p = tagged("heating_system", r.time);
        if let Some(t) = r.indoor_c {
            p = p.field("room_temperature", t);
        }
        if let Some(t) = r.hot_water_c {
            p = p.field("hot_water_temp", t);
        }
        history.push(p);
    }
    for w in &house.weather {
        history.push(tagged("weather_observation", w.time).field("temperature", w.temp_c));
    }
    import(&o, &history);
    let o = o.start();
    // The pipeline slot was an hour ago: it runs once at the first start, then not for a day.
    let (pipe_at, _) = slot_in(-3600);
    let profile = analytics_profile((59.33, 18.07), &[("energy_pipeline", &pipe_at)]);
    o.write_profile("villa_f.json", &profile);
    let first = wait_runs(&o, 1);
    let fits = o.query("k_value_history", &[]);
    assert!(
        fits.iter().any(|p| p["fields"]["usable"] == 1),
        "no usable k: {fits:?}"
    );
    assert!(
        o.query("energy_forecast", &[]).is_empty(),
        "a forecast without weather"
    );

    // The weather worker's forecast arrives (here imported as it writes it).
    let issued = Timestamp::now();
    let mut forecast = vec![tagged("weather_forecast", issued)
        .tag("trend", "stable")
        .field("current_temp", -4.0)];
    for h in 1..=72 {
        let t = Timestamp::from_second((issued.as_second() / 3600 + h) * 3600).unwrap();
        forecast.push(
            tagged("weather_forecast_hourly", t)
                .field("temperature", -4.0 - (h as f64) / 10.0)
                .field("wind_speed", 3.0),
        );
    }
    import(&o, &forecast);
    let points = wait_for(Duration::from_secs(50), "an energy forecast", || {
        let p = o.query("energy_forecast", &[]);
        (p.len() >= 70).then_some(p)
    });
    assert!(points.iter().all(|p| p["tags"]["house_id"] == "villa_f"));
    assert!(points.iter().all(|p| time_ns(p) > ns(issued)));
    // Every hour carries at least the base load.
    assert!(points
        .iter()
        .all(|p| p["fields"]["total_energy_kwh"].as_f64().unwrap() > 0.0));
    assert_eq!(runs(&o), first, "a pipeline slot ran for it");
}

/// The store as one analytics worker sees it, played by the test: each query is answered with
/// the points of `weather` in its range (other measurements have none), or refused while
/// `refuse`; batches are acked and their checkpoint kept.
struct Store {
    weather: Vec<Point>,
    refuse: bool,
    state: Option<Value>,
    /// Every status and error so far: (type, text).
    said: Vec<(String, String)>,
}

impl Store {
    fn new(weather: Vec<Point>) -> Store {
        Store {
            weather,
            refuse: false,
            state: None,
            said: Vec::new(),
        }
    }

    /// Serves `fake` until a `kind` message containing `needle`; returns its text.
    fn until(&mut self, fake: &mut FakeOrchestrator, kind: &str, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(
                !left.is_zero(),
                "no {kind} with {needle:?}: {:?}",
                self.said
            );
            let msg = fake.next_unanswered(left);
            match msg["type"].as_str().unwrap() {
                "query" => fake.send(self.answer(&msg)),
                "points" => {
                    if !msg["state"].is_null() {
                        self.state = Some(msg["state"].clone());
                    }
                    fake.send(json!({"type": "ack", "seq": msg["seq"]}));
                }
                said @ ("status" | "error") => {
                    let text = msg["message"].as_str().unwrap().to_string();
                    self.said.push((said.into(), text.clone()));
                    if said == kind && text.contains(needle) {
                        return text;
                    }
                }
                _ => {}
            }
        }
    }

    fn answer(&self, msg: &Value) -> Value {
        let (id, q) = (&msg["id"], &msg["query"]);
        if self.refuse {
            return json!({"type": "query_result", "id": id, "error": "the store is unreachable"});
        }
        let (from, to) = (q["from"].as_i64().unwrap(), q["to"].as_i64().unwrap());
        let points: Vec<&Point> = match q["measurement"].as_str() {
            Some("weather_observation") => self
                .weather
                .iter()
                .filter(|p| (from..to).contains(&p.time))
                .collect(),
            _ => Vec::new(),
        };
        json!({"type": "query_result", "id": id, "points": points})
    }

    fn errors(&self) -> Vec<&str> {
        let errors = self.said.iter().filter(|(kind, _)| kind == "error");
        errors.map(|(_, text)| text.as_str()).collect()
    }
}

/// The init of `analytics:<id>` at Helsingborg, its gap fill daily at `at`, with weather (and
/// so the SMHI refill) from `smhi` if given.
fn analytics_init(id: &str, at: &str, smhi: Option<&Sim>) -> Value {
    let mut config = json!({"entity_id": id, "entity_tag": "house_id", "timezone": TZ,
        "location": {"lat": 56.0461, "lon": 12.6950}, "poll_interval_secs": 300,
        "analytics": {"schedule": [{"task": "gap_fill", "at": at}]}});
    if let Some(sim) = smhi {
        config["weather"] = json!({
            "observations_url": format!("{}/api/version/latest", sim.address),
            "forecast_url": format!("{}/api/category/snow1g/version/1", sim.address),
            "timeout_secs": 5});
    }
    json!({"config": config})
}

/// The seconds of "next try in N s" in a worker's error.
fn next_try_secs(error: &str) -> u64 {
    let rest = error
        .split("next try in ")
        .nth(1)
        .unwrap_or_else(|| panic!("{error}"));
    rest.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_failing_task_backs_off_doubling_and_a_success_resets_the_backoff() {
    clear_of_midnight();
    // Yesterday's occurrence is due at start; today's comes after the retries below (at most
    // 33 + 66 s with jitter).
    let (slot_at, slot_ns) = slot_in(150);
    let id = "analytics:villa_r";
    let mut fake = FakeOrchestrator::start(
        "analytics",
        id,
        analytics_init("villa_r", &slot_at, None),
        &[],
    );
    let mut store = Store::new(Vec::new());
    store.refuse = true;

    let first = store.until(&mut fake, "error", "next try in");
    assert!(first.contains("the store is unreachable"), "{first}");
    assert!((30..=33).contains(&next_try_secs(&first)), "{first}");
    let second = store.until(&mut fake, "error", "next try in");
    assert!((60..=66).contains(&next_try_secs(&second)), "{second}");

    // The store is back: the retry runs the slot, and it says no error.
    store.refuse = false;
    let ran = store.until(&mut fake, "status", " ran at ");
    assert!(ran.starts_with(&format!("gap_fill@{slot_at}")), "{ran}");
    assert_eq!(store.errors().len(), 2, "{:?}", store.said);
    let now = Timestamp::now().as_nanosecond() as i64;
    assert!(
        now < slot_ns,
        "the retries took past today's slot: {:?}",
        store.said
    );

    // Today's slot fails again: the backoff starts afresh at 30 s.
    store.refuse = true;
    let third = store.until(&mut fake, "error", "next try in");
    assert!(Timestamp::now().as_nanosecond() as i64 >= slot_ns);
    assert!((30..=33).contains(&next_try_secs(&third)), "{third}");
}

#[test]
fn a_weather_gap_smhi_has_no_data_for_is_reported_once_across_restarts() {
    // SMHI has no rows at all: every gap stays.
    let sim = Sim::start("smhi", &["--missing-hours-percent", "100"]);
    let hour = Timestamp::from_second(Timestamp::now().as_second() / 3600 * 3600).unwrap();
    let at = |h: i64| hour - SignedDuration::from_hours(h);
    let weather = |holes: &[std::ops::RangeInclusive<i64>]| -> Vec<Point> {
        (0..80)
            .filter(|h| !holes.iter().any(|r| r.contains(h)))
            .map(|h| {
                Point::new("weather_observation", ns(at(h)))
                    .tag("house_id", "villa_n")
                    .tag("station_id", "62040")
                    .field("temperature", 2.0)
            })
            .collect()
    };
    let said_gap =
        |from: i64, to: i64| format!("weather gap {} to {}: SMHI has no", at(from), at(to));
    let old_gap = said_gap(*HOLE.end() + 1, *HOLE.start() - 1);

    // Any time of day is due at start: its last occurrence has not run.
    let mut fake = FakeOrchestrator::start(
        "analytics",
        "analytics:villa_n",
        analytics_init("villa_n", "03:00", Some(&sim)),
        &[],
    );
    let mut store = Store::new(weather(&[HOLE]));
    store.until(&mut fake, "status", &old_gap);
    store.until(&mut fake, "status", " ran at ");
    let state = store.state.clone().expect("a checkpoint");
    assert_eq!(
        state["gaps_reported"].as_array().map(Vec::len),
        Some(1),
        "{state}"
    );
    fake.kill9();

    // A new process from the checkpoint, a second slot (due at once) and a second hole: only
    // the new hole is reported.
    let mut init = analytics_init("villa_n", "03:00:01", Some(&sim));
    init["state"] = state;
    let mut fake = FakeOrchestrator::start("analytics", "analytics:villa_n", init, &[]);
    let mut store = Store::new(weather(&[HOLE, 10..=14]));
    store.until(&mut fake, "status", &said_gap(15, 9));
    store.until(&mut fake, "status", " ran at ");
    let gaps: Vec<&String> = store
        .said
        .iter()
        .map(|(_, text)| text)
        .filter(|t| t.contains("SMHI has no observations"))
        .collect();
    assert_eq!(gaps.len(), 1, "{:?}", store.said);
    assert!(store.errors().is_empty(), "{:?}", store.said);
}
