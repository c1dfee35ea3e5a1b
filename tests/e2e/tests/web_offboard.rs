//! Operating houses from the browser, in a real chromium:
//! - offboarding: the preview is what `hemflux remove --dry-run` prints; a soft removal leaves
//!   the `offboarded.json` and `.env` the CLI leaves; Restore on `/admin/offboarded` puts the
//!   files back; a hard removal needs the typed id (a wrong one changes nothing) and purges the
//!   stored points; a viewer can do none of it; all audited;
//! - the comfort and control form: a bad value is refused with the field's error beside it
//!   and the file untouched; a good one changes only those values in the file's text; a viewer
//!   cannot post it, with or without the CSRF token.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hemflux_e2e::browser::{add_user, assert_a_line_holds, Browser};
use hemflux_e2e::{bin, folder_args, run_ok, wait_for, Orchestrator};
use serde_json::Value;

const T: Duration = Duration::from_secs(30);
const BUILDING: &str = r#"{"arrigo": {"base_url": "http://127.0.0.1:9/arrigo/api"}}"#;
const ENV: &str = "BUILDING_kontor_USERNAME='u'\nBUILDING_kontor_PASSWORD='S3cret pw'\nBUILDING_kontor_URL='http://127.0.0.1:9'\nKEEP=1\n";

/// `hemflux remove <args>` on the folders of `dir`; its standard output.
fn cli_remove(dir: &Path, args: &[&str]) -> String {
    run_ok(
        Command::new(bin("hemflux"))
            .arg("remove")
            .args(args)
            .args(folder_args(dir)),
    )
}

/// `offboarded.json` without what differs between two runs: the times (checked to be 30 days
/// apart) and the folder of the config file.
fn offboarded(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("data/offboarded.json")).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    for e in v["entities"].as_array_mut().unwrap() {
        let time = |k: &str| e[k].as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
        let grace = time("purge_after").duration_since(time("removed_at"));
        assert_eq!(grace, jiff::SignedDuration::from_hours(24 * 30));
        let file = Path::new(e["config_file"].as_str().unwrap());
        e["config_file"] = file.file_name().unwrap().to_str().unwrap().into();
        e.as_object_mut().unwrap().remove("removed_at");
        e.as_object_mut().unwrap().remove("purge_after");
    }
    v
}

fn text_of(browser: &Browser, id: &str) -> String {
    let v = browser.wait_for_js(
        &format!("var e = document.getElementById('{id}'); return e && e.innerText;"),
        T,
    );
    v.as_str().unwrap().to_string()
}

fn csrf(browser: &Browser) -> String {
    let v = browser.eval("return document.querySelector('input[name=csrf]').value;");
    v.as_str().unwrap().to_string()
}

#[test]
fn offboarding_in_the_browser_does_what_the_cli_does() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let o = Orchestrator::new("");
    o.write_building("kontor.json", BUILDING);
    std::fs::write(o.path(".env"), ENV).unwrap();
    o.write_profile("villa.json", r#"{"synthetic": {"interval_ms": 200}}"#);
    let o = o.start();
    o.wait_state("synthetic:villa", "running", T);
    // The same building in a folder of its own, for the CLI.
    let by_cli = tempfile::tempdir().unwrap();
    for sub in ["profiles", "buildings", "data"] {
        std::fs::create_dir(by_cli.path().join(sub)).unwrap();
    }
    std::fs::write(by_cli.path().join("buildings/kontor.json"), BUILDING).unwrap();
    std::fs::write(by_cli.path().join(".env"), ENV).unwrap();
    add_user(&o, "anna", "admin", "anna's long passphrase", &[]);
    add_user(
        &o,
        "vera",
        "viewer",
        "vera's long passphrase",
        &["house:villa"],
    );

    // vera, a viewer, can neither see nor post a removal, with her token or without.
    browser.sign_in(&o, "vera", "vera's long passphrase");
    let token = csrf(&browser);
    assert_eq!(browser.fetch("/entity/villa/remove").0, 403);
    assert_eq!(browser.fetch("/admin/offboarded").0, 403);
    let hard = [("mode", "hard"), ("confirm", "villa")];
    assert_eq!(browser.post_form("/entity/villa/remove", &hard), 403);
    let with_token = [("csrf", token.as_str()), hard[0], hard[1]];
    assert_eq!(browser.post_form("/entity/villa/remove", &with_token), 403);
    assert!(o.path("profiles/villa.json").exists());

    // anna previews: the same lines as `hemflux remove --dry-run` on the same folders.
    browser.clear_cookies();
    browser.sign_in(&o, "anna", "anna's long passphrase");
    browser.goto(&o.url("/entity/kontor/remove"));
    let preview = text_of(&browser, "hard-preview");
    let dry = cli_remove(o.path("").as_path(), &["kontor", "--dry-run"]);
    assert_eq!(
        dry.lines().skip(1).collect::<Vec<_>>(),
        preview.lines().collect::<Vec<_>>()
    );
    assert!(preview.contains("BUILDING_kontor_PASSWORD"), "{preview}");
    assert!(
        !preview.contains("S3cret"),
        "a credential's value in the page"
    );
    browser.screenshot("offboard-preview");

    // Soft: the same state and .env as the CLI's soft removal.
    browser.eval("document.getElementById('soft-form').submit(); return true;");
    let done = text_of(&browser, "done");
    assert!(done.contains("Soft removal of building kontor"), "{done}");
    assert!(!o.path("buildings/kontor.json").exists());
    cli_remove(by_cli.path(), &["kontor", "--soft"]);
    assert_eq!(offboarded(&o.path("")), offboarded(by_cli.path()));
    assert_eq!(
        std::fs::read_to_string(o.path(".env")).unwrap(),
        std::fs::read_to_string(by_cli.path().join(".env")).unwrap()
    );
    wait_for(T, "kontor's workers to stop", || {
        let (_, workers) = browser.fetch("/api/workers");
        (!workers.contains("kontor")).then_some(())
    });

    // Listed with its purge date; Restore brings back the file and the credentials.
    browser.goto(&o.url("/admin/offboarded"));
    let row = text_of(&browser, "offboarded-building-kontor");
    let purge = offboarded_purge(&o.path(""));
    assert!(row.contains(&purge), "{row} lacks {purge}");
    browser.screenshot("offboarded");
    browser.eval(
        "document.querySelector('#offboarded-building-kontor form.restore').submit(); return true;",
    );
    let done = text_of(&browser, "done");
    assert!(done.contains("Restored building kontor"), "{done}");
    assert_eq!(
        std::fs::read_to_string(o.path("buildings/kontor.json")).unwrap(),
        BUILDING
    );
    let env = std::fs::read_to_string(o.path(".env")).unwrap();
    assert!(ENV.lines().all(|l| env.lines().any(|e| e == l)), "{env}");
    assert_eq!(offboarded(&o.path(""))["entities"], serde_json::json!([]));

    // Hard: a wrong id changes nothing; the right one removes and purges the stored points.
    browser.goto(&o.url("/entity/villa/remove"));
    let preview = text_of(&browser, "hard-preview");
    let stored: u64 = preview
        .split("The store holds ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no point count in {preview}"));
    assert!(stored > 0, "{preview}");
    let confirm = |typed: &str| {
        browser.eval(&format!(
            "document.getElementById('confirm').value = {};
             document.getElementById('hard-form').submit(); return true;",
            Value::from(typed)
        ));
    };
    confirm("vila");
    let error = text_of(&browser, "error");
    assert!(error.contains("\"vila\""), "{error}");
    assert!(o.path("profiles/villa.json").exists());
    browser.screenshot("offboard-wrong-confirmation");
    confirm("villa");
    let done = text_of(&browser, "done");
    assert!(
        done.contains("Purged house_id=villa:") && done.contains("points deleted from the store"),
        "{done}"
    );
    assert!(!o.path("profiles/villa.json").exists());
    wait_for(T, "villa's page gone with its data", || {
        (browser.fetch("/entity/villa").0 == 404).then_some(())
    });

    let audit = browser.audit_log(&o);
    for what in [
        "remove building kontor (soft)",
        "restore building kontor",
        "remove house villa (hard)",
    ] {
        assert_a_line_holds(&audit, &["anna", what, r#""ok":true"#]);
    }
    assert!(
        !audit.contains("S3cret"),
        "a credential's value in the audit log"
    );
}

/// The purge date of the one soft-removed entity, as the page prints it.
fn offboarded_purge(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("data/offboarded.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let t: jiff::Timestamp = v["entities"][0]["purge_after"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    t.to_string()
}

const KOK: &str = r#"{
  "name": "Kök",
  "location": {"lat": 59.33, "lon": 18.07},
  "homeside": {"base_url": "http://127.0.0.1:9/"},
  "heat_curve_control": {
    "target": 21.0
  }
}
"#;

#[test]
fn comfort_and_control_form_changes_only_its_values() {
    let Some(browser) = Browser::start() else {
        return;
    };
    // The controller asks nothing outside: weather off, and pointed at a closed port.
    let o = Orchestrator::new(
        "[weather]\nenabled = false\nforecast_url = \"http://127.0.0.1:9/forecast\"\n",
    );
    o.write_profile("kok.json", KOK);
    let o = o.start();
    add_user(&o, "anna", "admin", "anna's long passphrase", &[]);
    add_user(&o, "bo", "user", "bo's long passphrase", &["house:kok"]);
    add_user(
        &o,
        "vera",
        "viewer",
        "vera's long passphrase",
        &["house:kok"],
    );
    let profile = o.path("profiles/kok.json");

    browser.sign_in(&o, "vera", "vera's long passphrase");
    let token = csrf(&browser);
    assert_eq!(browser.fetch("/entity/kok/control").0, 403);
    let form = [
        ("target", "22"),
        ("tolerance", "1"),
        ("mode", "intelligent"),
    ];
    assert_eq!(browser.post_form("/entity/kok/control", &form), 403);
    let with_token: Vec<(&str, &str)> =
        [("csrf", token.as_str())].into_iter().chain(form).collect();
    assert_eq!(browser.post_form("/entity/kok/control", &with_token), 403);
    assert_eq!(std::fs::read_to_string(&profile).unwrap(), KOK);

    browser.clear_cookies();
    browser.sign_in(&o, "bo", "bo's long passphrase");
    browser.goto(&o.url("/entity/kok/control"));
    let value = |id: &str| {
        browser
            .eval(&format!("return document.getElementById('{id}').value;"))
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    browser.wait_for_js("return document.getElementById('control-form') != null;", T);
    assert_eq!((value("target"), value("tolerance")), (21.0, 1.0));
    let fill_and_save = |target: &str, tolerance: &str| {
        browser.eval(&format!(
            "document.getElementById('target').value = {};
             document.getElementById('tolerance').value = {};
             document.getElementById('control-form').submit(); return true;",
            Value::from(target),
            Value::from(tolerance)
        ));
    };
    fill_and_save("40", "0.5");
    let error = text_of(&browser, "error-target");
    assert!(error.contains("between 5 and 30"), "{error}");
    assert_eq!(std::fs::read_to_string(&profile).unwrap(), KOK);
    browser.screenshot("control-error");
    fill_and_save("22.5", "0.5");
    browser.wait_for_js("return location.pathname == '/entity/kok';", T);
    assert_eq!(
        std::fs::read_to_string(&profile).unwrap(),
        KOK.replace(
            "\"target\": 21.0",
            "\"tolerance\": 0.5,\n    \"target\": 22.5"
        )
    );

    browser.clear_cookies();
    browser.sign_in(&o, "anna", "anna's long passphrase");
    let audit = browser.audit_log(&o);
    assert_a_line_holds(
        &audit,
        &[
            "bo",
            "edit control settings of kok",
            r#"{"target":21.0}"#,
            r#"{"target":22.5,"tolerance":0.5}"#,
        ],
    );
}
