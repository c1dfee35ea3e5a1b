//! The orchestrator as PID 1 of a new PID namespace, as in a container: it reaps every zombie,
//! grandchildren of workers included, and stops cleanly on SIGTERM.

use std::time::Duration;

use hemflux_e2e::{children, proc_state, wait_for, Orchestrator};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

#[test]
fn as_pid_1_it_reaps_orphans_and_stops_on_sigterm() {
    if std::process::Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        assert!(
            std::env::var("HEMFLUX_REQUIRE_SERVERS").is_err(),
            "unshare --pid does not work here"
        );
        eprintln!("SKIPPED: this machine cannot create PID namespaces (unshare --pid)");
        return;
    }
    let mut o = Orchestrator::new("")
        .wrapped_in(&["unshare", "--pid", "--fork", "--mount-proc"])
        .start();
    let unshare = o.pid();
    let orchestrator = wait_for(
        Duration::from_secs(5),
        "the orchestrator under unshare",
        || children(unshare).first().copied(),
    );
    let status = std::fs::read_to_string(format!("/proc/{orchestrator}/status")).unwrap();
    let ns_pid = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    assert_eq!(ns_pid, "1", "hemflux is PID 1 in its namespace");

    // Each run leaves a grandchild behind and exits: a crash loop of orphans.
    o.write_profile(
        "orphans.json",
        r#"{"synthetic": {"interval_ms": 100, "exit_after_ms": 300, "orphan_child_secs": 30}}"#,
    );
    let zombies = || {
        children(orchestrator)
            .into_iter()
            .filter(|p| proc_state(*p) == Some('Z'))
            .count()
    };
    // Without a reaper, every orphan killed with its worker's group would stay a zombie of PID 1.
    wait_for(
        Duration::from_secs(30),
        "the crash loop to end in failed",
        || {
            o.worker("synthetic:orphans")
                .filter(|w| w["state"] == "failed")
        },
    );
    wait_for(
        Duration::from_secs(5),
        "no zombie and no orphan left",
        || {
            let kids = children(orchestrator);
            (zombies() == 0 && kids.is_empty()).then_some(())
        },
    );

    kill(Pid::from_raw(orchestrator), Signal::SIGTERM).unwrap();
    let status = o
        .wait_exit(Duration::from_secs(10))
        .expect("exited within 10 s");
    assert!(status.success(), "{status}");
}
