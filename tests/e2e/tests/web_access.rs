//! Who sees and changes what in the web UI, in a real browser: a user sees only the houses
//! assigned to them (overview, page, series API, CSV); a viewer gets no restart button and
//! cannot post one; a form without its CSRF token is refused; a restart from the page lands
//! in the audit log with its outcome (done, or refused by the supervisor); a house's settings are edited in the page, checked like
//! `hemflux check` (a broken edit is refused with its line and column, the file kept), saved
//! atomically and applied by the running orchestrator.

use std::time::Duration;

use hemflux_e2e::browser::{add_user, assert_a_line_holds, two_houses_anna_and_bo, Browser};
use hemflux_e2e::Orchestrator;

const T: Duration = Duration::from_secs(30);

fn rows(browser: &Browser) -> Vec<String> {
    let v = browser.wait_for_js(
        r#"var r = document.querySelectorAll('#fleet-rows tr');
           return r.length ? Array.from(r).map(function (tr) { return tr.dataset.id; }) : null;"#,
        T,
    );
    serde_json::from_value(v).unwrap()
}

#[test]
fn users_see_their_houses_viewers_change_nothing_forms_need_csrf() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let o = Orchestrator::new("").start();
    two_houses_anna_and_bo(&o);
    add_user(
        &o,
        "vera",
        "viewer",
        "vera's long passphrase",
        &["house:villa"],
    );

    // bo: stuga only, by overview, URL, series API and CSV.
    browser.sign_in(&o, "bo", "bo's long passphrase");
    assert_eq!(rows(&browser), ["stuga"]);
    browser.screenshot("overview-user");
    browser.assert_not_found(&[
        "/entity/villa",
        "/api/entity/villa/series",
        "/api/entity/villa/csv",
    ]);
    let (status, overview) = browser.fetch("/api/overview");
    assert_eq!(status, 200);
    assert!(
        overview.contains("\"stuga\"") && !overview.contains("villa"),
        "{overview}"
    );
    let (status, csv) = browser.fetch("/api/entity/stuga/csv");
    assert_eq!(status, 200);
    assert!(csv.contains(",synthetic,"), "{csv:.300}");

    // bo restarts his worker: refused without the form's CSRF token, done with it.
    browser.goto(&o.url("/entity/stuga"));
    let csrf = browser.wait_for_js(
        "var f = document.querySelector('form[action$=\"/restart\"] input[name=csrf]'); return f && f.value;",
        T,
    );
    let csrf = csrf.as_str().unwrap();
    let restart = "/web/workers/synthetic:stuga/restart";
    assert_eq!(browser.post_form(restart, &[]), 403);
    assert_eq!(browser.post_form(restart, &[("csrf", "forged")]), 403);
    assert_eq!(
        browser.post_form("/web/workers/synthetic:villa/restart", &[("csrf", csrf)]),
        404
    );
    assert_eq!(browser.post_form(restart, &[("csrf", csrf)]), 200);
    // A restart the supervisor refuses (stuga has no such worker) is audited as failed.
    assert_eq!(
        browser.post_form("/web/workers/house:stuga/restart", &[("csrf", csrf)]),
        409
    );
    browser.screenshot("entity-user");

    // bo edits stuga's profile: a broken edit is refused and changes nothing; a good one is
    // saved and the orchestrator applies it; villa's is not his to open.
    let profile = o.path("profiles/stuga.json");
    let original = std::fs::read_to_string(&profile).unwrap();
    browser.goto(&o.url("/entity/stuga"));
    browser.wait_for_js(
        "return document.getElementById('edit-settings') != null;",
        T,
    );
    browser.goto(&o.url("/entity/stuga/settings"));
    let set_and_save = |text: &str| {
        browser.eval(&format!(
            "document.getElementById('profile').value = {};
             document.getElementById('settings-form').submit(); return true;",
            serde_json::Value::from(text)
        ));
    };
    set_and_save("{\"synthetic\": {\"interval_ms\": 200},\n \"colour\": 1}");
    let error = browser.wait_for_js(
        "var e = document.getElementById('error'); return e && e.innerText;",
        T,
    );
    let error = error.as_str().unwrap();
    assert!(
        error.contains("stuga.json:2:") && error.contains("colour"),
        "{error}"
    );
    assert_eq!(std::fs::read_to_string(&profile).unwrap(), original);
    browser.screenshot("settings-error");
    set_and_save("{\"synthetic\": {\"interval_ms\": 200, \"points_per_batch\": 3}}");
    browser.wait_for_js("return location.pathname == '/entity/stuga';", T);
    let saved = std::fs::read_to_string(&profile).unwrap();
    assert!(saved.contains("\"points_per_batch\": 3"), "{saved}");
    assert_eq!(browser.fetch("/entity/villa/settings").0, 404);

    // vera, a viewer: sees villa, no restart button, a restart posted with her token is refused,
    // and the admin pages are closed.
    browser.clear_cookies();
    browser.sign_in(&o, "vera", "vera's long passphrase");
    assert_eq!(rows(&browser), ["villa"]);
    browser.goto(&o.url("/entity/villa"));
    browser.wait_for_js(
        "return document.querySelector('#charts canvas') != null;",
        T,
    );
    let buttons =
        browser.eval("return document.querySelectorAll('form[action$=\"/restart\"]').length;");
    assert_eq!(buttons, 0);
    let token = browser.eval("return document.querySelector('input[name=csrf]').value;");
    let token = token.as_str().unwrap();
    assert_eq!(
        browser.post_form("/web/workers/synthetic:villa/restart", &[("csrf", token)]),
        403
    );
    let (status, _) = browser.fetch("/admin/users");
    assert_eq!(status, 403);
    assert_eq!(browser.fetch("/entity/villa/settings").0, 403);
    let refused = browser.post_form(
        "/entity/villa/settings",
        &[
            ("csrf", token),
            ("profile", r#"{"synthetic": {"interval_ms": 5}}"#),
        ],
    );
    assert_eq!(refused, 403);
    let nav = browser.eval("return document.getElementById('nav-users');");
    assert!(nav.is_null(), "no admin links for a viewer");
    browser.screenshot("entity-viewer");

    // anna, the admin, reads bo's restart in the audit log.
    browser.clear_cookies();
    browser.sign_in(&o, "anna", "anna's long passphrase");
    assert_eq!(rows(&browser), ["stuga", "villa"]);
    let audit = browser.audit_log(&o);
    assert_a_line_holds(
        &audit,
        &[
            "bo",
            "restart synthetic:stuga",
            r#""ok":true"#,
            "restarting",
        ],
    );
    assert_a_line_holds(
        &audit,
        &["bo", "restart house:stuga", r#""ok":false"#, "no worker"],
    );
    assert!(!audit.contains("restart synthetic:villa"), "{audit}");
    assert_a_line_holds(&audit, &["bo", "edit settings of stuga"]);
    assert!(!audit.contains("edit settings of villa"), "{audit}");
}
