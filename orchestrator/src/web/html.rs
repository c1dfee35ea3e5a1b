//! The page frame and HTML escaping; pages are small enough to write as strings.

use std::fmt::Write;

use super::access::Visitor;
use super::assets;
use super::i18n::Lang;

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
pub fn page(lang: Lang, title: &str, visitor: &Visitor, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="{code}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · hemflux</title>
<link rel="stylesheet" href="{uplot_css}"><link rel="stylesheet" href="{css}">
<script src="{uplot_js}" defer></script><script src="{js}" defer></script>
</head><body data-lang="{code}">
<header><a class="brand" href="/">hemflux</a><nav><a href="/">{overview}</a></nav>
<span class="who">{signed_in}: {name}</span><a class="lang" href="?lang={other}">{other_upper}</a></header>
<main>{body}</main></body></html>"#,
        code = lang.code(),
        title = esc(title),
        uplot_css = assets::url("uPlot.min.css"),
        css = assets::url("style.css"),
        uplot_js = assets::url("uPlot.iife.min.js"),
        js = assets::url("app.js"),
        overview = lang.t("overview"),
        signed_in = lang.t("signed_in_as"),
        name = esc(visitor.name()),
        other = lang.other().code(),
        other_upper = lang.other().code().to_uppercase(),
    );
    out
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
