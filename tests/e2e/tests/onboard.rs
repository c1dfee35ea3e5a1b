//! Onboarding and offboarding with the real `hemflux` binary against the simulators: credentials
//! are verified before anything is written, signals are discovered, `.env` is 0600, a running
//! orchestrator picks the building up, backfill runs through its API, and removal (soft, restore,
//! hard) does what it says. The password never shows in any output or log.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use hemflux_e2e::{
    bin, folder_args, output_text as text, output_with_stdin, wait_for, Orchestrator, Sim,
};
use serde_json::{json, Value};

const USER: &str = "kontor-user";
const PASSWORD: &str = "Pw$-onb0ard 'never-shown'";
const ID: &str = "TE236_HEM_Kontor";

fn arrigo(extra: &[&str]) -> Sim {
    let mut args = vec!["--username", USER, "--password", PASSWORD];
    args.extend_from_slice(extra);
    Sim::start("arrigo", &args)
}

/// Runs `hemflux <args> --profiles .. --buildings .. --data .. --env-file ..` on `dir` with
/// `stdin` as its input.
fn hemflux(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let out = output_with_stdin(
        Command::new(bin("hemflux"))
            .args(args)
            .args(folder_args(dir))
            .env_remove("INFLUXDB_URL"),
        stdin,
    );
    let all = text(&out);
    assert!(!all.contains(PASSWORD), "the password was printed:\n{all}");
    out
}

fn add_building(dir: &Path, sim: &Sim, password: &str) -> Output {
    let base = format!("{}/arrigo/api", sim.address);
    hemflux(
        dir,
        &[
            "add-building",
            "--non-interactive",
            "--base-url",
            &base,
            "--username",
            USER,
            "--password-stdin",
            "--name",
            "Kontor",
            "--lat",
            "56.67",
            "--lon",
            "12.86",
            "--poll-interval-secs",
            "1",
        ],
        &format!("{password}\n"),
    )
}

/// `hemflux add-house --non-interactive` against `homeside` as `username`, `extra` after.
fn add_house(dir: &Path, homeside: &Sim, username: &str, extra: &[&str], password: &str) -> Output {
    let mut args = vec![
        "add-house",
        "--non-interactive",
        "--base-url",
        &homeside.address,
        "--username",
        username,
        "--password-stdin",
    ];
    args.extend_from_slice(extra);
    hemflux(dir, &args, &format!("{password}\n"))
}

fn empty_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["profiles", "buildings", "data"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
    }
    dir
}

/// Nothing in `folder` (`profiles` or `buildings`) and no `.env`: a refused add wrote nothing.
fn assert_nothing_written(dir: &Path, folder: &str) {
    let written = std::fs::read_dir(dir.join(folder)).unwrap().count();
    assert_eq!(written, 0, "{folder}");
    assert!(!dir.join(".env").exists());
}

#[test]
fn add_building_discovers_signals_and_writes_config_and_a_0600_env() {
    let sim = arrigo(&[]);
    let dir = empty_dir();
    std::fs::write(dir.path().join(".env"), "# mine\nINFLUXDB_ORG=home\n").unwrap();
    let out = add_building(dir.path(), &sim, PASSWORD);
    assert!(out.status.success(), "{}", text(&out));

    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(format!("buildings/{ID}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(
        config["id"], ID,
        "the id defaults to the signals' controller"
    );
    assert_eq!(config["location"]["lat"], 56.67);
    let signals = config["signals"].as_array().unwrap();
    assert_eq!(
        signals.len(),
        7 + 2,
        "7 analog and 2 digital signals: {config}"
    );
    let pump = signals
        .iter()
        .find(|s| s["name"] == format!("{ID}.P1_DRIFT"))
        .expect("the digital signals are listed too");
    assert_eq!(
        (&pump["kind"], &pump["fetch"], &pump["field"]),
        (&json!("digital"), &json!(false), &json!("P1_DRIFT"))
    );
    assert!(
        text(&out).contains("7 analog and 2 digital signals"),
        "{}",
        text(&out)
    );
    let gt_ute = signals
        .iter()
        .find(|s| s["name"] == format!("{ID}.GT_UTE"))
        .unwrap();
    assert_eq!(gt_ute["signal_id"], "VEUyMzZfSEVNX0tvbnRvci5HVF9VVEU=");
    assert_eq!(gt_ute["field"], "GT_UTE");
    assert_eq!(gt_ute["unit"], "°C");

    let env_path = dir.path().join(".env");
    let env = std::fs::read_to_string(&env_path).unwrap();
    assert!(
        env.starts_with("# mine\nINFLUXDB_ORG=home\n"),
        "other lines kept: {env}"
    );
    assert!(
        env.contains(&format!("BUILDING_{ID}_USERNAME='{USER}'")),
        "{env}"
    );
    assert!(env.contains(&format!("BUILDING_{ID}_PASSWORD=")), "{env}");
    assert_eq!(
        std::fs::metadata(&env_path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // The orchestrator's own check accepts what was written.
    let check = Command::new(bin("hemflux"))
        .arg("check")
        .arg("--profiles")
        .arg(dir.path().join("profiles"))
        .arg("--buildings")
        .arg(dir.path().join("buildings"))
        .arg("--env-file")
        .arg(&env_path)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check));
    assert!(
        env.contains(&format!("BUILDING_{ID}_URL='http://127.0.0.1:")),
        "where it was verified: {env}"
    );

    // Adding it twice is refused and changes nothing.
    let again = add_building(dir.path(), &sim, PASSWORD);
    assert!(!again.status.success());
    assert!(text(&again).contains("already exists"), "{}", text(&again));
}

/// A building of 1,200 signals, served 300 a page whatever the client asks: discovery follows
/// the cursors to the last signal.
#[test]
fn add_building_pages_through_a_large_building() {
    let sim = arrigo(&[
        "--extra-analogs",
        "993",
        "--extra-digitals",
        "198",
        "--page-cap",
        "300",
    ]);
    let dir = empty_dir();
    let out = add_building(dir.path(), &sim, PASSWORD);
    assert!(out.status.success(), "{}", text(&out));
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(format!("buildings/{ID}.json"))).unwrap(),
    )
    .unwrap();
    let names: std::collections::BTreeSet<&str> = config["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    let generated = names.iter().filter(|n| n.contains(".AUX_")).count();
    assert_eq!(generated, 993, "every analog, across four pages");
    let digitals = names.iter().filter(|n| n.contains(".DI_")).count();
    assert_eq!(digitals, 198, "every digital, across pages");
    assert!(names.contains(format!("{ID}.GT_UTE").as_str()));
}

#[test]
fn wrong_credentials_write_nothing() {
    let sim = arrigo(&[]);
    let dir = empty_dir();
    let out = add_building(dir.path(), &sim, "not-the-password");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("refused the username or password"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("nothing was written"), "{}", text(&out));
    assert_nothing_written(dir.path(), "buildings");

    // The same for a house whose HomeSide login is wrong.
    let homeside = Sim::start(
        "homeside",
        &["--house", "HEM_FJV_Villa_149:FC2000233091:right"],
    );
    let out = add_house(dir.path(), &homeside, "FC2000233091", &[], "wrong");
    assert!(!out.status.success());
    assert!(text(&out).contains("nothing was written"), "{}", text(&out));
    assert_nothing_written(dir.path(), "profiles");
}

#[test]
fn add_house_finds_the_controller_of_the_login() {
    let homeside = Sim::start(
        "homeside",
        &[
            "--house",
            &format!("HEM_FJV_Villa_149:FC2000233091:{PASSWORD}"),
        ],
    );
    let dir = empty_dir();
    let out = add_house(
        dir.path(),
        &homeside,
        "FC 2000233091",
        &["--name", "Villa 149"],
        PASSWORD,
    );
    assert!(out.status.success(), "{}", text(&out));
    let profile: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("profiles/HEM_FJV_Villa_149.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(profile["name"], "Villa 149");
    assert_eq!(profile["homeside"]["base_url"], homeside.address.as_str());
    let env = std::fs::read_to_string(dir.path().join(".env")).unwrap();
    assert!(
        env.contains("HOUSE_HEM_FJV_Villa_149_USERNAME='FC 2000233091'"),
        "{env}"
    );
    assert_eq!(
        std::fs::metadata(dir.path().join(".env"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
}

/// Points of the building in the store, by `hemflux query`.
fn building_points(o: &Orchestrator) -> Vec<Value> {
    o.query("building_system", &["--tag", &format!("building_id={ID}")])
}

#[test]
fn a_building_is_onboarded_polled_backfilled_removed_softly_restored_and_purged() {
    let sim = arrigo(&["--now", "2025-01-01T06:00:00Z"]);
    let o = Orchestrator::new("").start();
    let d = o.dir.path();

    let out = add_building(d, &sim, PASSWORD);
    assert!(out.status.success(), "{}", text(&out));
    let worker = format!("building:{ID}");
    o.wait_state(&worker, "running", Duration::from_secs(20));
    wait_for(
        Duration::from_secs(20),
        "polled points in the store",
        || (!building_points(&o).is_empty()).then_some(()),
    );

    // Backfill December 2024 through the running orchestrator, twice: the same hourly points.
    let listen = format!("127.0.0.1:{}", o.port);
    let data = o.path("data");
    let backfill = || {
        let out = hemflux_plain(&[
            "backfill",
            ID,
            "--from",
            "2024-12-01",
            "--to",
            "2025-01-01",
            "--listen",
            &listen,
            "--data",
            data.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            text(&out).contains("backfilled 744 points"),
            "{}",
            text(&out)
        );
    };
    backfill();
    let hourly = |o: &Orchestrator| {
        building_points(o)
            .iter()
            .filter(|p| p["time"].as_str().is_some_and(|t| t.starts_with("2024-12")))
            .count()
    };
    assert_eq!(hourly(&o), 744);
    backfill();
    assert_eq!(hourly(&o), 744, "a second backfill adds nothing");

    // Soft removal: config and credentials go, the worker stops, the data stays.
    let out = hemflux(d, &["remove", ID, "--soft"], "");
    assert!(out.status.success(), "{}", text(&out));
    o.wait_gone(&worker, Duration::from_secs(20));
    assert!(!std::fs::read_to_string(d.join(".env"))
        .unwrap()
        .contains("BUILDING_"));
    assert!(hourly(&o) == 744);

    // Restore within the grace period: it polls again.
    let out = hemflux(d, &["remove", ID, "--restore"], "");
    assert!(out.status.success(), "{}", text(&out));
    o.wait_state(&worker, "running", Duration::from_secs(20));

    // Dry run changes nothing; hard removal purges the store.
    let out = hemflux(d, &["remove", ID, "--dry-run"], "");
    assert!(
        out.status.success() && text(&out).contains("Would purge"),
        "{}",
        text(&out)
    );
    assert!(d.join(format!("buildings/{ID}.json")).exists());
    let out = hemflux(
        d,
        &["remove", ID, "--type", "building", "--listen", &listen],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        o.worker(&worker).is_none(),
        "the removal waited for the worker to stop"
    );
    assert_eq!(
        building_points(&o).len(),
        0,
        "every point of the building is purged"
    );

    let log = o.log();
    assert!(
        !log.contains(PASSWORD),
        "the password is in the orchestrator log"
    );
}

/// `hemflux` with only the given args (for commands that take no folder flags).
fn hemflux_plain(args: &[&str]) -> Output {
    let out = Command::new(bin("hemflux")).args(args).output().unwrap();
    assert!(!text(&out).contains(PASSWORD));
    out
}

#[test]
fn the_orchestrator_purges_a_soft_removal_once_its_grace_period_is_over() {
    let sim = arrigo(&[]);
    let mut o = Orchestrator::new("").start();
    let d = o.dir.path().to_path_buf();
    let out = add_building(&d, &sim, PASSWORD);
    assert!(out.status.success(), "{}", text(&out));
    wait_for(
        Duration::from_secs(20),
        "polled points in the store",
        || (!building_points(&o).is_empty()).then_some(()),
    );
    let out = hemflux(&d, &["remove", ID, "--soft"], "");
    assert!(out.status.success(), "{}", text(&out));
    o.wait_gone(&format!("building:{ID}"), Duration::from_secs(20));
    let state_path = d.join("data/offboarded.json");
    let mut state: Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    assert!(
        !building_points(&o).is_empty(),
        "a soft removal keeps the data"
    );

    // The grace period ends (the clock is moved by editing the due date); the orchestrator
    // purges at start and then daily.
    state["entities"][0]["purge_after"] = "2000-01-01T00:00:00Z".into();
    std::fs::write(&state_path, state.to_string()).unwrap();
    o.terminate();
    o.restart();
    wait_for(Duration::from_secs(20), "the purge", || {
        building_points(&o).is_empty().then_some(())
    });
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    assert_eq!(state["entities"], serde_json::json!([]));
    assert!(!o.log().contains(PASSWORD));
}

#[test]
fn hard_removal_purges_the_building_from_influxdb_too() {
    let Some(influx) = hemflux_e2e::servers::Influxd::start("hemflux") else {
        return;
    };
    let sim = arrigo(&[]);
    let sink = format!(
        "[[sinks]]\ntype = \"influxdb_v1\"\nurl = \"{}\"\ndb = \"hemflux\"\nflush_interval_ms = 100\n",
        influx.url()
    );
    let o = Orchestrator::new(&sink).start();
    let d = o.dir.path();
    let out = add_building(d, &sim, PASSWORD);
    assert!(out.status.success(), "{}", text(&out));
    wait_for(
        Duration::from_secs(30),
        "building points in InfluxDB",
        || (influx.count("hemflux", "building_system", "GT_UTE") > 0).then_some(()),
    );

    let listen = format!("127.0.0.1:{}", o.port);
    let out = hemflux(d, &["remove", ID, "--listen", &listen], "");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("deleted from sink influxdb_v1"),
        "{}",
        text(&out)
    );
    assert!(building_points(&o).is_empty());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(influx.count("hemflux", "building_system", "GT_UTE"), 0);
}

#[test]
fn a_login_with_several_houses_needs_house_id() {
    let homeside = Sim::start(
        "homeside",
        &[
            "--house",
            &format!("HEM_FJV_Villa_148:FC2000233091:{PASSWORD}"),
            "--house",
            &format!("HEM_FJV_Villa_149:FC2000233091:{PASSWORD}"),
        ],
    );
    let dir = empty_dir();
    let add = |extra: &[&str]| add_house(dir.path(), &homeside, "FC2000233091", extra, PASSWORD);
    let out = add(&[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--house-id"), "{}", text(&out));
    assert_eq!(
        std::fs::read_dir(dir.path().join("profiles"))
            .unwrap()
            .count(),
        0
    );
    let out = add(&["--house-id", "HEM_FJV_Villa_148"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(dir.path().join("profiles/HEM_FJV_Villa_148.json").exists());
}

#[test]
fn interactive_add_building_asks_and_never_echoes_the_password() {
    use std::io::Read;
    use std::os::fd::OwnedFd;
    let sim = arrigo(&[]);
    let dir = empty_dir();
    let pty = nix::pty::openpty(None, None).unwrap();
    let tty = |fd: &OwnedFd| Stdio::from(fd.try_clone().unwrap());
    let mut child = Command::new(bin("hemflux"))
        .args([
            "add-building",
            "--base-url",
            &format!("{}/arrigo/api", sim.address),
        ])
        .arg("--buildings")
        .arg(dir.path().join("buildings"))
        .arg("--data")
        .arg(dir.path().join("data"))
        .arg("--env-file")
        .arg(dir.path().join(".env"))
        .stdin(tty(&pty.slave))
        .stdout(tty(&pty.slave))
        .stderr(tty(&pty.slave))
        .spawn()
        .unwrap();
    drop(pty.slave);
    let mut master = std::fs::File::from(pty.master);
    let mut writer = master.try_clone().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0
                || tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .is_err()
            {
                break;
            }
        }
    });
    // Everything the terminal showed, and what is left to search for the next prompt.
    let mut transcript = String::new();
    let mut screen = String::new();
    let mut answer = |prompt: &str, reply: &str| {
        wait_for(Duration::from_secs(20), prompt, || {
            while let Ok(chunk) = rx.try_recv() {
                screen.push_str(&chunk);
                transcript.push_str(&chunk);
            }
            screen.contains(prompt).then_some(())
        });
        screen = screen.split_once(prompt).unwrap().1.to_string();
        writer.write_all(format!("{reply}\n").as_bytes()).unwrap();
    };
    answer("Arrigo username: ", USER);
    answer("Password (not shown): ", PASSWORD);
    answer("Building id [TE236_HEM_Kontor]: ", "");
    answer("Name [TE236_HEM_Kontor]: ", "Kontor");
    answer("Latitude (empty to skip): ", "");
    let status = wait_for(Duration::from_secs(20), "hemflux to finish", || {
        child.try_wait().unwrap()
    });
    std::thread::sleep(Duration::from_millis(100));
    while let Ok(chunk) = rx.try_recv() {
        screen.push_str(&chunk);
    }
    assert!(status.success(), "{screen}");
    assert!(
        screen.contains("Added building TE236_HEM_Kontor"),
        "{screen}"
    );
    assert!(
        !screen.contains("never-shown"),
        "the password was echoed: {screen}"
    );
    let env = std::fs::read_to_string(dir.path().join(".env")).unwrap();
    assert!(env.contains("BUILDING_TE236_HEM_Kontor_PASSWORD"), "{env}");
}
