//! The `building` worker against the Arrigo simulator, both real binaries: this test plays the
//! orchestrator's side of the worker protocol (init on stdin, `ack` for every batch) so each
//! case can look at exactly what the worker sends.

use std::collections::BTreeMap;
use std::time::Duration;

use hemflux_e2e::{FakeOrchestrator, Sim};
use serde_json::{json, Value};

const USER: &str = "kontor-user";
const PASSWORD: &str = "pw-Zq81-never-logged";

/// The simulator's signal ids: base64 of `<controller>.<signal>`.
const GT_UTE: &str = "VEUyMzZfSEVNX0tvbnRvci5HVF9VVEU="; // TE236_HEM_Kontor.GT_UTE
const ENERGY: &str = "VEUyMzZfSEVNX0tvbnRvci5QYWdlcygxKS5FbmVyZ3k="; // TE236_HEM_Kontor.Pages(1).Energy
const BROKEN: &str = "VEUyMzZfSEVNX0tvbnRvci5HVF9GUkFOTFVGVA=="; // TE236_HEM_Kontor.GT_FRANLUFT

/// The simulator's documented values (docs/buildings-and-onboarding.md): GT_UTE is
/// 6 + 5 sin(2 pi t / 1 day), Pages(1).Energy is 1200 + 0.048 per hour since 2020.
fn gt_ute(t: i64) -> f64 {
    let v = 6.0 + 5.0 * (2.0 * std::f64::consts::PI * t as f64 / 86_400.0).sin();
    (v * 100.0).round() / 100.0
}
fn energy(t: i64) -> f64 {
    let v = 1200.0 + 0.048 * (t - 1_577_836_800) as f64 / 3600.0;
    (v * 1000.0).round() / 1000.0
}

fn sim(extra: &[&str]) -> Sim {
    let mut args = vec!["--username", USER, "--password", PASSWORD];
    args.extend_from_slice(extra);
    Sim::start("arrigo", &args)
}

fn config(sim: &Sim, poll_secs: u64) -> Value {
    json!({
        "building_id": "TE236_HEM_Kontor",
        "arrigo": {"base_url": format!("{}/Arrigo/api", sim.address), "poll_interval_secs": poll_secs,
                   "history_resolution_secs": 3600},
        "signals": [
            {"signal_id": GT_UTE, "field": "outdoor_temperature"},
            {"signal_id": ENERGY, "field": "energy_total"},
            {"signal_id": BROKEN, "field": "exhaust_temperature"},
        ],
    })
}

fn start(config: Value, state: Option<Value>) -> FakeOrchestrator {
    FakeOrchestrator::start(
        "building",
        "building:TE236_HEM_Kontor",
        json!({"config": config, "secrets": {"username": USER, "password": PASSWORD}, "state": state}),
        &[],
    )
}

/// `building_system` points by time (ns): what a store would hold.
fn store(w: &FakeOrchestrator) -> BTreeMap<i64, Value> {
    w.of("building_system")
        .map(|p| (p.time, serde_json::to_value(p).unwrap()))
        .collect()
}

/// `building_system` points received, repeats included.
fn received(w: &FakeOrchestrator) -> usize {
    w.of("building_system").count()
}

fn alarms(w: &FakeOrchestrator) -> Vec<Value> {
    w.of("building_alarms")
        .map(|p| serde_json::to_value(p).unwrap())
        .collect()
}

fn sync(w: &mut FakeOrchestrator, id: u64, from: &str, to: &str) -> Value {
    w.sync(id, from, to, Duration::from_secs(60))
}

/// The worker on `config`, served until it sent points from four polls.
fn after_four_polls(config: Value, timeout: Duration) -> FakeOrchestrator {
    let mut w = start(config, None);
    w.serve_until(timeout, "four polls", |w, _| received(w) >= 4);
    w
}

fn assert_no_secret(w: &FakeOrchestrator) {
    let log = w.log();
    assert!(
        !log.contains(PASSWORD),
        "the password is in the worker's log:\n{log}"
    );
    assert!(!w.errors.iter().any(|e| e.contains(PASSWORD)));
}

#[test]
fn poll_writes_the_configured_fields_at_the_servers_time() {
    let sim = sim(&["--now", "2025-01-15T12:34:56Z"]);
    let mut w = start(config(&sim, 1), None);
    w.serve_until(Duration::from_secs(20), "two polls", |w, _| {
        store(w).len() >= 2
    });
    for (time, p) in &store(&w) {
        let t = time / 1_000_000_000;
        assert_eq!(time % 1_000_000_000, 0, "server time has whole seconds");
        // The simulator's clock, not this machine's: January 2025.
        assert!((1_736_944_496..1_736_944_496 + 30).contains(&t), "{p}");
        assert_eq!(p["measurement"], "building_system");
        assert_eq!(p["tags"], json!({"building_id": "TE236_HEM_Kontor"}));
        let fields = p["fields"].as_object().unwrap();
        assert_eq!(fields.len(), 2, "the null signal is skipped: {p}");
        assert_eq!(
            fields["outdoor_temperature"].as_f64().unwrap(),
            gt_ute(t),
            "{p}"
        );
        assert_eq!(fields["energy_total"].as_f64().unwrap(), energy(t), "{p}");
    }
    // The simulator lists three alarms, one each ALARMED, RETURNED and ACKNOWLEDGED.
    assert!(!alarms(&w).is_empty());
    for a in &alarms(&w) {
        assert!(
            store(&w).contains_key(&a["time"].as_i64().unwrap()),
            "same time as the values: {a}"
        );
        assert_eq!(a["tags"], json!({"building_id": "TE236_HEM_Kontor"}));
        // Integers travel as {"i": n} in the worker protocol.
        let want = json!({"total_count": {"i": 3}, "count_alarmed": {"i": 1}, "count_returned": {"i": 1},
                          "count_acknowledged": {"i": 1}, "count_blocked": {"i": 0}});
        assert_eq!(a["fields"], want, "{a}");
    }
    assert_no_secret(&w);
}

#[test]
fn token_expiry_is_survived_by_refresh_with_rotated_tokens() {
    let sim = sim(&["--token-lifetime-secs", "0.5"]);
    let w = after_four_polls(config(&sim, 1), Duration::from_secs(30));
    let log = w.log();
    // Each poll after the first meets an expired token; every refresh must use the rotated
    // refresh token (the spent one is refused, which would show as a failed refresh).
    assert!(log.matches("token refreshed").count() >= 2, "{log}");
    assert!(!log.contains("refresh failed"), "{log}");
    assert_eq!(log.matches("logged in to Arrigo").count(), 1, "{log}");
    assert!(w.errors.is_empty(), "{:?}", w.errors);
    assert_no_secret(&w);
}

#[test]
fn a_forgotten_session_is_survived_by_logging_in_again() {
    let sim = sim(&["--revoke-every", "3"]);
    let w = after_four_polls(config(&sim, 1), Duration::from_secs(30));
    let log = w.log();
    assert!(log.matches("logged in to Arrigo").count() >= 2, "{log}");
    assert!(w.errors.is_empty(), "{:?}", w.errors);
    assert_no_secret(&w);
}

#[test]
fn slow_answers_time_out_and_are_retried() {
    let sim = sim(&["--slow-every", "3", "--slow-ms", "2500"]);
    let mut cfg = config(&sim, 1);
    cfg["arrigo"]["timeout_secs"] = json!(1);
    let mut w = after_four_polls(cfg, Duration::from_secs(40));
    assert!(w.alive());
    let all = w.errors.join("\n") + &w.log();
    assert!(all.contains("timed out"), "{all}");
}

#[test]
fn server_errors_html_pages_and_cut_json_are_retried_without_exiting() {
    let sim = sim(&[
        "--http-500-every",
        "2",
        "--html-every",
        "3",
        "--truncated-every",
        "5",
    ]);
    let mut w = after_four_polls(config(&sim, 1), Duration::from_secs(40));
    assert!(w.alive(), "the worker exited");
    let all = w.errors.join("\n");
    assert!(all.contains("HTTP 500"), "{all}");
    assert!(all.contains("HTML page"), "{all}");
    assert!(all.contains("not JSON"), "{all}");
    assert_no_secret(&w);
}

#[test]
fn backfill_of_a_year_is_complete_paged_idempotent_and_resumable() {
    // Cap 500 rows per page: a 30-day chunk of hourly rows (720) needs two pages per signal.
    let sim = sim(&["--now", "2025-01-01T06:00:00Z", "--history-cap", "500"]);
    let mut w = start(config(&sim, 3600), None);
    let (from, to) = ("2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z");
    let (from_s, to_s) = (1_704_067_200i64, 1_735_689_600i64);
    let in_range = |w: &FakeOrchestrator| {
        store(w)
            .range(from_s * 1_000_000_000..to_s * 1_000_000_000)
            .count()
    };

    let reply = sync(&mut w, 1, from, to);
    assert_eq!(reply["ok"], true, "{reply}");
    let hours = ((to_s - from_s) / 3600) as usize; // 2024 is a leap year: 8784
    assert_eq!(hours, 8784);
    assert_eq!(in_range(&w), hours, "one point per hour, none missing");
    for (time, p) in store(&w).range(from_s * 1_000_000_000..to_s * 1_000_000_000) {
        let t = time / 1_000_000_000;
        assert_eq!(t % 3600, 0);
        assert_eq!(
            p["fields"]["outdoor_temperature"].as_f64().unwrap(),
            gt_ute(t)
        );
        assert_eq!(p["fields"]["energy_total"].as_f64().unwrap(), energy(t));
        assert!(p["fields"].get("exhaust_temperature").is_none());
    }
    assert_eq!(w.state.as_ref().unwrap()["backfill"]["done_until"], to);

    // Twice: the same points again, nothing new.
    let before = received(&w);
    let reply = sync(&mut w, 2, from, to);
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(in_range(&w), hours);
    assert_eq!(
        received(&w) - before,
        hours,
        "the second run sends the same points"
    );
    assert_no_secret(&w);
    drop(w);

    // Interrupted after three chunks: a new worker with the saved state resumes there.
    let mut w = start(config(&sim, 3600), None);
    w.send(json!({"type": "sync", "id": 3, "from": from, "to": to}));
    w.serve_until(Duration::from_secs(30), "three chunks", |w, _| {
        w.state
            .as_ref()
            .is_some_and(|s| s["backfill"]["done_until"] == "2024-03-31T00:00:00Z")
    });
    let state = w.state.clone();
    drop(w);
    let mut w = start(config(&sim, 3600), state);
    let reply = sync(&mut w, 4, from, to);
    assert_eq!(reply["ok"], true, "{reply}");
    let first = *store(&w).range(from_s * 1_000_000_000..).next().unwrap().0 / 1_000_000_000;
    assert_eq!(
        first, 1_711_843_200,
        "resumed at 2024-03-31, not from the start"
    );
    assert_eq!(in_range(&w), hours - 90 * 24);
}

#[test]
fn the_arrigo_simulator_is_strict_about_paths_types_tokens_and_fields() {
    let sim = sim(&["--token-lifetime-secs", "1"]);
    let http = reqwest::blocking::Client::new();
    let api = format!("{}/arrigo/api", sim.address);
    let post = |path: &str, auth: Option<&str>, body: Value| {
        let mut r = http.post(format!("{api}{path}")).json(&body);
        if let Some(a) = auth {
            r = r.header("Authorization", a);
        }
        r.send().unwrap()
    };
    let login = json!({"username": USER, "password": PASSWORD});

    let r = http
        .post(format!("{api}/login"))
        .body(login.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 415, "no JSON content type");
    assert_eq!(post("/nope", None, json!({})).status(), 404);
    assert_eq!(
        post("/login", None, json!({"username": USER})).status(),
        400
    );
    assert_eq!(
        post("/login", None, json!({"username": USER, "password": "x"})).status(),
        401
    );
    let tokens: Value = post("/login", None, login.clone()).json().unwrap();
    let at = tokens["authToken"].as_str().unwrap().to_string();
    let rt = tokens["refreshToken"].as_str().unwrap().to_string();
    assert_eq!(at.split('.').count(), 3, "JWT-shaped");

    let query = json!({"query": "{ analogs { totalCount } }"});
    assert_eq!(post("/graphql", None, query.clone()).status(), 401);
    assert_eq!(
        post("/graphql", Some(&format!("Token {at}")), query.clone()).status(),
        401
    );
    let ok = http
        .post(format!("{}/Arrigo/api/graphql", sim.address))
        .header("Authorization", format!("Bearer {at}"))
        .json(&query)
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200, "the capital-A path works too");
    assert_eq!(
        ok.json::<Value>().unwrap()["data"]["analogs"]["totalCount"],
        7
    );
    let bad: Value = post(
        "/graphql",
        Some(&format!("Bearer {at}")),
        json!({"query": "{ analogs { nope } }"}),
    )
    .json()
    .unwrap();
    assert!(
        bad["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nope"),
        "{bad}"
    );

    std::thread::sleep(Duration::from_millis(1100));
    let expired = post("/graphql", Some(&format!("Bearer {at}")), query.clone());
    assert_eq!(expired.status(), 401);
    assert_eq!(expired.headers()["token-expired"], "true");
    let refresh = |at: &str, rt: &str| {
        post(
            "/login/refresh",
            Some(&format!("Bearer {at}")),
            json!({"refreshToken": rt}),
        )
    };
    let new: Value = refresh(&at, &rt).json().unwrap();
    assert_ne!(new["authToken"], at.as_str());
    assert_ne!(new["refreshToken"], rt.as_str());
    assert_eq!(
        refresh(&at, &rt).status(),
        401,
        "the old refresh token is spent"
    );
    let new_at = new["authToken"].as_str().unwrap();
    assert_eq!(
        post("/graphql", Some(&format!("Bearer {new_at}")), query).status(),
        200
    );
}

#[test]
fn backfill_copes_with_servers_that_reject_the_comparer_and_send_naive_times() {
    let sim = sim(&[
        "--now",
        "2025-01-01T06:00:00Z",
        "--reject-time-length-comparer",
        "--naive-times",
    ]);
    let mut w = start(config(&sim, 3600), None);
    let reply = sync(&mut w, 1, "2024-12-01T00:00:00Z", "2024-12-08T00:00:00Z");
    assert_eq!(reply["ok"], true, "{reply}");
    let week: Vec<i64> = store(&w)
        .keys()
        .map(|t| t / 1_000_000_000)
        .filter(|t| *t < 1_735_689_600)
        .collect();
    assert_eq!(week.len(), 7 * 24);
    assert_eq!(
        week[0], 1_733_011_200,
        "naive times are UTC: 2024-12-01T00:00:00Z"
    );
    assert!(
        w.log().contains("rejects timeLengthComparer"),
        "{}",
        w.log()
    );
}
