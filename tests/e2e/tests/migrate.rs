//! `hemflux migrate` with the real binary on the seeds' real files (`fixtures/seeds/`, copied
//! from `../shared/seeds/configs/`, laid out as an installation), on the B-route collector's and the WattiVahti sync's `.env`,
//! and on hand-made broken files.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hemflux_e2e::{bin, output_text as text};
use serde_json::Value;

fn seeds() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/seeds/bvpro")
}

fn hemflux(args: &[&str]) -> Output {
    Command::new(bin("hemflux"))
        .args(args)
        .output()
        .expect("run hemflux")
}

fn migrate(from: &[&Path], to: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["migrate".to_string()];
    for f in from {
        args.extend(["--from".to_string(), f.display().to_string()]);
    }
    args.extend(["--to".to_string(), to.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    hemflux(&args)
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The BVPro files as an installation has them: `.env`, `offboarded.json`, credentials set.
fn bvpro_installation(dir: &Path) -> PathBuf {
    let seed = dir.join("bvpro");
    for sub in ["profiles", "buildings"] {
        std::fs::create_dir_all(seed.join(sub)).unwrap();
        for entry in std::fs::read_dir(seeds().join(sub)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), seed.join(sub).join(entry.file_name())).unwrap();
        }
    }
    for f in ["settings.json", "variables_config.json"] {
        std::fs::copy(seeds().join(f), seed.join(f)).unwrap();
    }
    let env = std::fs::read_to_string(seeds().join("env.example")).unwrap()
        + "HOUSE_HEM_FJV_Villa_149_USERNAME=FC2000000001\nHOUSE_HEM_FJV_Villa_149_PASSWORD='p w'\n"
        + "DROPBOX_REFRESH_TOKEN=dropbox-refresh\n";
    std::fs::write(seed.join(".env"), env).unwrap();
    // The example's pending purge is of TE236, which is also configured; add one that is not.
    let offboarded = std::fs::read_to_string(seeds().join("offboarded.example.json"))
        .unwrap()
        .replace(
            "\"pending_purge\": [",
            "\"pending_purge\": [\n    {\"id\": \"HEM_FJV_Villa_7\", \"type\": \"house\", \"purge_after\": \"2030-01-01T00:00:00+00:00\"},",
        );
    std::fs::write(seed.join("offboarded.json"), offboarded).unwrap();
    seed
}

/// `hemflux check` accepts the folder the migration wrote.
fn check_migrated(out: &Path) {
    let check = hemflux(&[
        "check",
        "--profiles",
        out.join("profiles").to_str().unwrap(),
        "--buildings",
        out.join("buildings").to_str().unwrap(),
        "--config",
        out.join("hemflux.toml").to_str().unwrap(),
        "--env-file",
        out.join(".env").to_str().unwrap(),
    ]);
    assert!(check.status.success(), "{}", text(&check));
}

#[test]
fn the_real_bvpro_files_become_hemflux_files_that_pass_check() {
    let dir = tempfile::tempdir().unwrap();
    let seed = bvpro_installation(dir.path());
    let out = dir.path().join("hemflux");
    // The seed's per-house start of the energy company's data (set by its web GUI).
    let profile = seed.join("profiles/HEM_FJV_Villa_149.json");
    let text_of = std::fs::read_to_string(&profile).unwrap();
    let with_start = text_of.replacen(
        "\"meter_ids\"",
        "\"energy_data_start_date\": \"2024-10-01\",\n  \"meter_ids\"",
        1,
    );
    std::fs::write(&profile, with_start).unwrap();

    let dry = migrate(&[&seed], &out, &["--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(!out.exists(), "a dry run writes nothing");

    let run = migrate(&[&seed], &out, &[]);
    let report = text(&run);
    assert!(run.status.success(), "{report}");
    for expected in [
        "house HEM_FJV_Villa_149 (HomeSide controller HEM_FJV_Villa_149, district-heating meters 735999000000000013)",
        "building TE236_HEM_Kontor (Arrigo at exodrift00.example.invalid, 91 signals fetched)",
        "digital_signals: 22 (0 fetched): hemflux polls analog signals only",
        "HEM_FJV_Villa_149_TEST_signals.json: 9 fetched signals -> house HEM_FJV_Villa_149's arrigo_history (Arrigo at exodrift00.example.invalid, 300 s buckets); 5 not fetched by the seed left out",
        "put HOUSE_HEM_FJV_Villa_149_ARRIGO_USERNAME and HOUSE_HEM_FJV_Villa_149_ARRIGO_PASSWORD in .env",
        "the pending purge of building TE236_HEM_Kontor: it is configured again, so its data stays",
        "house HEM_FJV_Villa_7: its data is purged after 2030-01-01T00:00:00Z",
        "CONTAINER_PREFIX: hemflux runs as one process tree",
        "put BUILDING_TE236_HEM_Kontor_USERNAME and BUILDING_TE236_HEM_Kontor_PASSWORD",
    ] {
        assert!(report.contains(expected), "missing {expected:?} in:\n{report}");
    }

    let house = json(&out.join("profiles/HEM_FJV_Villa_149.json"));
    assert_eq!(house["name"], "Villa 149");
    assert_eq!(house["meter_ids"][0], "735999000000000013");
    assert_eq!(house["energy_data_start_date"], "2024-10-01");
    assert_eq!(house["location"]["lat"], 56.66);
    assert_eq!(house["homeside"]["poll_interval_secs"], 300);
    // The seed's bootstrap report: its fetched signals, under the house's live field names.
    let history = &house["arrigo_history"];
    assert_eq!(
        history["arrigo"]["base_url"],
        "https://exodrift00.example.invalid/arrigo/api"
    );
    assert_eq!(history["arrigo"]["history_resolution_secs"], 300);
    let signals = history["signals"].as_array().unwrap();
    let fields: Vec<&str> = signals
        .iter()
        .map(|s| s["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "system_pressure",
            "return_temp",
            "supply_temp",
            "hot_water_temp",
            "outdoor_temperature",
            "outdoor_temp_24h_avg",
            "target_temp_setpoint",
            "room_temperature",
            "supply_setpoint"
        ]
    );
    assert_eq!(signals[4]["signal_id"], "ODAyNjc=");
    assert_eq!(signals[4]["name"], "HEM_FJV_Villa_149.GT_UTE");
    assert!(
        signals.iter().all(|s| s.get("fetch").is_none()),
        "fetched: the default"
    );
    let building = json(&out.join("buildings/TE236_HEM_Kontor.json"));
    assert_eq!(
        building["arrigo"]["base_url"],
        "https://exodrift00.example.invalid/arrigo/api"
    );
    assert_eq!(building["arrigo"]["poll_interval_secs"], 900);
    assert_eq!(building["signals"].as_array().unwrap().len(), 167);
    let toml = std::fs::read_to_string(out.join("hemflux.toml")).unwrap();
    assert!(
        // The file exchange comes from DROPBOX_* in .env alone, as in the seed.
        toml.contains("forecast_hours = 72") && !toml.contains("[district_heating]"),
        "{toml}"
    );
    let env = out.join(".env");
    assert_eq!(
        std::fs::metadata(&env).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let env = std::fs::read_to_string(env).unwrap();
    assert!(
        env.contains("HOUSE_HEM_FJV_Villa_149_PASSWORD='p w'"),
        "{env}"
    );
    assert!(env.contains("INFLUXDB_BUCKET='heating'"), "{env}");
    assert!(
        env.contains("HOUSE_HEM_FJV_Villa_149_ARRIGO_URL='https://exodrift00.example.invalid'"),
        "{env}"
    );

    check_migrated(&out);

    // The learned parameters, as the analytics will find them.
    let data = out.join("data");
    let reader = hemflux::store::Reader::open(&data).unwrap();
    let state = reader
        .load_state("analytics:HEM_FJV_Villa_149")
        .unwrap()
        .expect("the house's starting state");
    assert_eq!(
        state["seed"]["learned"]["thermal_coefficient"],
        0.12357214129979467
    );
    assert_eq!(state["seed"]["learned"]["hourly_bias"]["18"], 0.275);
    assert_eq!(state["seed"]["energy_separation"]["heat_loss_k"], 0.06073);
    assert_eq!(state["seed"]["heating_system"]["max_supply_temp"], 55);
    let settings = reader.load_state("analytics:settings").unwrap().unwrap();
    assert_eq!(settings["seed"]["calibration"]["k_calibration_days"], 30);
    let offboarded = hemflux::onboard::Offboarded::load(&data).unwrap();
    assert_eq!(offboarded.entities.len(), 1);
    assert_eq!(offboarded.entities[0].id, "HEM_FJV_Villa_7");

    // Again: the same files, so nothing conflicts and nothing changes.
    let again = migrate(&[&seed], &out, &[]);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(
        hemflux::onboard::Offboarded::load(&data)
            .unwrap()
            .entities
            .len(),
        1
    );
}

#[test]
fn the_broute_collector_and_the_wattivahti_sync() {
    let dir = tempfile::tempdir().unwrap();
    let hems = dir.path().join("hems-data-collector");
    let watti = dir.path().join("wattivahti-influx");
    std::fs::create_dir_all(&hems).unwrap();
    std::fs::create_dir_all(&watti).unwrap();
    std::fs::write(
        hems.join(".env"),
        "SERIAL_PORT=/dev/ttyACM0\nSERIAL_RATE=115200\nB_ROUTE_ID=00112233445566778899AABBCCDDEEFF\n\
         B_ROUTE_PASSWORD=0123456789AB\nLOCAL_TIMEZONE=Asia/Tokyo\nWEBHOOK_URL=http://127.0.0.1:9/hook\n\
         GCP_PROJECT_ID=p\nFILE_FORMAT=csv\n",
    )
    .unwrap();
    std::fs::write(
        watti.join(".env"),
        "INFLUXDB_TOKEN=t0ken\nWATTIVAHTI_METERING_POINT=1234567\nINITIAL_SYNC_DAYS=30\n",
    )
    .unwrap();
    std::fs::write(watti.join("refresh_token.txt"), "refresh-abc\n").unwrap();
    let out = dir.path().join("hemflux");

    let run = migrate(&[&hems, &watti], &out, &[]);
    let report = text(&run);
    assert!(run.status.success(), "{report}");
    assert!(
        report.contains("GCP_PROJECT_ID: Google Pub/Sub is not offered"),
        "{report}"
    );
    assert!(
        report.contains("FILE_FORMAT=csv: if the collector wrote to a file"),
        "{report}"
    );
    assert!(report.contains("stop the seed's cron job"), "{report}");

    let home = json(&out.join("profiles/home.json"));
    assert_eq!(home["serial"][0]["port"], "/dev/ttyACM0");
    assert_eq!(home["serial"][0]["timezone"], "Asia/Tokyo");
    let meter = json(&out.join("profiles/wattivahti_1234567.json"));
    assert_eq!(meter["meters"][0]["source"]["initial_sync_days"], 30);
    let token = out.join("tokens/wattivahti_1234567.txt");
    assert_eq!(std::fs::read_to_string(&token).unwrap(), "refresh-abc\n");
    assert_eq!(
        std::fs::metadata(&token).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let env = std::fs::read_to_string(out.join(".env")).unwrap();
    for expected in [
        "BROUTE_home_broute_ID='00112233445566778899AABBCCDDEEFF'",
        "INFLUXDB_BUCKET='electricity'", // the sync's default
        "INFLUXDB_ORG='wattivahti'",
        "INFLUXDB_TOKEN='t0ken'",
    ] {
        assert!(env.contains(expected), "missing {expected} in {env}");
    }
    let toml = std::fs::read_to_string(out.join("hemflux.toml")).unwrap();
    assert!(toml.contains("type = \"webhook\""), "{toml}");
    check_migrated(&out);
}

#[test]
fn broken_seed_files_are_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed");
    std::fs::create_dir_all(seed.join("profiles")).unwrap();
    std::fs::create_dir_all(seed.join("buildings")).unwrap();
    std::fs::write(
        seed.join("profiles/broken.json"),
        "{\n  \"customer_id\": \"broken\",\n  \"meter_ids\": [\"1\",]\n}",
    )
    .unwrap();
    std::fs::write(
        seed.join("profiles/bad id.json"),
        r#"{"customer_id": "bad id", "friendly_name": "x"}"#,
    )
    .unwrap();
    std::fs::write(
        seed.join("buildings/metasys.json"),
        r#"{"building_id": "m", "connection": {"system": "metasys", "host": "h"}}"#,
    )
    .unwrap();
    std::fs::write(
        seed.join("buildings/nohost.json"),
        r#"{"building_id": "n", "connection": {"system": "arrigo"}}"#,
    )
    .unwrap();
    std::fs::write(
        seed.join(".env"),
        "LATITUDE=north\nLONGITUDE=12\nB_ROUTE_ID=x\n",
    )
    .unwrap();
    let out = dir.path().join("hemflux");

    let run = migrate(&[&seed], &out, &[]);
    let report = text(&run);
    assert!(!run.status.success());
    for expected in [
        "profiles/broken.json: line 3 column 21: trailing comma\n",
        "the migrated profiles/bad id.json:3:3: id: \"bad id\" is not a valid id",
        "buildings/metasys.json: connection.system is Some(\"metasys\"): hemflux reads Arrigo buildings only",
        "buildings/nohost.json: connection.host is missing",
        ".env: LATITUDE or LONGITUDE is not a number",
        ".env: B_ROUTE_PASSWORD is missing",
        "problem(s): nothing written",
    ] {
        assert!(report.contains(expected), "missing {expected:?} in:\n{report}");
    }
    assert!(!out.exists(), "nothing written");

    let missing = migrate(&[&dir.path().join("nowhere")], &out, &[]);
    assert!(text(&missing).contains("not a folder"));
}
