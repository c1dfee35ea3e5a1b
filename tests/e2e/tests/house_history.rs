//! A house's history from Arrigo (`arrigo_history` in its profile): `hemflux backfill <house>`
//! through a running orchestrator, its house worker polling the HomeSide simulator and
//! importing from the Arrigo simulator, all real binaries.

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::Duration;

use hemflux_e2e::{bin, wait_for, Orchestrator, Sim};
use serde_json::{json, Value};

const CONTROLLER: &str = "HEM_FJV_Villa_149";
const ARRIGO_USER: &str = "villa-arrigo";
const ARRIGO_PASSWORD: &str = "arrigo-Qx7-never-logged";
/// 2025-01-01T00:00:00Z .. 2025-01-03T00:00:00Z, five-minute buckets.
const FROM: i64 = 1_735_689_600;
const TO: i64 = FROM + 2 * 86_400;

/// The simulator's signal ids: base64 of `<controller>.<signal>`.
fn signal_id(signal: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{CONTROLLER}.{signal}"))
}

/// The simulator's documented daily waves (docs/buildings-and-onboarding.md), 2 decimals.
fn wave(base: f64, amp: f64, t: i64) -> f64 {
    let v = base + amp * (2.0 * std::f64::consts::PI * t as f64 / 86_400.0).sin();
    (v * 100.0).round() / 100.0
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn profile(homeside: &Sim, arrigo: &Sim) -> String {
    json!({
        "homeside": {"base_url": homeside.address, "controller": CONTROLLER, "poll_interval_secs": 60},
        "arrigo_history": {
            "arrigo": {"base_url": format!("{}/arrigo/api", arrigo.address), "history_resolution_secs": 300},
            "signals": [
                {"signal_id": signal_id("GT_UTE"), "field": "outdoor_temperature"},
                {"signal_id": signal_id("VS1_GT_TILL"), "field": "supply_temp"},
                {"signal_id": signal_id("GT_RUM_1"), "field": "room_temperature"},
                {"signal_id": signal_id("VS1_GT_RETUR"), "field": "return_temp", "fetch": false},
                {"signal_id": signal_id("GT_FRANLUFT"), "field": "exhaust_temp"},
            ]
        }
    })
    .to_string()
}

fn backfill(o: &Orchestrator, house: &str) -> Output {
    let out = Command::new(bin("hemflux"))
        .args([
            "backfill",
            house,
            "--from",
            "2025-01-01",
            "--to",
            "2025-01-03",
        ])
        .args(["--listen", &format!("127.0.0.1:{}", o.port), "--data"])
        .arg(o.path("data"))
        .output()
        .unwrap();
    assert!(!text(&out).contains(ARRIGO_PASSWORD));
    out
}

/// The house's `heating_system` rows in the range, by unix second.
fn imported(o: &Orchestrator, house: &str) -> BTreeMap<i64, Value> {
    let tag = format!("house_id={house}");
    let range = ["--from", "2025-01-01", "--to", "2025-01-03"];
    o.query(
        "heating_system",
        &[&["--tag", tag.as_str()][..], &range].concat(),
    )
    .into_iter()
    .map(|p| {
        let t: jiff::Timestamp = p["time"].as_str().unwrap().parse().unwrap();
        (t.as_second(), p)
    })
    .collect()
}

#[test]
fn a_house_imports_its_arrigo_history_exactly_idempotently_and_says_why_when_it_cannot() {
    let homeside = Sim::start(
        "homeside",
        &[
            "--house",
            &format!("{CONTROLLER}:hs-user:hs-pw"),
            "--house",
            "villa_bad:hs-bad:hs-pw",
            "--house",
            "villa_plain:hs-plain:hs-pw",
            "--warmup-reads",
            "0",
        ],
    );
    // A page cap well under a chunk's 30 * 288 rows: every signal needs many pages.
    let arrigo = Sim::start(
        "arrigo",
        &[
            "--controller",
            CONTROLLER,
            "--username",
            ARRIGO_USER,
            "--password",
            ARRIGO_PASSWORD,
            "--now",
            "2025-01-05T00:00:00Z",
            "--page-cap",
            "200",
        ],
    );
    let o = Orchestrator::new("").start();
    let mut env = String::new();
    for (house, user) in [
        (CONTROLLER, "hs-user"),
        ("villa_bad", "hs-bad"),
        ("villa_plain", "hs-plain"),
    ] {
        env += &format!(
            "HOUSE_{house}_USERNAME={user}\nHOUSE_{house}_PASSWORD=hs-pw\nHOUSE_{house}_URL={}\n\
             HOUSE_{house}_ARRIGO_URL={}\n",
            homeside.address, arrigo.address
        );
    }
    env += &format!(
        "HOUSE_{CONTROLLER}_ARRIGO_USERNAME={ARRIGO_USER}\nHOUSE_{CONTROLLER}_ARRIGO_PASSWORD={ARRIGO_PASSWORD}\n\
         HOUSE_villa_bad_ARRIGO_USERNAME={ARRIGO_USER}\nHOUSE_villa_bad_ARRIGO_PASSWORD=wrong-pw\n"
    );
    std::fs::write(o.path(".env"), env).unwrap();
    o.write_profile(&format!("{CONTROLLER}.json"), &profile(&homeside, &arrigo));
    let bad = profile(&homeside, &arrigo).replace(CONTROLLER, "villa_bad");
    o.write_profile("villa_bad.json", &bad);
    o.write_profile(
        "villa_plain.json",
        &json!({"homeside": {"base_url": homeside.address, "poll_interval_secs": 60}}).to_string(),
    );
    for house in [CONTROLLER, "villa_bad", "villa_plain"] {
        o.wait_state(
            &format!("house:{house}"),
            "running",
            Duration::from_secs(30),
        );
    }

    let out = backfill(&o, CONTROLLER);
    assert!(out.status.success(), "{}", text(&out));
    let slots = ((TO - FROM) / 300) as usize;
    assert!(
        text(&out).contains(&format!("backfilled {slots} points")),
        "{}",
        text(&out)
    );
    let rows = imported(&o, CONTROLLER);
    assert_eq!(rows.len(), slots, "one row per five minutes, none missing");
    for (t, p) in &rows {
        assert_eq!(t % 300, 0);
        assert_eq!(
            p["tags"],
            json!({"house_id": CONTROLLER}),
            "the live rows' tags"
        );
        let fields = json!({
            "outdoor_temperature": wave(6.0, 5.0, *t),
            "supply_temp": wave(45.0, 6.0, *t),
            "room_temperature": wave(21.5, 0.8, *t),
        });
        assert_eq!(
            p["fields"], fields,
            "at {t}: exactly the fetched signals' values"
        );
    }

    // Twice: the same rows, nothing added or changed.
    let out = backfill(&o, CONTROLLER);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(imported(&o, CONTROLLER), rows);

    // A refused login is said at once, naming the house, and is not retried for half a minute.
    let started = std::time::Instant::now();
    let out = backfill(&o, "villa_bad");
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains("house:villa_bad")
            && said.contains("house villa_bad")
            && said.contains("refused the username or password"),
        "{said}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(imported(&o, "villa_bad").is_empty());

    // A house without the section keeps the refusal, which names the section.
    let out = backfill(&o, "villa_plain");
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains("house villa_plain has no arrigo_history section"),
        "{said}"
    );

    // The house polls HomeSide as before: live rows, with the same tags, now.
    let tag = format!("house_id={CONTROLLER}");
    wait_for(Duration::from_secs(30), "live rows", || {
        let live = o.query("heating_system", &["--tag", &tag, "--from", "2026-01-01"]);
        live.first()
            .map(|p| assert_eq!(p["tags"], json!({"house_id": CONTROLLER})))
    });
    assert!(!o.log().contains(ARRIGO_PASSWORD));
}
