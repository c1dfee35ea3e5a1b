//! Onboarding from the browser writes the same files as the CLI: a building (Arrigo simulator:
//! login verified, signals discovered, all picked) and a house (HomeSide simulator), each
//! compared byte for byte with what `hemflux add-building` / `add-house --non-interactive`
//! writes for the same login. A wrong password writes nothing. The new building appears on the
//! overview by itself (live), and the audit log names who added what.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hemflux_e2e::browser::{add_user, Browser};
use hemflux_e2e::{bin, folder_args, run_ok_with_stdin, Orchestrator, Sim};
use serde_json::Value;

const T: Duration = Duration::from_secs(30);
const USER: &str = "kontor-user";
const PASSWORD: &str = "Pw$-web 'onboard'";
const HOUSE_USER: &str = "FC2000233091";
const HOUSE_PASSWORD: &str = "right";

/// `hemflux <args> --non-interactive --password-stdin` on a fresh folder; returns the folder.
fn cli(args: &[&str], password: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["profiles", "buildings", "data"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
    }
    run_ok_with_stdin(
        Command::new(bin("hemflux"))
            .args(args)
            .args(["--non-interactive", "--password-stdin"])
            .args(folder_args(dir.path())),
        &format!("{password}\n"),
    );
    dir
}

/// Fills step 1 of `/onboard` and sends it.
fn verify(browser: &Browser, kind: &str, base_url: &str, user: &str, password: &str) {
    browser.eval(&format!(
        "document.querySelector('input[name=kind][value={kind}]').checked = true;
         document.getElementById('base_url').value = {};
         document.getElementById('username').value = {};
         document.getElementById('password').value = {};
         document.getElementById('onboard-form').submit(); return true;",
        Value::from(base_url),
        Value::from(user),
        Value::from(password)
    ));
}

fn only_file(dir: &Path) -> (String, String) {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    (
        files[0].file_name().unwrap().to_string_lossy().to_string(),
        std::fs::read_to_string(&files[0]).unwrap(),
    )
}

/// The name of the one file in `by_web`, checked to be the one file in `by_cli`, byte for byte.
fn one_file_as_by_cli(by_web: &Path, by_cli: &Path) -> String {
    let (name, web) = only_file(by_web);
    let (cli_name, cli_text) = only_file(by_cli);
    assert_eq!(
        (name.as_str(), web.as_str()),
        (cli_name.as_str(), cli_text.as_str())
    );
    name
}

#[test]
fn onboarding_in_the_browser_writes_what_the_cli_writes() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let arrigo = Sim::start("arrigo", &["--username", USER, "--password", PASSWORD]);
    let homeside = Sim::start(
        "homeside",
        &[
            "--house",
            &format!("HEM_FJV_Villa_149:{HOUSE_USER}:{HOUSE_PASSWORD}"),
        ],
    );
    let arrigo_api = format!("{}/arrigo/api", arrigo.address);
    let by_cli = cli(
        &[
            "add-building",
            "--base-url",
            &arrigo_api,
            "--username",
            USER,
        ],
        PASSWORD,
    );
    let house_by_cli = cli(
        &[
            "add-house",
            "--base-url",
            &homeside.address,
            "--username",
            HOUSE_USER,
        ],
        HOUSE_PASSWORD,
    );

    let o = Orchestrator::new("").start();
    add_user(&o, "anna", "admin", "anna's long passphrase", &[]);
    browser.sign_in(&o, "anna", "anna's long passphrase");

    // A wrong password: said so, nothing written.
    browser.goto(&o.url("/onboard"));
    verify(&browser, "building", &arrigo_api, USER, "wrong");
    let error = browser.wait_for_js(
        "var e = document.getElementById('error'); return e && e.innerText;",
        T,
    );
    assert!(
        error.as_str().unwrap().contains("nothing was written"),
        "{error}"
    );
    assert!(!error.as_str().unwrap().contains("wrong"), "{error}");
    assert_eq!(std::fs::read_dir(o.path("buildings")).unwrap().count(), 0);
    assert!(!o.path(".env").exists());

    // The building: signals discovered and listed, all picked, defaults kept.
    verify(&browser, "building", &arrigo_api, USER, PASSWORD);
    let signals = browser.wait_for_js(
        "return document.getElementById('onboard-save') && document.querySelectorAll('input[name=signal]:checked').length;",
        T,
    );
    assert!(signals.as_u64().unwrap() > 0);
    let page = browser.eval("return document.documentElement.outerHTML;");
    assert!(
        !page.as_str().unwrap().contains(PASSWORD),
        "the password went back to the browser"
    );
    browser.screenshot("onboard-building");
    browser.eval("document.getElementById('onboard-save').submit(); return true;");
    browser.wait_for_js(
        "return location.pathname == '/' && document.getElementById('fleet') != null;",
        T,
    );
    let name = one_file_as_by_cli(&o.path("buildings"), &by_cli.path().join("buildings"));
    let env = std::fs::read_to_string(o.path(".env")).unwrap();
    assert_eq!(
        env,
        std::fs::read_to_string(by_cli.path().join(".env")).unwrap()
    );
    let id = name.trim_end_matches(".json").to_string();
    // The running orchestrator picks it up; the overview shows it without a reload.
    browser.wait_for_js(
        &format!("return document.querySelector('#fleet-rows tr[data-id=\"{id}\"]') != null;"),
        T,
    );

    // The house, the same way.
    browser.goto(&o.url("/onboard"));
    verify(
        &browser,
        "house",
        &homeside.address,
        HOUSE_USER,
        HOUSE_PASSWORD,
    );
    browser.wait_for_js("return document.getElementById('onboard-save') != null;", T);
    browser.eval("document.getElementById('onboard-save').submit(); return true;");
    browser.wait_for_js("return location.pathname == '/';", T);
    one_file_as_by_cli(&o.path("profiles"), &house_by_cli.path().join("profiles"));
    let env = std::fs::read_to_string(o.path(".env")).unwrap();
    let cli_env = std::fs::read_to_string(house_by_cli.path().join(".env")).unwrap();
    assert!(
        cli_env.lines().all(|l| env.lines().any(|e| e == l)),
        "{env}\n---\n{cli_env}"
    );

    let audit = browser.audit_log(&o);
    assert!(audit.contains(&format!("add building {id}")), "{audit}");
    assert!(audit.contains("add house HEM_FJV_Villa_149"), "{audit}");
}
