//! Accounts and sessions over plain HTTP (no browser): `hemflux user`, signing in, and a
//! signed-in client with its cookie and CSRF token, for the users and sign-in tests.

use std::process::Command;
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use reqwest::redirect::Policy;

use crate::{bin, output_text, output_with_stdin, Orchestrator};

pub const PW: &str = "a long enough password";

pub fn http() -> Client {
    Client::builder()
        .redirect(Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// `hemflux user ARGS... --data <o>/data` with `stdin`; (success, stdout + stderr).
pub fn user_cmd(o: &Orchestrator, args: &[&str], stdin: &str) -> (bool, String) {
    let out = output_with_stdin(
        Command::new(bin("hemflux"))
            .arg("user")
            .args(args)
            .arg("--data")
            .arg(o.path("data")),
        stdin,
    );
    (out.status.success(), output_text(&out))
}

pub fn add_user(o: &Orchestrator, name: &str, role: &str) {
    let (ok, out) = user_cmd(o, &["add", name, "--role", role], &format!("{PW}\n"));
    assert!(ok, "{out}");
}

pub fn login_as(o: &Orchestrator, name: &str, pw: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = http()
        .post(o.url("/login"))
        .form(&[("username", name), ("password", pw)]);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().unwrap()
}

/// A signed-in browser: its cookie and its CSRF token.
pub struct Browser<'a> {
    o: &'a Orchestrator,
    pub cookie: String,
    pub csrf: String,
}

impl<'a> Browser<'a> {
    pub fn sign_in(o: &'a Orchestrator, name: &str) -> Browser<'a> {
        let resp = login_as(o, name, PW, &[]);
        assert_eq!(resp.status(), 303, "{}", resp.text().unwrap());
        let cookie = resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let page = http()
            .get(o.url("/account"))
            .header("cookie", &cookie)
            .send()
            .unwrap()
            .text()
            .unwrap();
        let csrf = page
            .split(r#"name="csrf" value=""#)
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a csrf field on /account")
            .to_string();
        Browser { o, cookie, csrf }
    }

    pub fn get(&self, path: &str) -> Response {
        http()
            .get(self.o.url(path))
            .header("cookie", &self.cookie)
            .send()
            .unwrap()
    }

    /// A form post, with the CSRF field when `csrf`.
    pub fn post(&self, path: &str, fields: &[(&str, &str)], csrf: bool) -> Response {
        let mut fields = fields.to_vec();
        if csrf {
            fields.push(("csrf", &self.csrf));
        }
        http()
            .post(self.o.url(path))
            .header("cookie", &self.cookie)
            .form(&fields)
            .send()
            .unwrap()
    }
}

/// The `.eml` files the SMTP simulator wrote to `dir`, sorted; none while `dir` does not exist.
pub fn read_mails(dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut mails: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    mails.sort();
    mails
}
