//! The three meter sources through the whole orchestrator (`hemflux run`): secrets from `.env`
//! reach only their worker, points land in the store, the WattiVahti token survives a `kill -9`
//! of the orchestrator through the store, and `hemflux sync` asks a worker for a range.

use std::process::Command;
use std::time::Duration;

use hemflux_e2e::{bin, run_ok, wait_for, Orchestrator, Sim};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);
const HOME: &str = "96a14971-525a-4420-aae9-e5aedaa129ff";

#[test]
fn meters_through_the_orchestrator_survive_kill_9_and_sync_a_range() {
    let wv = Sim::on_loopback("wattivahti", &["--refresh-token", "first-token"]);
    let tibber = Sim::on_loopback("tibber", &["--token", "tibber-secret"]);
    let dropbox = Sim::on_loopback("dropbox", &["--partner-interval-ms", "100"]);
    let settings = format!(
        "[district_heating]\nfolder = \"/data\"\ncheck_interval_secs = 1\ninitial_days = 1\n\
         dropbox_api_url = \"{0}\"\ndropbox_content_url = \"{0}\"\ndropbox_token_url = \"{0}/oauth2/token\"\n",
        dropbox.address
    );
    let mut o = Orchestrator::new(&settings);
    // The Tibber token under seed 004's name, which a Tibber meter reads when TIBBER_TOKEN is
    // not set.
    std::fs::write(
        o.path(".env"),
        "TIBBER_API_TOKEN=tibber-secret\nDROPBOX_APP_KEY=sim-app-key\nDROPBOX_APP_SECRET=sim-app-secret\n\
         DROPBOX_REFRESH_TOKEN=sim-dropbox-refresh-token\n",
    )
    .unwrap();
    let token_file = o.path("wv-token.txt");
    std::fs::write(&token_file, "first-token").unwrap();
    let profile = json!({"name": "Villa Kallio", "meter_ids": ["735999255020057923"], "meters": [
        {"name": "el", "source": {"type": "wattivahti", "metering_point": "1234567", "base_url": wv.address,
            "token_url": format!("{}/pesv.onmicrosoft.com/b2c_1_tunnistus_signinv2/oauth2/v2.0/token", wv.address),
            "token_file": token_file, "initial_sync_days": 1}},
        {"name": "tibber", "source": {"type": "tibber", "home_id": HOME, "base_url": format!("{}/v1-beta/gql", tibber.address),
            "backfill_days": 2, "min_request_interval_ms": 100}}]});
    o.write_profile("villa_kallio.json", &profile.to_string());
    let mut env = std::fs::read_to_string(o.path(".env")).unwrap();
    env.push_str(&format!("TIBBER_URL={}\n", tibber.address));
    std::fs::write(o.path(".env"), env).unwrap();
    o = o.start();

    let count = |o: &Orchestrator, m: &str, tag: &str| o.query(m, &["--tag", tag]).len();
    wait_for(WAIT, "WattiVahti readings in the store", || {
        (count(&o, "electricity_consumption", "metering_point=1234567") > 50).then_some(())
    });
    wait_for(WAIT, "Tibber consumption in the store", || {
        (count(&o, "electricity_consumption", &format!("home_id={HOME}")) > 24).then_some(())
    });
    wait_for(WAIT, "Tibber prices in the store", || {
        (count(&o, "electricity_price", &format!("home_id={HOME}")) >= 24 * 5).then_some(())
    });
    wait_for(WAIT, "district-heating hours in the store", || {
        (count(&o, "energy_meter", "house_id=villa_kallio") >= 24).then_some(())
    });
    assert_eq!(wv.redemptions(), (1, 0));

    // The orchestrator dies hard; its successor hands the worker the token it persisted.
    o.kill9();
    o.restart();
    o.wait_state("meter:villa_kallio/el", "running", WAIT);
    let stdout = run_ok(
        Command::new(bin("hemflux"))
            .args([
                "sync",
                "meter:villa_kallio/el",
                "--start",
                "2025-10-25T21:00:00Z",
                "--end",
                "2025-10-26T22:00:00Z",
                "--listen",
            ])
            .arg(format!("127.0.0.1:{}", o.port))
            .arg("--data")
            .arg(o.path("data")),
    );
    assert!(stdout.contains("synced 100 readings"), "{stdout}");
    let autumn = o.query(
        "electricity_consumption",
        &[
            "--tag",
            "metering_point=1234567",
            "--from",
            "2025-10-25T21:00:00Z",
            "--to",
            "2025-10-26T22:00:00Z",
        ],
    );
    assert_eq!(
        autumn.len(),
        100,
        "the repeated hour is two hours in the store"
    );
    let (ok, refused) = wv.redemptions();
    assert_eq!(
        (ok, refused),
        (2, 0),
        "the restarted worker used the persisted, rotated token"
    );

    // A new house with a district-heating meter: the request file asks for it too.
    o.write_profile(
        "kontor.json",
        &json!({"name": "Kontor 3", "meter_ids": ["735999255020057999"]}).to_string(),
    );
    wait_for(WAIT, "the request file to list the new meter", || {
        let files: Value = reqwest::blocking::get(format!("{}/_sim/files", dropbox.address))
            .ok()?
            .json()
            .ok()?;
        let request = files["files"]["/data/BVPro_DH.csv"].as_str()?.to_string();
        (request.contains("\n735999255020057999;") && request.contains(";Kontor 3")).then_some(())
    });
    wait_for(WAIT, "the new meter's hours in the store", || {
        (count(&o, "energy_meter", "meter_id=735999255020057999") >= 24).then_some(())
    });

    let log = o.log();
    for secret in [
        "tibber-secret",
        "sim-app-secret",
        "sim-dropbox-refresh-token",
        "first-token",
        "wv-rt-",
    ] {
        assert!(!log.contains(secret), "{secret} in the orchestrator's log");
    }
}
