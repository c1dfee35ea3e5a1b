//! Web users over HTTP against a real `hemflux run`: the session cookie, redirects to
//! `/login`, CSRF, viewers, per-user visibility through the API, registration and approval,
//! the audit log, sign-in limits, the `hemflux user` command, and e-mail notifications
//! arriving at the SMTP simulator.

use std::time::Duration;

use hemflux_e2e::session::{add_user, http, login_as, read_mails, user_cmd, Browser, PW};
use hemflux_e2e::{wait_for, Orchestrator, Sim};
use reqwest::blocking::Response;

const T: Duration = Duration::from_secs(30);

#[test]
fn sign_in_sets_a_private_cookie_and_pages_without_one_go_to_login() {
    let o = Orchestrator::new("").start();
    add_user(&o, "admin", "admin");
    for page in ["/account", "/admin/users", "/admin/audit"] {
        let resp = http().get(o.url(page)).send().unwrap();
        assert_eq!(resp.status(), 303, "{page}");
        let back = page.replace('/', "%2F");
        assert_eq!(
            resp.headers()["location"],
            format!("/login?next={back}").as_str(),
            "{page}"
        );
    }
    let form = http().get(o.url("/login")).send().unwrap().text().unwrap();
    assert!(
        form.contains(r#"name="username""#) && form.contains(r#"name="password""#),
        "{form}"
    );
    assert!(form.contains("/assets/app.css"));

    let wrong = login_as(&o, "admin", "not the password", &[]);
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert!(wrong.text().unwrap().contains(r#"id="error""#));

    let ok = login_as(&o, "admin", PW, &[]);
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/");
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("hemflux_session="), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP, no proxy: {cookie}");

    let b = Browser::sign_in(&o, "admin");
    let account = b.get("/account");
    assert_eq!(account.status(), 200);
    assert!(account
        .text()
        .unwrap()
        .contains(r#"<span id="signed-in-as">admin</span>"#));
    // Sign-out is a state change: it needs the CSRF token too.
    assert_eq!(b.post("/logout", &[], false).status(), 403);
    assert_eq!(b.get("/account").status(), 200, "still signed in");
    let out = b.post("/logout", &[], true);
    assert_eq!(out.status(), 303);
    assert!(out.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let after = b.get("/account");
    assert_eq!(
        (
            after.status().as_u16(),
            after.headers()["location"].to_str().unwrap()
        ),
        (303, "/login?next=%2Faccount"),
        "the session ended on the server, not only in the browser"
    );
    // Signing in again from a signed-in browser needs no token (the /login form has none) and
    // replaces the old session.
    let b2 = Browser::sign_in(&o, "admin");
    let again = http()
        .post(o.url("/login"))
        .header("cookie", &b2.cookie)
        .form(&[("username", "admin"), ("password", PW)])
        .send()
        .unwrap();
    assert_eq!(again.status(), 303);
    assert_eq!(b2.get("/account").status(), 303, "the old session ended");
}

#[test]
fn posts_without_the_csrf_token_are_refused() {
    let o = Orchestrator::new("").start();
    o.write_profile("villa.json", r#"{"synthetic": {"interval_ms": 200}}"#);
    o.wait_state("synthetic:villa", "running", T);
    add_user(&o, "admin", "admin");
    add_user(&o, "bob", "viewer");
    let b = Browser::sign_in(&o, "admin");
    let no_token = b.post("/admin/users/bob/role", &[("role", "user")], false);
    assert_eq!(no_token.status(), 403);
    assert!(no_token.text().unwrap().contains("CSRF"));
    let wrong = http()
        .post(o.url("/admin/users/bob/role"))
        .header("cookie", &b.cookie)
        .form(&[("role", "user"), ("csrf", "0000")])
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 403);
    let (_, list) = user_cmd(&o, &["list"], "");
    assert!(list.contains("bob") && list.contains("viewer"), "{list}");

    let done = b.post("/admin/users/bob/role", &[("role", "user")], true);
    assert_eq!(done.status(), 303);
    let (_, list) = user_cmd(&o, &["list"], "");
    let bob = list.lines().find(|l| l.starts_with("bob")).unwrap();
    assert!(bob.contains(" user "), "{list}");

    // The API through a session: JSON needs the X-CSRF-Token header.
    let restart = |token: Option<&str>| {
        let mut r = http()
            .post(o.url("/api/workers/synthetic:villa/restart"))
            .header("cookie", &b.cookie);
        if let Some(t) = token {
            r = r.header("x-csrf-token", t);
        }
        r.send().unwrap().status().as_u16()
    };
    assert_eq!(restart(None), 403);
    assert_eq!(restart(Some("0000")), 403);
    assert_eq!(restart(Some(&b.csrf)), 200);
    // The API token needs no CSRF token.
    let with_token = http()
        .post(o.url("/api/workers/synthetic:villa/restart"))
        .bearer_auth(o.token())
        .send()
        .unwrap();
    assert_eq!(with_token.status(), 200);
}

#[test]
fn viewers_change_nothing_and_reach_no_admin_page() {
    let o = Orchestrator::new("").start();
    o.write_profile("villa.json", r#"{"synthetic": {"interval_ms": 200}}"#);
    let before = o.wait_state("synthetic:villa", "running", T);
    add_user(&o, "admin", "admin");
    add_user(&o, "vera", "viewer");
    let (ok, out) = user_cmd(&o, &["assign", "vera", "synthetic:villa"], "");
    assert!(ok, "{out}");
    let v = Browser::sign_in(&o, "vera");
    for page in ["/admin/users", "/admin/audit"] {
        assert_eq!(v.get(page).status(), 403, "{page}");
    }
    assert_eq!(v.post("/admin/users/admin/remove", &[], true).status(), 403);
    let restart = http()
        .post(o.url("/api/workers/synthetic:villa/restart"))
        .header("cookie", &v.cookie)
        .header("x-csrf-token", &v.csrf)
        .send()
        .unwrap();
    assert_eq!(restart.status(), 403);
    std::thread::sleep(Duration::from_millis(500));
    let workers: Vec<serde_json::Value> = http()
        .get(o.url("/api/workers"))
        .bearer_auth(o.token())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(workers[0]["pid"], before["pid"], "not restarted");
    let (_, list) = user_cmd(&o, &["list"], "");
    assert!(list.contains("admin"), "{list}");
    // Their own notification choices are theirs to change.
    let own = v.post(
        "/account/notifications",
        &[("email", "vera@example.com"), ("notify", "worker_failed")],
        true,
    );
    assert_eq!(own.status(), 200);
    assert!(own
        .text()
        .unwrap()
        .contains(r#"id="notify-worker_failed" checked"#));
}

#[test]
fn a_user_reads_only_the_houses_assigned_through_the_api() {
    let o = Orchestrator::new("").start();
    o.write_profile("villa.json", r#"{"synthetic": {"interval_ms": 200}}"#);
    o.write_profile("other.json", r#"{"synthetic": {"interval_ms": 200}}"#);
    o.wait_state("synthetic:villa", "running", T);
    o.wait_state("synthetic:other", "running", T);
    // No account yet: reads are open, as the CLI has always used them.
    assert_eq!(o.workers().len(), 2);
    add_user(&o, "owner", "user");
    // The house covers every worker of its profile.
    let (ok, out) = user_cmd(&o, &["assign", "owner", "house:villa"], "");
    assert!(ok, "{out}");
    let anonymous = http().get(o.url("/api/workers")).send().unwrap();
    assert_eq!(
        anonymous.status(),
        401,
        "accounts exist: reads need a principal"
    );
    let b = Browser::sign_in(&o, "owner");
    let ids = |resp: Response| -> Vec<String> {
        let list: Vec<serde_json::Value> = resp.json().unwrap();
        list.iter()
            .map(|w| w["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(b.get("/api/workers")), ["synthetic:villa"]);
    let all = http()
        .get(o.url("/api/workers"))
        .bearer_auth(o.token())
        .send()
        .unwrap();
    assert_eq!(ids(all).len(), 2);
    for fleet in ["/api/errors", "/api/measurements"] {
        assert_eq!(b.get(fleet).status(), 403, "{fleet}");
    }
    let not_mine = http()
        .post(o.url("/api/workers/synthetic:other/restart"))
        .header("cookie", &b.cookie)
        .header("x-csrf-token", &b.csrf)
        .send()
        .unwrap();
    assert_eq!(not_mine.status(), 404);
    let mine = http()
        .post(o.url("/api/workers/synthetic:villa/restart"))
        .header("cookie", &b.cookie)
        .header("x-csrf-token", &b.csrf)
        .send()
        .unwrap();
    assert_eq!(mine.status(), 200);
}

#[test]
fn registration_waits_for_approval_and_every_change_is_in_the_audit_log() {
    let o = Orchestrator::new("").start();
    add_user(&o, "admin", "admin");
    let reg = http()
        .post(o.url("/register"))
        .header("accept-language", "sv-SE,sv;q=0.9")
        .form(&[
            ("username", "carol"),
            ("password", PW),
            ("email", "carol@example.com"),
        ])
        .send()
        .unwrap();
    assert_eq!(reg.status(), 200);
    let text = reg.text().unwrap();
    assert!(
        text.contains(r#"id="registered""#) && text.contains("godkänner"),
        "{text}"
    );
    let pending = login_as(&o, "carol", PW, &[]);
    assert_eq!(pending.status(), 403);
    assert!(pending.headers().get("set-cookie").is_none());

    let a = Browser::sign_in(&o, "admin");
    let users = a.get("/admin/users").text().unwrap();
    assert!(
        users.contains(r#"<tr id="user-carol" data-status="pending">"#),
        "{users}"
    );
    assert_eq!(
        a.post("/admin/users/carol/approve", &[("role", "viewer")], true)
            .status(),
        303
    );
    assert_eq!(
        a.post(
            "/admin/users/carol/assign",
            &[("entities", "house:villa1 building:b1")],
            true
        )
        .status(),
        303
    );
    assert_eq!(login_as(&o, "carol", PW, &[]).status(), 303);
    let users = a.get("/admin/users").text().unwrap();
    assert!(
        users.contains(r#"<tr id="user-carol" data-status="active">"#),
        "{users}"
    );

    let audit = a.get("/admin/audit").text().unwrap();
    let rows: Vec<&str> = audit.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), 4, "{audit}");
    let row = |what: &str| {
        *rows
            .iter()
            .find(|r| r.contains(&format!(r#"<td class="what">{what}</td>"#)))
            .unwrap_or_else(|| panic!("{what} in {audit}"))
    };
    assert!(row("add admin").contains(r#"<td class="who">cli</td>"#));
    assert!(row("register").contains(r#"<td class="who">carol</td>"#));
    let approve = row("approve carol");
    assert!(
        approve.contains(r#"<td class="who">admin</td>"#),
        "{approve}"
    );
    assert!(
        approve.contains("&quot;pending&quot;:true")
            && approve.contains("&quot;pending&quot;:false"),
        "{approve}"
    );
    let assign = row("assign carol");
    assert!(
        assign.contains("building:b1") && assign.contains("house:villa1"),
        "{assign}"
    );
}

#[test]
fn sign_in_is_rate_limited_and_the_cookie_is_secure_behind_a_trusted_proxy() {
    let o = Orchestrator::new("[http]\ntrust_forwarded = true\n").start();
    add_user(&o, "admin", "admin");
    add_user(&o, "dave", "user");
    let from = |addr: &'static str| [("x-forwarded-for", addr)];
    for i in 0..5 {
        let r = login_as(&o, "admin", &format!("guess {i}"), &from("192.0.2.1"));
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    // The right password now waits, from any address: the name is locked for a while.
    let locked = login_as(&o, "admin", PW, &from("192.0.2.2"));
    assert_eq!(locked.status(), 429);
    let wait: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((800..=900).contains(&wait), "{wait}");
    // Another account signs in, and through HTTPS at the proxy its cookie is Secure.
    let ok = login_as(
        &o,
        "dave",
        PW,
        &[
            ("x-forwarded-for", "192.0.2.1"),
            ("x-forwarded-proto", "https"),
        ],
    );
    assert_eq!(ok.status(), 303);
    assert!(ok.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .ends_with("; Secure"));
    // One address guessing many names is stopped too.
    for i in 0..20 {
        let r = login_as(&o, &format!("nobody{i}"), "x", &from("198.51.100.9"));
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    assert_eq!(
        login_as(&o, "dave", PW, &from("198.51.100.9")).status(),
        429
    );
}

#[test]
fn user_command_refuses_bad_input_clearly() {
    let o = Orchestrator::new("");
    let (ok, out) = user_cmd(&o, &["add", "x", "--role", "admin"], "");
    assert!(!ok && out.contains("no password on stdin"), "{out}");
    let (ok, out) = user_cmd(&o, &["add", "x", "--role", "admin"], "short\n");
    assert!(!ok && out.contains("at least 10"), "{out}");
    let (ok, out) = user_cmd(&o, &["add", "x", "--role", "root"], &format!("{PW}\n"));
    assert!(
        !ok && out.contains("expected admin, user or viewer"),
        "{out}"
    );
    let (ok, out) = user_cmd(&o, &["add", "x y", "--role", "user"], &format!("{PW}\n"));
    assert!(!ok && out.contains("user name"), "{out}");
    let (ok, out) = user_cmd(&o, &["remove", "ghost"], "");
    assert!(!ok && out.contains("no user named \"ghost\""), "{out}");
    add_user(&o, "x", "admin");
    let (ok, out) = user_cmd(&o, &["add", "x", "--role", "user"], &format!("{PW}\n"));
    assert!(!ok && out.contains("already exists"), "{out}");
    let (ok, out) = user_cmd(&o, &["remove", "x"], "");
    assert!(!ok && out.contains("last admin"), "{out}");
    let (ok, out) = user_cmd(&o, &["passwd", "x"], "another long password\n");
    assert!(ok, "{out}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(o.path("data/users.sqlite"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn notification_e_mails_arrive_at_the_smtp_simulator() {
    let maildir = tempfile::tempdir().unwrap();
    let secret = maildir.path().join("password");
    std::fs::write(&secret, "sim-secret\n").unwrap();
    let mails_in = maildir.path().join("mail");
    let smtp = Sim::start(
        "smtp",
        &[
            "--maildir",
            mails_in.to_str().unwrap(),
            "--user",
            "mailer",
            "--password-file",
            secret.to_str().unwrap(),
        ],
    );
    let port = smtp.address.rsplit(':').next().unwrap();
    let o = Orchestrator::new(&format!(
        "[email]\nhost = \"127.0.0.1\"\nport = {port}\nfrom = \"hemflux <hemflux@example.com>\"\n\
         starttls = false\nusername = \"mailer\"\ncheck_secs = 1\n"
    ));
    std::fs::write(o.path(".env"), "HEMFLUX_SMTP_PASSWORD=sim-secret\n").unwrap();
    let o = o.start();
    add_user(&o, "admin", "admin");
    add_user(&o, "owner", "user");
    add_user(&o, "stranger", "user");
    user_cmd(&o, &["assign", "owner", "synthetic:flaky"], "");
    let a = Browser::sign_in(&o, "admin");
    let choose = |b: &Browser, email: &str, events: &[&str]| {
        let mut fields = vec![("email", email)];
        fields.extend(events.iter().map(|e| ("notify", *e)));
        assert_eq!(
            b.post("/account/notifications", &fields, true).status(),
            200
        );
    };
    choose(&a, "admin@example.com", &["registration"]);
    choose(
        &Browser::sign_in(&o, "owner"),
        "owner@example.com",
        &["worker_failed"],
    );
    choose(
        &Browser::sign_in(&o, "stranger"),
        "stranger@example.com",
        &["worker_failed"],
    );

    let reg = http()
        .post(o.url("/register"))
        .form(&[("username", "newcomer"), ("password", PW)])
        .send()
        .unwrap();
    assert_eq!(reg.status(), 200);
    // A worker that exits every 50 ms reaches `failed` after five crashes.
    o.write_profile(
        "flaky.json",
        r#"{"synthetic": {"interval_ms": 100, "exit_after_ms": 50}}"#,
    );
    let mails = wait_for(T, "two e-mails in the maildir", || {
        let mails = read_mails(&mails_in);
        (mails.len() >= 2).then_some(mails)
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        read_mails(&mails_in).len(),
        2,
        "one each, nothing for the stranger"
    );
    let to = |who: &str| {
        mails
            .iter()
            .find(|m| m.contains(&format!("X-Envelope-To: <{who}>")))
            .unwrap_or_else(|| panic!("a mail to {who}: {mails:?}"))
    };
    let reg_mail = to("admin@example.com");
    assert!(
        reg_mail.contains("Subject: hemflux: newcomer registered"),
        "{reg_mail}"
    );
    assert!(reg_mail.contains("X-Envelope-From: <hemflux@example.com>"));
    let failed = to("owner@example.com");
    assert!(
        failed.contains("Subject: hemflux: synthetic:flaky has failed"),
        "{failed}"
    );
    assert!(failed.contains("status 3"), "the worker's error: {failed}");
    assert!(!o.log().contains("sim-secret"), "no password in the log");
}

#[test]
fn a_notification_waits_for_an_smtp_server_that_is_down() {
    let port = hemflux_e2e::free_port();
    let o = Orchestrator::new(&format!(
        "[email]\nhost = \"127.0.0.1\"\nport = {port}\nfrom = \"hemflux@example.com\"\n\
         starttls = false\ncheck_secs = 1\n"
    ))
    .start();
    let (ok, out) = user_cmd(
        &o,
        &[
            "add",
            "admin",
            "--role",
            "admin",
            "--email",
            "admin@example.com",
        ],
        &format!("{PW}\n"),
    );
    assert!(ok, "{out}");
    let a = Browser::sign_in(&o, "admin");
    let chosen = a.post(
        "/account/notifications",
        &[("email", "admin@example.com"), ("notify", "registration")],
        true,
    );
    assert_eq!(chosen.status(), 200);
    let reg = http()
        .post(o.url("/register"))
        .form(&[("username", "early"), ("password", PW)])
        .send()
        .unwrap();
    assert_eq!(reg.status(), 200);
    wait_for(T, "a failed first attempt in the log", || {
        o.log().contains("trying again").then_some(())
    });
    let dir = tempfile::tempdir().unwrap();
    let _smtp = Sim::start(
        "smtp",
        &[
            "--port",
            &port.to_string(),
            "--maildir",
            dir.path().to_str().unwrap(),
        ],
    );
    let mails = wait_for(T, "the e-mail after the server came up", || {
        let mails = read_mails(dir.path());
        (!mails.is_empty()).then_some(mails)
    });
    assert!(
        mails[0].contains("Subject: hemflux: early registered"),
        "{}",
        mails[0]
    );
}
