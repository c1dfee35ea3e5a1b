//! The page frame and HTML escaping; pages are small enough to write as strings.

use std::fmt::Write;

use super::assets;
use super::i18n::Lang;
use crate::auth::Principal;

/// Text made safe for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: head with the embedded style and script, header with navigation, `body`.
pub fn page(lang: Lang, title: &str, who: &Principal, body: &str) -> String {
    page_for(lang, title, Some(who), body)
}

/// [`page`], also for nobody signed in (the sign-in and registration pages): then the header
/// has no navigation and no sign-out.
pub fn page_for(lang: Lang, title: &str, who: Option<&Principal>, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let nav = who.map_or_else(String::new, |who| {
        format!(
            r#"<nav><a href="/">{overview}</a>{more}</nav>
<form method="post" action="/logout" id="logout-form" class="inline who">{csrf}<span id="signed-in-as">{name}</span> <button type="submit" id="logout">{sign_out}</button></form>"#,
            overview = lang.t("overview"),
            more = nav_links(lang, who),
            csrf = csrf_field(who),
            sign_out = lang.t("sign_out"),
            name = esc(who.name()),
        )
    });
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="{code}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · hemflux</title>
<link rel="stylesheet" href="{uplot_css}"><link rel="stylesheet" href="{css}">
<script src="{uplot_js}" defer></script><script src="{js}" defer></script>
</head><body data-lang="{code}">
<header><a class="brand" href="/">hemflux</a>{nav}
<a class="lang" href="?lang={other}">{other_upper}</a></header>
<main>{body}</main></body></html>"#,
        code = lang.code(),
        title = esc(title),
        uplot_css = assets::url("uPlot.min.css"),
        css = assets::url("app.css"),
        uplot_js = assets::url("uPlot.iife.min.js"),
        js = assets::url("app.js"),
        other = lang.other().code(),
        other_upper = lang.other().code().to_uppercase(),
    );
    out
}

/// Links to the pages this user may use besides the overview.
fn nav_links(lang: Lang, who: &Principal) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#" <a href="/account" id="nav-account">{}</a>"#,
        lang.t("account")
    );
    if who.is_admin() {
        let _ = write!(
            out,
            r#" <a href="/onboard" id="nav-onboard">{}</a> <a href="/admin/offboarded" id="nav-offboarded">{}</a> <a href="/admin/users" id="nav-users">{}</a> <a href="/admin/audit" id="nav-audit">{}</a>"#,
            lang.t("onboard"),
            lang.t("offboarded"),
            lang.t("users"),
            lang.t("audit")
        );
    }
    out
}

/// The hidden field that carries the session's CSRF token in a form.
pub fn csrf_field(who: &Principal) -> String {
    who.csrf_token()
        .map(|c| format!(r#"<input type="hidden" name="csrf" value="{}">"#, esc(c)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            super::esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
