//! The HTML of the sign-in, registration, account and admin pages: server-rendered in the web
//! UI's frame ([`crate::web::html::page_for`]), stable `id`s and `name`s for tests.

use std::fmt::Write;

use super::accounts::Account;
use super::audit::Entry;
use super::notify::Event;
use super::Role;
use crate::auth::Principal;
use crate::web::i18n::Lang;

use crate::web::html::{csrf_field, esc};

/// The whole page around `body`, in the web UI's frame, under the title as a heading.
pub fn layout(lang: Lang, title: &str, who: Option<&Principal>, body: &str) -> String {
    let body = format!("<h1>{}</h1>\n{body}", esc(title));
    crate::web::html::page_for(lang, title, who, &body)
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
pub fn login(lang: Lang, msg: &str, next: Option<&str>) -> String {
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
        u = lang.t("username"),
        p = lang.t("password"),
        s = lang.t("sign_in"),
        r = lang.t("no_account")
    )
}

pub fn register(lang: Lang, msg: &str) -> String {
    format!(
        r#"{msg}<form method="post" action="/register" id="register-form">
<label for="username">{u}</label> <input id="username" name="username" autocomplete="username" required>
<label for="email">{e}</label> <input id="email" name="email" type="email" autocomplete="email">
<label for="password">{p}</label> <input id="password" name="password" type="password" autocomplete="new-password" minlength="10" required>
<button type="submit" id="register">{r}</button>
</form>
<p><a href="/login">{have}</a></p>"#,
        u = lang.t("username"),
        e = lang.t("email"),
        p = lang.t("new_password"),
        r = lang.t("register"),
        have = lang.t("have_account")
    )
}

pub fn account(lang: Lang, who: &Principal, me: &Account, msg: &str) -> String {
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
            l = e.label(lang)
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
        cp = lang.t("change_password"),
        cur = lang.t("current_password"),
        new = lang.t("new_password"),
        nt = lang.t("notifications"),
        em = lang.t("email"),
        email = esc(&me.email),
        save = lang.t("save"),
    )
}

pub fn users(
    lang: Lang,
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
        let status = if a.pending {
            lang.t("pending")
        } else {
            lang.t("active")
        };
        let mut forms = String::new();
        if a.pending {
            let _ = write!(
                forms,
                r#"<form method="post" action="{}" class="approve">{csrf}{} <button type="submit">{}</button></form><form method="post" action="{}" class="reject">{csrf}<button type="submit">{}</button></form>"#,
                action("approve"),
                role_select(Role::User),
                lang.t("approve"),
                action("reject"),
                lang.t("reject")
            );
        } else {
            let _ = write!(
                forms,
                r#"<form method="post" action="{}" class="role">{csrf}{} <button type="submit">{}</button></form>"#,
                action("role"),
                role_select(a.role),
                lang.t("set_role")
            );
        }
        let _ = write!(
            forms,
            r#"<form method="post" action="{}" class="assign">{csrf}<input name="entities" list="known-entities" value="{}" aria-label="{}"> <button type="submit">{}</button></form><form method="post" action="{}" class="remove">{csrf}<button type="submit">{}</button></form>"#,
            action("assign"),
            esc(&a.entities.join(" ")),
            lang.t("entities"),
            lang.t("assign"),
            action("remove"),
            lang.t("remove")
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
        lang.t("username"),
        lang.t("role"),
        lang.t("status"),
        lang.t("email"),
        lang.t("entities")
    )
}

pub fn audit(lang: Lang, entries: &[Entry]) -> String {
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
        lang.t("when"),
        lang.t("who"),
        lang.t("what"),
        lang.t("before"),
        lang.t("after")
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
