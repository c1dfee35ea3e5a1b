//! Signing in and administering against a real `hemflux run`: `/login?next=` returns to the
//! page asked for and never elsewhere, `hemflux user approve`, `hemflux check` on `[email]`,
//! and worker actions in the audit log with their outcome.

use std::process::Command;
use std::time::Duration;

use hemflux_e2e::session::{add_user, http, user_cmd, Browser, PW};
use hemflux_e2e::{bin, output_text, Orchestrator};

const T: Duration = Duration::from_secs(30);

/// Signs in with `next` in the form, as the `/login?next=...` page posts it; where it goes.
fn sign_in_then(o: &Orchestrator, next: &str) -> String {
    let resp = http()
        .post(o.url("/login"))
        .form(&[("username", "admin"), ("password", PW), ("next", next)])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 303, "{next}");
    resp.headers()["location"].to_str().unwrap().to_string()
}

#[test]
fn sign_in_returns_to_the_page_asked_for_and_nowhere_else() {
    let o = Orchestrator::new("").start();
    add_user(&o, "admin", "admin");
    let asked = http()
        .get(o.url("/entity/house:a?range=7d"))
        .send()
        .unwrap();
    let to_login = asked.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(to_login, "/login?next=%2Fentity%2Fhouse%3Aa%3Frange%3D7d");
    let form = http().get(o.url(&to_login)).send().unwrap().text().unwrap();
    assert!(
        form.contains(r#"<input type="hidden" name="next" value="/entity/house:a?range=7d">"#),
        "{form}"
    );
    assert_eq!(
        sign_in_then(&o, "/entity/house:a?range=7d"),
        "/entity/house:a?range=7d"
    );
    // Open redirect: anything but a path on this site is ignored.
    for elsewhere in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        assert_eq!(sign_in_then(&o, elsewhere), "/", "{elsewhere}");
        let page = http()
            .get(o.url("/login"))
            .query(&[("next", elsewhere)])
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(!page.contains(r#"name="next""#), "{elsewhere}: {page}");
    }
}

#[test]
fn an_admin_approves_a_registration_at_the_shell() {
    let o = Orchestrator::new("").start();
    add_user(&o, "admin", "admin");
    let reg = http()
        .post(o.url("/register"))
        .form(&[("username", "dana"), ("password", PW)])
        .send()
        .unwrap();
    assert_eq!(reg.status(), 200);
    let (ok, out) = user_cmd(&o, &["list"], "");
    assert!(ok && out.contains("pending"), "{out}");
    let (ok, out) = user_cmd(&o, &["approve", "dana", "--role", "boss"], "");
    assert!(
        !ok && out.contains("expected admin, user or viewer"),
        "{out}"
    );
    let (ok, out) = user_cmd(&o, &["approve", "dana", "--role", "user"], "");
    assert!(ok && out.contains("approved dana (user)"), "{out}");
    let (ok, out) = user_cmd(&o, &["approve", "dana"], "");
    assert!(!ok && out.contains("not waiting for approval"), "{out}");
    let (ok, out) = user_cmd(&o, &["approve", "ghost"], "");
    assert!(!ok && out.contains("no user named \"ghost\""), "{out}");

    // dana signs in as a user, and the audit log says the shell approved her.
    let dana = Browser::sign_in(&o, "dana");
    assert_eq!(dana.get("/account").status(), 200);
    let audit = Browser::sign_in(&o, "admin")
        .get("/admin/audit")
        .text()
        .unwrap();
    let row = audit
        .split("<tr>")
        .find(|r| r.contains(r#"<td class="what">approve dana</td>"#))
        .unwrap_or_else(|| panic!("approve dana in {audit}"));
    assert!(row.contains(r#"<td class="who">cli</td>"#), "{row}");
    assert!(
        row.contains("&quot;pending&quot;:true")
            && row.contains("&quot;role&quot;:&quot;user&quot;"),
        "{row}"
    );
}

#[test]
fn check_names_the_file_and_the_key_of_a_bad_email_section() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["profiles", "buildings"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
    }
    std::fs::write(dir.path().join(".env"), "").unwrap();
    let check = |email: &str| {
        let config = dir.path().join("hemflux.toml");
        std::fs::write(
            &config,
            format!("[email]\nhost = \"smtp.example.com\"\n{email}"),
        )
        .unwrap();
        let out = Command::new(bin("hemflux"))
            .arg("check")
            .arg("--config")
            .arg(&config)
            .current_dir(dir.path())
            .output()
            .unwrap();
        (out.status.success(), output_text(&out))
    };
    let (ok, out) = check("from = \"hemflux <hemflux@example.com>\"\nport = 465\n");
    assert!(ok, "{out}");
    let file = dir.path().join("hemflux.toml").display().to_string();
    let (ok, out) = check("from = \"hemflux at example\"\n");
    assert!(
        !ok && out.contains(&file) && out.contains("[email] from = \"hemflux at example\""),
        "{out}"
    );
    let (ok, out) = check("from = \"hemflux@example.com\"\nport = 0\n");
    assert!(
        !ok && out.contains(&file) && out.contains("[email] port = 0"),
        "{out}"
    );
    let (ok, out) = check("from = \"hemflux@example.com\"\nport = 99999\n");
    assert!(!ok && out.contains(&file) && out.contains("port"), "{out}");
}

#[test]
fn a_worker_action_is_in_the_audit_log_with_its_outcome() {
    let o = Orchestrator::new("").start();
    o.write_profile("villa.json", r#"{"synthetic": {"interval_ms": 200}}"#);
    o.wait_state("synthetic:villa", "running", T);
    add_user(&o, "admin", "admin");
    let a = Browser::sign_in(&o, "admin");
    let restart = |id: &str| {
        http()
            .post(o.url(&format!("/api/workers/{id}/restart")))
            .header("cookie", &a.cookie)
            .header("x-csrf-token", &a.csrf)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(restart("synthetic:villa"), 200);
    assert_eq!(restart("synthetic:gone"), 409);
    let audit = a.get("/admin/audit").text().unwrap();
    let row = |what: &str| {
        audit
            .split("<tr>")
            .find(|r| r.contains(&format!(r#"<td class="what">{what}</td>"#)))
            .unwrap_or_else(|| panic!("{what} in {audit}"))
            .to_string()
    };
    let done = row("restart synthetic:villa");
    assert!(
        done.contains("&quot;ok&quot;:true") && done.contains("restarting"),
        "{done}"
    );
    let refused = row("restart synthetic:gone");
    assert!(
        refused.contains("&quot;ok&quot;:false") && refused.contains("no worker"),
        "{refused}"
    );
}
