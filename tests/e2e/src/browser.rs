//! A real browser for the web UI tests: Debian's `chromium`, headless, driven over WebDriver by
//! `chromedriver` (package `chromium-driver`).
//!
//! WebDriver rather than the DevTools Protocol: it is plain HTTP + JSON, which this crate
//! already speaks (blocking reqwest), so no websocket client joins the dependency tree; and
//! `execute/sync` returns a script's value, which is all the tests need to read a chart's data.
//! Missing browser: the test is skipped loudly, or fails when `HEMFLUX_REQUIRE_SERVERS=1`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::{
    bin, free_port, run_ok, run_ok_with_stdin, servers::available, wait_for, Orchestrator,
};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A headless chromium session; the driver and the browser stop on drop.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::blocking::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// `None` (after saying so) when chromium or chromedriver is not installed.
    pub fn start() -> Option<Browser> {
        if !available(CHROMIUM) || !available(CHROMEDRIVER) {
            return None;
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        wait_for(Duration::from_secs(20), "chromedriver to answer", || {
            let v: Value = http
                .get(format!("{base}/status"))
                .send()
                .ok()?
                .json()
                .ok()?;
            v["value"]["ready"].as_bool().filter(|r| *r)
        });
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--no-first-run", "--window-size=1280,900",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            http,
            _profile: profile,
        };
        let created = browser.call("POST", "/session", caps);
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_string();
        Some(browser)
    }

    /// One WebDriver command; panics with the driver's message on an error.
    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let resp = req
            .send()
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"));
        let ok = resp.status().is_success();
        let v: Value = resp.json().expect("WebDriver answers JSON");
        assert!(ok, "WebDriver {method} {path}: {v}");
        v["value"].clone()
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", &self.session_path("/url"), json!({ "url": url }));
    }

    /// The value of `script` (a function body: `return ...`) run in the page.
    pub fn eval(&self, script: &str) -> Value {
        self.call(
            "POST",
            &self.session_path("/execute/sync"),
            json!({ "script": script, "args": [] }),
        )
    }

    /// Polls `script` until it returns something other than null/false, or panics after `timeout`.
    pub fn wait_for_js(&self, script: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.eval(script);
            if !(v.is_null() || v == Value::Bool(false)) {
                return v;
            }
            if Instant::now() >= deadline {
                let page = self.eval("return location.href + '\\n' + document.body.innerText;");
                panic!("timed out after {timeout:?} waiting for `{script}` in the page:\n{page}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Signs in through the `/login` form and waits for the overview.
    pub fn sign_in(&self, o: &Orchestrator, name: &str, password: &str) {
        self.goto(&o.url("/login"));
        let script = format!(
            "document.getElementById('username').value = {};
             document.getElementById('password').value = {};
             document.getElementById('login-form').submit(); return true;",
            Value::from(name),
            Value::from(password)
        );
        self.eval(&script);
        self.wait_for_js(
            "return location.pathname == '/' && document.getElementById('fleet') != null;",
            Duration::from_secs(20),
        );
    }

    /// `fetch(path, {method: 'POST', body: form})` from the page (with its cookies); the status
    /// after redirects.
    pub fn post_form(&self, path: &str, form: &[(&str, &str)]) -> u64 {
        let form: serde_json::Map<String, Value> = form
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        let script = format!(
            "var done = arguments[arguments.length - 1];
             fetch({}, {{method: 'POST', body: new URLSearchParams({})}})
               .then(function (r) {{ done(r.status); }}, function (e) {{ done(String(e)); }});",
            Value::from(path),
            Value::Object(form)
        );
        let v = self.call(
            "POST",
            &self.session_path("/execute/async"),
            json!({ "script": script, "args": [] }),
        );
        v.as_u64().unwrap_or_else(|| panic!("POST {path}: {v}"))
    }

    /// Asserts that each of `paths` is not found (404) for the signed-in user.
    pub fn assert_not_found(&self, paths: &[&str]) {
        for path in paths {
            let (status, body) = self.fetch(path);
            assert_eq!(status, 404, "{path}: {body}");
        }
    }

    /// The audit log page's text, as the signed-in user sees it.
    pub fn audit_log(&self, o: &Orchestrator) -> String {
        self.goto(&o.url("/admin/audit"));
        let text = self.eval("return document.body.innerText;");
        text.as_str().expect("the page's text").to_string()
    }

    /// Forgets every cookie (the session): the next page is an anonymous visitor's.
    pub fn clear_cookies(&self) {
        self.call("DELETE", &self.session_path("/cookie"), Value::Null);
    }

    /// `GET path` from the page (with its cookies): (status, body).
    pub fn fetch(&self, path: &str) -> (u64, String) {
        let v = self.eval(&format!(
            "var x = new XMLHttpRequest(); x.open('GET', {}, false); x.send();
             return [x.status, x.responseText];",
            Value::from(path)
        ));
        (v[0].as_u64().unwrap(), v[1].as_str().unwrap().to_string())
    }

    pub fn set_window(&self, width: u32, height: u32) {
        self.call(
            "POST",
            &self.session_path("/window/rect"),
            json!({ "width": width, "height": height }),
        );
    }

    /// Saves a PNG of the viewport as `target/web-screenshots/<name>.png` and returns its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let data = self.call("GET", &self.session_path("/screenshot"), Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("base64 PNG"))
            .expect("valid base64");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

/// `hemflux user add NAME --role ROLE` (password on stdin) and `hemflux user assign` on the
/// orchestrator's data folder.
pub fn add_user(o: &Orchestrator, name: &str, role: &str, password: &str, entities: &[&str]) {
    let data = o.path("data");
    run_ok_with_stdin(
        Command::new(bin("hemflux"))
            .args(["user", "add", name, "--role", role, "--data"])
            .arg(&data),
        &format!("{password}\n"),
    );
    if !entities.is_empty() {
        run_ok(
            Command::new(bin("hemflux"))
                .args(["user", "assign", name])
                .args(entities)
                .arg("--data")
                .arg(&data),
        );
    }
}

/// Asserts that one line of `text` (an audit log) holds every one of `parts`.
pub fn assert_a_line_holds(text: &str, parts: &[&str]) {
    assert!(
        text.lines().any(|l| parts.iter().all(|p| l.contains(p))),
        "no line holds all of {parts:?}:\n{text}"
    );
}

/// Synthetic houses `villa` and `stuga`, running, and the web users `anna` (admin) and `bo`
/// (a user who sees stuga only).
pub fn two_houses_anna_and_bo(o: &Orchestrator) {
    for house in ["villa", "stuga"] {
        o.write_profile(
            &format!("{house}.json"),
            r#"{"synthetic": {"interval_ms": 200}}"#,
        );
        o.wait_state(
            &format!("synthetic:{house}"),
            "running",
            Duration::from_secs(30),
        );
    }
    add_user(o, "anna", "admin", "anna's long passphrase", &[]);
    add_user(o, "bo", "user", "bo's long passphrase", &["house:stuga"]);
}

/// `target/web-screenshots/`, beside the test binaries' `target/<profile>/`.
pub fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "target"))
        .map(|t| t.join("web-screenshots"))
        .unwrap_or_else(|| std::env::temp_dir().join("web-screenshots"))
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .http
                .delete(format!("{}/session/{}", self.base, self.session))
                .send();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
