//! Heat-curve control end to end: the real orchestrator, house and controller workers, the
//! HomeSide simulator's house model and the SMHI simulator, on a simulated clock 1200 times
//! faster than real time, starting where the SMHI forecast rises by a warm spell (so the §7a
//! reduction enters). The test reads the substation as a user would, through the HomeSide API.

use std::time::Duration;

use hemflux_e2e::homeside::{login_env, Client};
use hemflux_e2e::{wait_for, Orchestrator, Sim, FAST_SUPERVISOR};
use serde_json::{json, Value};

const HOUSE: &str = "HEM_FJV_Villa_1";
const USER: &str = "FC1000000001";
const PASSWORD: &str = "ctl-pw-Vb82-never-logged";
const AT: &str = "59.33,18.07";
const MAX_SUPPLY: f64 = 50.0;
/// Simulated seconds per real second: 20 simulated minutes.
const SCALE: &str = "1200";

/// The first January noon whose SMHI forecast rises by at least 4 °C over 72 h.
fn warm_spell_clock() -> String {
    let http = reqwest::blocking::Client::new();
    for day in 1..=60 {
        let clock = jiff::Timestamp::from_second(1_767_268_800 + day * 86_400)
            .unwrap()
            .to_string();
        let smhi = Sim::start("smhi", &["--clock", &clock]);
        let url = format!(
            "{}/api/category/snow1g/version/1/geotype/point/lon/18.070000/lat/59.330000/data.json",
            smhi.address
        );
        let doc: Value = http.get(url).send().unwrap().json().unwrap();
        let now: jiff::Timestamp = clock.parse().unwrap();
        let temps: Vec<f64> = doc["timeSeries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| {
                let t: jiff::Timestamp = s["time"].as_str().unwrap().parse().unwrap();
                t > now && (t - now).get_seconds() <= 72 * 3600
            })
            .filter_map(|s| s["data"]["air_temperature"].as_f64())
            .collect();
        if temps.len() > 2 && temps[temps.len() - 1] - temps[0] >= 4.0 {
            return clock;
        }
    }
    panic!("no warm spell in the SMHI simulator's first 60 days of 2026");
}

/// The two simulators on one clock, and an orchestrator whose profile puts the house under
/// control (`enabled` as given).
struct Rig {
    _smhi: Sim,
    homeside: Sim,
    o: Orchestrator,
    /// The user's curve, read before hemflux started.
    baseline: Vec<f64>,
    reduction_hours: f64,
}

impl Rig {
    /// `reduction_hours` are simulated: 3 real seconds each.
    fn start(enabled: bool, reduction_hours: f64) -> Rig {
        let clock = warm_spell_clock();
        let smhi = Sim::start("smhi", &["--clock", &clock, "--time-scale", SCALE]);
        let house = format!("{HOUSE}:{USER}:{PASSWORD}");
        let homeside = Sim::start(
            "homeside",
            &[
                "--house",
                &house,
                "--house-model-at",
                AT,
                "--clock",
                &clock,
                "--time-scale",
                SCALE,
                "--sample-secs",
                "60",
                "--warmup-reads",
                "0",
            ],
        );
        // The house worker restores the curve as it stops: give it the default stop grace.
        let supervisor = FAST_SUPERVISOR.replace("stop_grace_ms = 1000", "stop_grace_ms = 3000");
        let o = Orchestrator::with_settings(&format!(
            "{supervisor}\n[weather]\nenabled = false\nforecast_url = \"{}/api/category/snow1g/version/1\"\n",
            smhi.address
        ))
        .start();
        std::fs::write(
            o.path(".env"),
            login_env(HOUSE, USER, PASSWORD, &homeside.address),
        )
        .unwrap();
        let baseline = Client::login(&homeside.address, (HOUSE, USER, PASSWORD)).curve();
        let rig = Rig {
            _smhi: smhi,
            homeside,
            o,
            baseline,
            reduction_hours,
        };
        rig.write_profile(enabled);
        rig
    }

    /// The substation's curve, `Adaption` and room temperature. HomeSide keeps one BMS token per
    /// house, so while the house worker runs the test reads through it (`observe`, the read the
    /// controller makes), and logs in itself only when no house worker is there; `None` while
    /// one is starting or stopping.
    fn device(&self) -> Option<(Vec<f64>, bool, f64)> {
        let workers = self
            .o
            .get("/api/workers")
            .ok()
            .and_then(|t| serde_json::from_str::<Vec<Value>>(&t).ok());
        let house = workers
            .iter()
            .flatten()
            .find(|w| w["id"] == format!("house:{HOUSE}"));
        let now: Value = match house {
            None => {
                let vars = Client::login(&self.homeside.address, (HOUSE, USER, PASSWORD)).read();
                let value = |short: &str| vars.get(short).map(|(_, v)| v.clone());
                json!({
                    "curve": (1..=10)
                        .map(|i| value(&format!("KU_VS1_GT_TILL_1_CurveAdaptation_Y_{i}")))
                        .collect::<Option<Vec<Value>>>()?,
                    "adaption": value("KU_VS1_GT_TILL_1_Adaption")?,
                    "room": value("MEAN_GT_RUM_1_Output")?,
                })
            }
            Some(w) if w["state"] == "running" => {
                let reply: Value = reqwest::blocking::Client::new()
                    .post(self.o.url(&format!("/api/workers/house:{HOUSE}/command")))
                    .bearer_auth(self.o.token())
                    .json(&json!({"name": "observe"}))
                    .timeout(Duration::from_secs(30))
                    .send()
                    .ok()?
                    .json()
                    .ok()?;
                serde_json::from_str(reply["message"].as_str()?).ok()?
            }
            Some(_) => return None,
        };
        let curve = now["curve"].as_array()?;
        Some((
            curve.iter().map(|v| v.as_f64().unwrap()).collect(),
            now["adaption"].as_bool()?,
            now["room"].as_f64()?,
        ))
    }

    /// `kill -9` of the orchestrator; returns once its house worker is gone too (it exits by
    /// its stop deadline, 8 s at the latest; about 2 s, its curve restore, in practice).
    fn kill9_orchestrator(&mut self) {
        let house = self.o.worker(&format!("house:{HOUSE}")).unwrap();
        let pid = house["pid"].as_i64().unwrap() as i32;
        self.o.kill9();
        let killed = std::time::Instant::now();
        while hemflux_e2e::alive(pid) {
            assert!(
                killed.elapsed() < Duration::from_secs(20),
                "the house worker {pid} outlived its orchestrator by 20 s:\n{}\n{}",
                post_mortem(pid),
                self.o.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "house worker {pid} gone {:?} after the orchestrator's kill -9",
            killed.elapsed()
        );
    }

    fn write_profile(&self, enabled: bool) {
        self.write_profile_with(Some(json!({
            "enabled": enabled, "mode": "reduction", "target": 20.0, "tolerance": 1.5,
            "max_supply_temp": MAX_SUPPLY,
            "reduction_hours": self.reduction_hours, "poll_interval_secs": 1,
            "forecast_interval_secs": 5,
        })));
    }

    fn write_profile_with(&self, control: Option<Value>) {
        let mut profile = json!({
            "name": "Villa 1",
            "location": {"lat": 59.33, "lon": 18.07},
            "homeside": {
                "base_url": self.homeside.address, "poll_interval_secs": 5, "timeout_secs": 10,
                "pending_retry_ms": 200, "retry_initial_ms": 100,
            },
        });
        if let Some(control) = control {
            profile["heat_curve_control"] = control;
        }
        self.o
            .write_profile(&format!("{HOUSE}.json"), &profile.to_string());
    }

    fn adjustments(&self, action: &str) -> Vec<Value> {
        self.o
            .query("heat_curve_adjustment", &[])
            .into_iter()
            .filter(|p| p["tags"]["action"] == action)
            .collect()
    }

    /// Waits for a lowered curve; returns it with its lowered points and the room temperature.
    fn wait_lowered(&self, timeout: Duration) -> (Vec<f64>, Vec<(usize, f64)>, f64) {
        wait_for(timeout, "a lowered curve on the substation", || {
            let (curve, adaption, room) = self.device()?;
            let lowered = reduced(&curve, &self.baseline);
            if lowered.is_empty() {
                return None;
            }
            assert!(!adaption, "Adaption is on under a lowered curve");
            Some((curve, lowered, room))
        })
    }

    /// Waits for the user's curve with `Adaption` on again.
    fn wait_baseline(&self, timeout: Duration, what: &str) {
        wait_for(timeout, what, || {
            let (curve, adaption, _) = self.device()?;
            (same(&curve, &self.baseline) && adaption).then_some(())
        });
    }

    fn controller_pid(&self) -> i32 {
        let w = self.o.wait_state(
            &format!("controller:{HOUSE}"),
            "running",
            Duration::from_secs(30),
        );
        w["pid"].as_i64().unwrap() as i32
    }

    /// Every `heat_curve_baseline` ever recorded is the user's curve: never a lowered one.
    fn assert_baselines_are_the_users(&self) {
        let baseline = &self.baseline;
        let saved = self.o.query("heat_curve_baseline", &[]);
        assert!(!saved.is_empty());
        for p in saved {
            let curve: Vec<f64> = (1..=10)
                .map(|i| p["fields"][format!("y_{i}")].as_f64().unwrap())
                .collect();
            assert!(same(&curve, baseline), "baseline {curve:?} vs {baseline:?}");
        }
    }
}

fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 0.05)
}

/// The points hemflux lowered by more than 0.5 °C (a point the clamp raises to room + 2 moves
/// with the room).
fn reduced(curve: &[f64], baseline: &[f64]) -> Vec<(usize, f64)> {
    curve
        .iter()
        .zip(baseline)
        .enumerate()
        .filter(|(_, (c, b))| **c < **b - 0.5)
        .map(|(i, (c, _))| (i, *c))
        .collect()
}

/// What a process that should be gone is doing: its status, each thread's state and wait
/// channel, and which other processes hold its pipes (a pipe held open elsewhere never reaches
/// EOF, and a full one blocks its writer).
fn post_mortem(pid: i32) -> String {
    let read = |path: String| std::fs::read_to_string(path).unwrap_or_default();
    let links = |pid: &str| -> Vec<(String, String)> {
        let dir = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten();
        dir.flatten()
            .filter_map(|fd| {
                let target = std::fs::read_link(fd.path()).ok()?;
                Some((
                    fd.file_name().to_string_lossy().into(),
                    target.display().to_string(),
                ))
            })
            .collect()
    };
    let mut out = read(format!("/proc/{pid}/status"));
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let t = task.path().display().to_string();
        let stat = read(format!("{t}/stat"));
        let state = hemflux_e2e::state_in_stat(&stat).unwrap_or("?");
        let wchan = read(format!("{t}/wchan"));
        out += &format!("thread {t}: {state} in {wchan}\n");
    }
    let others: Vec<String> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .map(|p| p.file_name().to_string_lossy().into_owned())
        .filter(|p| p.parse::<i32>().is_ok_and(|p| p != pid))
        .collect();
    for (fd, pipe) in links(&pid.to_string())
        .into_iter()
        .filter(|(_, t)| t.starts_with("pipe:"))
    {
        let holders: Vec<String> = others
            .iter()
            .filter(|p| links(p).iter().any(|(_, t)| *t == pipe))
            .map(|p| format!("{p} ({})", read(format!("/proc/{p}/comm")).trim()))
            .collect();
        out += &format!("fd {fd}: {pipe}, also held by {holders:?}\n");
    }
    out
}

fn kill9(pid: i32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
}

#[test]
fn a_reduction_ahead_of_a_warm_spell_is_written_clamped_and_restored() {
    let rig = Rig::start(true, 6.0);
    let (curve, _, room) = rig.wait_lowered(Duration::from_secs(60));
    for v in &curve {
        // The room read then, to the sensor's 0.1 °C and a write's 0.1 °C.
        assert!(
            *v >= room + 2.0 - 0.2 && *v <= MAX_SUPPLY,
            "{v} outside the clamp (room {room})"
        );
    }
    // Recorded once written.
    let reduce = wait_for(Duration::from_secs(10), "the reduction recorded", || {
        rig.adjustments("reduce").into_iter().next()
    });
    assert_eq!(reduce["fields"]["dry_run"], false, "{reduce}");
    assert!(reduce["fields"]["forecast_change"].as_f64().unwrap() >= 2.0);

    // The reduction ends after its simulated hours, with the user's curve written back.
    let restore = wait_for(Duration::from_secs(60), "the reduction's restore", || {
        rig.adjustments("restore").into_iter().next()
    });
    assert_eq!(
        restore["fields"]["reason"], "reduction expired",
        "{restore}"
    );
    let restored: Vec<f64> = (1..=10)
        .map(|i| restore["fields"][format!("point_{i}")].as_f64().unwrap())
        .collect();
    assert!(
        same(&restored, &rig.baseline),
        "{restored:?} vs {:?}",
        rig.baseline
    );
    rig.assert_baselines_are_the_users();

    // Turning control off puts the user's curve (and Adaption) back, whatever phase it was in.
    rig.write_profile(false);
    rig.wait_baseline(Duration::from_secs(30), "the user's curve back");
    let t = rig.o.query("thermal_history", &[]);
    assert!(t.iter().all(|p| p["tags"]["house_id"] == HOUSE) && !t.is_empty());
    assert!(!rig.o.log().contains(PASSWORD));
}

#[test]
fn restarts_mid_reduction_never_ratchet_the_curve_down() {
    let mut rig = Rig::start(true, 48.0);
    let (_, lowered, _) = rig.wait_lowered(Duration::from_secs(60));

    // kill -9 the controller: it starts again from its saved state and resumes the reduction.
    let pid = rig.controller_pid();
    kill9(pid);
    wait_for(Duration::from_secs(30), "the controller restarted", || {
        (rig.controller_pid() != pid).then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let resumed = reduced(&rig.device().unwrap().0, &rig.baseline);
    assert_eq!(resumed, lowered, "resumed, not lowered again");

    // kill -9 the orchestrator: the house worker, left without it, puts the user's curve back...
    rig.kill9_orchestrator();
    rig.wait_baseline(
        Duration::from_secs(20),
        "the curve restored as hemflux died",
    );
    // ...and the next run resumes the same reduction from the same baseline.
    rig.o.restart();
    let (_, again, _) = rig.wait_lowered(Duration::from_secs(60));
    assert_eq!(again, lowered);
    rig.assert_baselines_are_the_users();
}

#[test]
fn kill_9_then_offboarding_leaves_the_users_curve() {
    let rig = Rig::start(true, 48.0);
    rig.wait_lowered(Duration::from_secs(60));
    kill9(rig.controller_pid());
    std::fs::remove_file(rig.o.path(&format!("profiles/{HOUSE}.json"))).unwrap();
    rig.o
        .wait_gone(&format!("house:{HOUSE}"), Duration::from_secs(20));
    rig.wait_baseline(
        Duration::from_secs(10),
        "the user's curve after offboarding",
    );
}

#[test]
fn removing_control_from_the_profile_puts_the_users_curve_back() {
    let rig = Rig::start(true, 48.0);
    rig.wait_lowered(Duration::from_secs(60));
    rig.write_profile_with(None);
    rig.o
        .wait_gone(&format!("controller:{HOUSE}"), Duration::from_secs(20));
    rig.wait_baseline(
        Duration::from_secs(20),
        "the user's curve, the house still polled",
    );
    rig.o
        .wait_state(&format!("house:{HOUSE}"), "running", Duration::from_secs(5));
}

#[test]
fn with_control_off_it_records_what_it_would_write_and_writes_nothing() {
    let rig = Rig::start(false, 6.0);
    let would = wait_for(Duration::from_secs(60), "a dry-run reduction", || {
        rig.adjustments("reduce").into_iter().next()
    });
    assert_eq!(would["fields"]["dry_run"], true, "{would}");
    for _ in 0..10 {
        let (curve, adaption, _) = rig.device().unwrap();
        assert!(same(&curve, &rig.baseline) && adaption);
        std::thread::sleep(Duration::from_millis(500));
    }
}
