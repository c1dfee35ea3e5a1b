//! The HTML of the sign-in, registration, account and admin pages: server-rendered, no
//! script, `/assets/app.css` for the looks, stable `id`s and `name`s for tests.

use std::fmt::Write;

use super::accounts::Account;
use super::audit::Entry;
use super::i18n::{Lang, Text};
use super::notify::Event;
use super::Role;
use crate::auth::Principal;

/// The web UI's escaping, so both sets of pages escape alike.
pub use crate::web::html::esc;

/// The whole page around `body`.
pub fn layout(lang: Lang, title: &str, who: Option<&Principal>, body: &str) -> String {
    let t = lang.text();
    let mut nav = String::new();
    if let Some(p) = who {
        let _ = write!(
            nav,
            r#"<a href="/">{}</a> <a href="/account" id="nav-account">{}</a> "#,
            t.overview, t.account
        );
        if p.is_admin() {
            let _ = write!(
                nav,
                r#"<a href="/admin/users" id="nav-users">{}</a> <a href="/admin/audit" id="nav-audit">{}</a> "#,
                t.users, t.audit
            );
        }
        let _ = write!(
            nav,
            r#"<form method="post" action="/logout" id="logout-form" class="inline">{}<span id="signed-in-as">{}</span> <button type="submit" id="logout">{}</button></form>"#,
            csrf_field(p),
            esc(p.name()),
            t.sign_out
        );
    }
    format!(
        r#"<!doctype html>
<html lang="{code}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · hemflux</title>
<link rel="stylesheet" href="/assets/app.css">
</head>
<body>
<header><nav>{nav}</nav> <span class="lang"><a href="?lang=en" lang="en">English</a> · <a href="?lang=sv" lang="sv">Svenska</a></span></header>
<main>
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"#,
        code = lang.code(),
        title = esc(title),
    )
}

fn csrf_field(p: &Principal) -> String {
    p.csrf_token()
        .map(|c| format!(r#"<input type="hidden" name="csrf" value="{}">"#, esc(c)))
        .unwrap_or_default()
}

/// A message for the user: `id="error"` (role alert) or `id="notice"`.
pub fn message(id: &str, text: &str) -> String {
    let role = if id == "error" {
        r#" role="alert""#
    } else {
        ""
    };
    format!(r#"<p id="{id}"{role}>{}</p>"#, esc(text))
}

/// The sign-in form; `next` (already checked by [`super::routes::safe_next`]) rides along.
pub fn login(t: &Text, msg: &str, next: Option<&str>) -> String {
    let next = next
        .map(|n| format!(r#"<input type="hidden" name="next" value="{}">"#, esc(n)))
        .unwrap_or_default();
    format!(
        r#"{msg}<form method="post" action="/login" id="login-form">{next}
<label for="username">{u}</label> <input id="username" name="username" autocomplete="username" required>
<label for="password">{p}</label> <input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" id="sign-in">{s}</button>
</form>
<p><a href="/register" id="register-link">{r}</a></p>"#,
        u = t.username,
        p = t.password,
        s = t.sign_in,
        r = t.no_account
    )
}

pub fn register(t: &Text, msg: &str) -> String {
    format!(
        r#"{msg}<form method="post" action="/register" id="register-form">
<label for="username">{u}</label> <input id="username" name="username" autocomplete="username" required>
<label for="email">{e}</label> <input id="email" name="email" type="email" autocomplete="email">
<label for="password">{p}</label> <input id="password" name="password" type="password" autocomplete="new-password" minlength="10" required>
<button type="submit" id="register">{r}</button>
</form>
<p><a href="/login">{have}</a></p>"#,
        u = t.username,
        e = t.email,
        p = t.new_password,
        r = t.register,
        have = t.have_account
    )
}

pub fn account(t: &Text, who: &Principal, me: &Account, msg: &str) -> String {
    let csrf = csrf_field(who);
    let mut events = String::new();
    for e in Event::ALL {
        if e == Event::Registration && me.role != Role::Admin {
            continue;
        }
        let checked = if me.notify.contains(&e) {
            " checked"
        } else {
            ""
        };
        let _ = write!(
            events,
            r#"<label><input type="checkbox" name="notify" value="{v}" id="notify-{v}"{checked}> {l}</label>"#,
            v = e.as_str(),
            l = e.label(t)
        );
    }
    format!(
        r#"{msg}<section>
<h2>{cp}</h2>
<form method="post" action="/account/password" id="password-form">{csrf}
<label for="current_password">{cur}</label> <input id="current_password" name="current_password" type="password" autocomplete="current-password" required>
<label for="new_password">{new}</label> <input id="new_password" name="new_password" type="password" autocomplete="new-password" minlength="10" required>
<button type="submit">{cp}</button>
</form>
</section>
<section>
<h2>{nt}</h2>
<form method="post" action="/account/notifications" id="notify-form">{csrf}
<label for="email">{em}</label> <input id="email" name="email" type="email" value="{email}">
<fieldset>{events}</fieldset>
<button type="submit">{save}</button>
</form>
</section>"#,
        cp = t.change_password,
        cur = t.current_password,
        new = t.new_password,
        nt = t.notifications,
        em = t.email,
        email = esc(&me.email),
        save = t.save,
    )
}

pub fn users(
    t: &Text,
    who: &Principal,
    accounts: &[Account],
    known: &[String],
    msg: &str,
) -> String {
    let csrf = csrf_field(who);
    let mut rows = String::new();
    let role_select = |current: Role| {
        let mut s = String::from(r#"<select name="role">"#);
        for r in Role::ALL {
            let sel = if r == current { " selected" } else { "" };
            let _ = write!(s, r#"<option value="{0}"{sel}>{0}</option>"#, r.as_str());
        }
        s + "</select>"
    };
    for a in accounts {
        let n = esc(&a.name);
        let action = |what: &str| format!("/admin/users/{}/{what}", esc(&urlencode(&a.name)));
        let status = if a.pending { t.pending } else { t.active };
        let mut forms = String::new();
        if a.pending {
            let _ = write!(
                forms,
                r#"<form method="post" action="{}" class="approve">{csrf}{} <button type="submit">{}</button></form><form method="post" action="{}" class="reject">{csrf}<button type="submit">{}</button></form>"#,
                action("approve"),
                role_select(Role::User),
                t.approve,
                action("reject"),
                t.reject
            );
        } else {
            let _ = write!(
                forms,
                r#"<form method="post" action="{}" class="role">{csrf}{} <button type="submit">{}</button></form>"#,
                action("role"),
                role_select(a.role),
                t.set_role
            );
        }
        let _ = write!(
            forms,
            r#"<form method="post" action="{}" class="assign">{csrf}<input name="entities" list="known-entities" value="{}" aria-label="{}"> <button type="submit">{}</button></form><form method="post" action="{}" class="remove">{csrf}<button type="submit">{}</button></form>"#,
            action("assign"),
            esc(&a.entities.join(" ")),
            t.entities,
            t.assign,
            action("remove"),
            t.remove
        );
        let _ = write!(
            rows,
            r#"<tr id="user-{n}" data-status="{}"><td class="name">{n}</td><td class="role">{}</td><td class="status">{status}</td><td class="email">{}</td><td class="entities">{}</td><td>{forms}</td></tr>"#,
            if a.pending { "pending" } else { "active" },
            if a.pending { "" } else { a.role.as_str() },
            esc(&a.email),
            esc(&a.entities.join(" ")),
        );
    }
    let options: String = known
        .iter()
        .map(|k| format!(r#"<option value="{}">"#, esc(k)))
        .collect();
    format!(
        r#"{msg}<table id="users"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr></thead><tbody>{rows}</tbody></table>
<datalist id="known-entities">{options}</datalist>"#,
        t.username, t.role, t.status, t.email, t.entities
    )
}

pub fn audit(t: &Text, entries: &[Entry]) -> String {
    let mut rows = String::new();
    let json =
        |v: &Option<serde_json::Value>| v.as_ref().map(|v| esc(&v.to_string())).unwrap_or_default();
    for e in entries {
        let when = jiff::Timestamp::from_second(e.at)
            .map(|t| t.to_string())
            .unwrap_or_default();
        let _ = write!(
            rows,
            r#"<tr><td class="at"><time datetime="{when}">{when}</time></td><td class="who">{}</td><td class="what">{}</td><td class="before"><code>{}</code></td><td class="after"><code>{}</code></td></tr>"#,
            esc(&e.who),
            esc(&e.what),
            json(&e.before),
            json(&e.after)
        );
    }
    format!(
        r#"<table id="audit"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{rows}</tbody></table>"#,
        t.when, t.who, t.what, t.before, t.after
    )
}

/// Percent-encodes a path segment (user names may hold `@`).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(urlencode("a@b.c"), "a%40b.c");
    }
}
