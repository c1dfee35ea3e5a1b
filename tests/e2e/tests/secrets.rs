//! Credentials come from `.env`, go only to the worker that needs them, only through its stdin:
//! never on argv, never in its environment. A missing credential is a visible `failed` state that
//! clears as soon as `.env` has it; changing it restarts only the worker that uses it.

use std::time::Duration;

use hemflux_e2e::{wait_for, Orchestrator};

const T: Duration = Duration::from_secs(20);
const PASSWORD: &str = "pw-7f3a9c-do-not-leak";
/// Where the building's credentials were verified (see docs/security.md).
const VERIFIED: &str = "BUILDING_kontor_URL=http://127.0.0.1:9\n";

fn building(id: &str) -> String {
    // Nothing listens on port 9: the worker starts, then fails to reach Arrigo, which is fine here.
    format!(
        r#"{{"id": "{id}", "arrigo": {{"base_url": "http://127.0.0.1:9/arrigo/api", "poll_interval_secs": 60}}, "signals": []}}"#
    )
}

#[test]
fn credentials_reach_only_their_worker_and_only_through_stdin() {
    let o = Orchestrator::new("").start();
    std::fs::write(o.path(".env"), VERIFIED).unwrap();
    o.write_profile("other.json", r#"{"synthetic": {"interval_ms": 200}}"#);
    o.write_building("kontor.json", &building("kontor"));

    let failed = o.wait_state("building:kontor", "failed", T);
    let error = failed["last_error"].as_str().unwrap();
    assert!(
        error.contains("BUILDING_kontor_USERNAME") && error.contains("BUILDING_kontor_PASSWORD"),
        "{error}"
    );

    let other = o.wait_state("synthetic:other", "running", T);
    std::fs::write(
        o.path(".env"),
        format!(
            "BUILDING_kontor_USERNAME=kontor-user\nBUILDING_kontor_PASSWORD={PASSWORD}\n{VERIFIED}"
        ),
    )
    .unwrap();
    let w = wait_for(
        T,
        "the building worker to start once .env has its credentials",
        || {
            o.worker("building:kontor")
                .filter(|w| w["pid"].as_i64().is_some())
        },
    );
    let pid = w["pid"].as_i64().unwrap();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    let names: Vec<&str> = environ
        .split('\0')
        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k))
        .collect();
    assert!(
        names
            .iter()
            .all(|n| ["PATH", "RUST_LOG", "LANG", "TZ"].contains(n)),
        "worker environment: {names:?}"
    );
    assert!(!environ.contains(PASSWORD));
    assert!(!String::from_utf8_lossy(&cmdline).contains(PASSWORD));
    assert_eq!(
        o.worker("synthetic:other").unwrap()["pid"],
        other["pid"],
        ".env changes restart only the workers they concern"
    );

    // A new password restarts the building worker.
    std::fs::write(
        o.path(".env"),
        format!(
            "BUILDING_kontor_USERNAME=kontor-user\nBUILDING_kontor_PASSWORD=another\n{VERIFIED}"
        ),
    )
    .unwrap();
    wait_for(T, "a restart with the new password", || {
        o.worker("building:kontor")
            .filter(|w| w["pid"].as_i64().is_some_and(|p| p != pid))
    });
    assert_eq!(o.worker("synthetic:other").unwrap()["pid"], other["pid"]);
    assert!(!o.log().contains(PASSWORD), "a password reached the log");
}

#[test]
fn a_worker_inherits_no_descriptor_the_orchestrator_was_given() {
    let o = Orchestrator::new("");
    let inherited = o.path("inherited-by-hemflux.txt");
    // The shell opens fd 7 without close-on-exec, as a CI runner or a service manager may.
    let o = o
        .wrapped_in(&[
            "sh",
            "-c",
            r#"exec 7>>"$0" && exec "$@""#,
            inherited.to_str().unwrap(),
        ])
        .start();
    o.write_profile("other.json", r#"{"synthetic": {"interval_ms": 200}}"#);
    let worker = o.wait_state("synthetic:other", "running", T)["pid"]
        .as_i64()
        .unwrap();
    let holds = |pid: i64| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .any(|target| target == inherited)
    };
    assert!(holds(o.pid().into()), "the orchestrator was given fd 7");
    assert!(
        !holds(worker),
        "the worker {worker} holds the orchestrator's fd 7"
    );
}
