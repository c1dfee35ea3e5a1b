//! The spine end to end: real `hemflux run`, real `hemflux-worker` subprocesses, real pipes and
//! files. Each test has its own folder and port.

use std::collections::BTreeMap;
use std::time::Duration;

use hemflux_e2e::{alive, stdout_of, wait_for, Orchestrator};

const T: Duration = Duration::from_secs(20);

fn synthetic(extra: &str) -> String {
    format!(r#"{{"synthetic": {{"interval_ms": 100{extra}}}}}"#)
}

fn pid(w: &serde_json::Value) -> i64 {
    w["pid"].as_i64().expect("a running worker has a pid")
}

#[test]
fn drop_edit_break_and_delete_a_profile() {
    let o = Orchestrator::new("").start();
    o.write_profile("villa.json", &synthetic(""));
    let first = o.wait_state("synthetic:villa", "running", T);
    assert_eq!(first["kind"], "synthetic");
    wait_for(T, "points from the worker", || {
        (o.worker("synthetic:villa")?["points"].as_u64()? > 2).then_some(())
    });

    // Edit: the worker restarts on the new config.
    o.write_profile("villa.json", &synthetic(r#", "points_per_batch": 3"#));
    let second = wait_for(T, "a new pid after the edit", || {
        o.worker("synthetic:villa")
            .filter(|w| w["state"] == "running" && w["pid"].as_i64() != Some(pid(&first)))
    });
    assert!(!alive(pid(&first) as i32), "the old process is gone");

    // A broken edit keeps the running worker, and the error is reported with file and line.
    o.write_profile("villa.json", r#"{"synthetic": {"interval_ms": 100,"#);
    wait_for(T, "the config error", || {
        let errors: Vec<String> = serde_json::from_str(&o.get("/api/errors").ok()?).ok()?;
        errors.iter().find(|e| e.contains("villa.json:1:")).cloned()
    });
    let still = o.worker("synthetic:villa").unwrap();
    assert_eq!(
        pid(&still),
        pid(&second),
        "a half-saved file must not restart or stop the worker"
    );
    assert_eq!(still["state"], "running");

    // Stored points are really in the store.
    let points = o.query("synthetic", &["--tag", "house_id=villa"]);
    assert!(points.len() >= 3, "{} points stored", points.len());

    std::fs::remove_file(o.path("profiles/villa.json")).unwrap();
    o.wait_gone("synthetic:villa", T);
    wait_for(T, "the old process to exit", || {
        (!alive(pid(&second) as i32)).then_some(())
    });
}

#[test]
fn a_crash_loop_backs_off_then_fails_and_restart_revives_it() {
    let o = Orchestrator::new("").start();
    o.write_profile("crashy.json", &synthetic(r#", "exit_after_ms": 50"#));
    let mut starts = BTreeMap::new();
    let failed = wait_for(Duration::from_secs(30), "the failed state", || {
        let w = o.worker("synthetic:crashy")?;
        if let Some(p) = w["pid"].as_i64() {
            starts.entry(p).or_insert_with(std::time::Instant::now);
        }
        (w["state"] == "failed").then_some(w)
    });
    assert_eq!(failed["restarts"], 5, "{failed}");
    assert!(
        failed["last_error"].as_str().unwrap().contains("status 3"),
        "{failed}"
    );
    // Delays double (200, 400, 800, 1600 ms with up to 25% jitter): the run took well over 2.5 s.
    let (first, last) = (
        starts.values().min().unwrap(),
        starts.values().max().unwrap(),
    );
    assert!(
        last.duration_since(*first) >= Duration::from_millis(2500),
        "restarts were not backed off: {:?}",
        last.duration_since(*first)
    );

    let data = o.path("data");
    stdout_of(o.cli(&[
        "restart",
        "synthetic:crashy",
        "--data",
        data.to_str().unwrap(),
    ]));
    wait_for(T, "a restart out of failed", || {
        o.worker("synthetic:crashy")
            .filter(|w| w["state"] != "failed")
    });
}

#[test]
fn a_silent_worker_is_killed_and_restarted() {
    let o = Orchestrator::new("").start();
    o.write_profile("quiet.json", &synthetic(r#", "hang_after_ms": 200"#));
    let first = o.wait_state("synthetic:quiet", "running", T);
    let w = wait_for(T, "a restart after missed heartbeats", || {
        o.worker("synthetic:quiet")
            .filter(|w| w["restarts"].as_u64() >= Some(1))
    });
    assert!(
        w["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("missed three heartbeats (killed by signal 9)"),
        "{w}"
    );
    assert!(!alive(pid(&first) as i32));
    assert!(o.log().contains("missed three heartbeats"));
}

#[test]
fn kill_9_of_the_orchestrator_leaves_no_worker_alive() {
    let mut o = Orchestrator::new("").start();
    for i in 0..5 {
        o.write_profile(&format!("h{i}.json"), &synthetic(""));
    }
    let pids: Vec<i32> = wait_for(T, "5 running workers", || {
        let ws = o.workers();
        (ws.iter().filter(|w| w["state"] == "running").count() == 5)
            .then(|| ws.iter().map(|w| pid(w) as i32).collect())
    });
    o.kill9();
    wait_for(Duration::from_secs(5), "every worker to exit", || {
        pids.iter().all(|p| !alive(*p)).then_some(())
    });
}

#[test]
fn sigterm_stops_200_workers_within_8_seconds() {
    let mut o = Orchestrator::new("").start();
    for i in 0..200 {
        o.write_profile(
            &format!("h{i:03}.json"),
            r#"{"synthetic": {"interval_ms": 2000}}"#,
        );
    }
    let pids: Vec<i32> = wait_for(Duration::from_secs(60), "200 running workers", || {
        let ws = o.workers();
        (ws.iter().filter(|w| w["state"] == "running").count() == 200)
            .then(|| ws.iter().map(|w| pid(w) as i32).collect())
    });
    let (status, took) = o.terminate();
    assert!(status.success(), "exit status {status}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert!(pids.iter().all(|p| !alive(*p)), "a worker survived");
}

#[test]
fn editing_one_of_50_files_restarts_only_that_worker() {
    let o = Orchestrator::new("").start();
    for i in 0..50 {
        o.write_profile(
            &format!("h{i:02}.json"),
            r#"{"synthetic": {"interval_ms": 1000}}"#,
        );
    }
    let before: BTreeMap<String, i64> =
        wait_for(Duration::from_secs(40), "50 running workers", || {
            let ws = o.workers();
            (ws.iter().filter(|w| w["state"] == "running").count() == 50).then(|| {
                ws.iter()
                    .map(|w| (w["id"].as_str().unwrap().to_string(), pid(w)))
                    .collect()
            })
        });
    o.write_profile("h17.json", r#"{"synthetic": {"interval_ms": 900}}"#);
    let after: BTreeMap<String, i64> = wait_for(T, "h17 restarted", || {
        let ws = o.workers();
        let h17 = ws.iter().find(|w| w["id"] == "synthetic:h17")?;
        (h17["state"] == "running" && h17["pid"].as_i64() != Some(before["synthetic:h17"])).then(
            || {
                ws.iter()
                    .map(|w| {
                        (
                            w["id"].as_str().unwrap().to_string(),
                            w["pid"].as_i64().unwrap_or(0),
                        )
                    })
                    .collect()
            },
        )
    });
    let changed: Vec<_> = before
        .keys()
        .filter(|id| before[*id] != after[*id])
        .collect();
    assert_eq!(changed, ["synthetic:h17"]);
}

#[test]
fn garbage_and_a_10_mb_line_do_not_disturb_the_others() {
    let o = Orchestrator::new("").start();
    o.write_profile("good.json", &synthetic(""));
    o.write_profile(
        "noisy.json",
        &synthetic(r#", "garbage": true, "huge_line_bytes": 10000000"#),
    );
    let noisy = o.wait_state("synthetic:noisy", "running", T);
    let good = o.wait_state("synthetic:good", "running", T);
    let metric = |name: &str| -> u64 {
        let text = o.get("/metrics").unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    wait_for(T, "bad lines counted", || {
        (metric("hemflux_bad_lines_total") >= 3).then_some(())
    });
    let p0 = o.worker("synthetic:good").unwrap()["points"]
        .as_u64()
        .unwrap();
    wait_for(T, "the good worker to keep delivering", || {
        (o.worker("synthetic:good")?["points"].as_u64()? >= p0 + 5).then_some(())
    });
    let noisy_now = o.worker("synthetic:noisy").unwrap();
    assert_eq!(
        pid(&noisy_now),
        pid(&noisy),
        "a noisy worker is not restarted for its noise"
    );
    assert_eq!(o.worker("synthetic:good").unwrap()["pid"], good["pid"]);
    assert!(
        noisy_now["points"].as_u64().unwrap() > 0,
        "the noisy worker's real messages still count"
    );
}

#[test]
fn a_folder_missing_at_start_is_picked_up_when_created() {
    let o = Orchestrator::new("");
    std::fs::remove_dir(o.path("profiles")).unwrap();
    let o = o.start();
    std::fs::create_dir(o.path("profiles")).unwrap();
    o.write_profile("late.json", &synthetic(""));
    o.wait_state("synthetic:late", "running", T);
    // Deleted and recreated: still watched.
    std::fs::remove_dir_all(o.path("profiles")).unwrap();
    o.wait_gone("synthetic:late", T);
    std::fs::create_dir(o.path("profiles")).unwrap();
    o.write_profile("again.json", &synthetic(""));
    o.wait_state("synthetic:again", "running", T);
}

#[test]
fn state_survives_a_restart_of_the_orchestrator() {
    let mut o = Orchestrator::new("").start();
    o.write_profile("s.json", &synthetic(""));
    wait_for(T, "some points", || {
        (o.worker("synthetic:s")?["points"].as_u64()? >= 5).then_some(())
    });
    o.terminate();
    let before = o.query("synthetic", &[]).len();
    o.restart();
    wait_for(T, "more points", || {
        (o.worker("synthetic:s")?["points"].as_u64()? >= 3).then_some(())
    });
    let points = o.query("synthetic", &[]);
    // The counter `n` continues from the saved state instead of starting over at 0.
    let mut ns: Vec<i64> = points
        .iter()
        .map(|p| p["fields"]["n"].as_i64().expect("integer field n"))
        .collect();
    ns.sort();
    ns.dedup();
    assert_eq!(ns.len(), points.len(), "every n is stored once");
    assert_eq!(
        ns,
        (0..ns.len() as i64).collect::<Vec<_>>(),
        "no gap and no repeat across the restart"
    );
    assert!(points.len() > before);
}

#[test]
fn status_and_metrics_show_the_workers() {
    let o = Orchestrator::new("").start();
    o.write_profile("a.json", &synthetic(""));
    o.write_profile("b.json", &synthetic(r#", "exit_after_ms": 10"#));
    o.wait_state("synthetic:a", "running", T);
    wait_for(T, "b to have crashed", || {
        o.worker("synthetic:b")
            .filter(|w| w["restarts"].as_u64() >= Some(1))
    });
    let out = o.cli(&["status"]);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    let row_a = table
        .lines()
        .find(|l| l.starts_with("synthetic:a "))
        .expect("a row for a");
    assert!(row_a.contains("running"), "{table}");
    let row_b = table
        .lines()
        .find(|l| l.starts_with("synthetic:b "))
        .expect("a row for b");
    assert!(row_b.contains("exited with status 3"), "{table}");

    let metrics = o.get("/metrics").unwrap();
    assert!(
        metrics.contains("hemflux_workers{state=\"running\"} "),
        "{metrics}"
    );
    let restarts = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                "hemflux_worker_restarts_total{worker=\"synthetic:b\",kind=\"synthetic\"} ",
            )
        })
        .and_then(|v| v.parse::<u64>().ok())
        .expect("a restart counter for b");
    assert!(restarts >= 1);
    assert_eq!(o.get("/health").unwrap(), "ok\n");
}
