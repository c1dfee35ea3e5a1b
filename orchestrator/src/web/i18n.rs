//! English and Swedish. The language comes from `?lang=`, else the `lang` cookie, else the
//! browser's `Accept-Language`; a `?lang=` choice is remembered in the cookie.

use axum::extract::rejection::QueryRejection;
use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Sv,
}

impl Lang {
    pub fn from_request(query: Option<&str>, headers: &HeaderMap) -> Lang {
        Lang::pick(query, headers).0
    }

    /// The language for a request, and whether `?lang=` chose it (to set the cookie).
    pub fn pick(query: Option<&str>, headers: &HeaderMap) -> (Lang, bool) {
        if let Some(l) = query.and_then(Lang::parse) {
            return (l, true);
        }
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix("lang="));
        if let Some(l) = cookie.and_then(Lang::parse) {
            return (l, false);
        }
        // The first language of `Accept-Language` that we have.
        let accepted = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').find_map(Lang::parse));
        (accepted.unwrap_or(Lang::En), false)
    }

    /// `en`, `sv`, or a tag such as `sv-SE;q=0.8`.
    fn parse(s: &str) -> Option<Lang> {
        let primary = s.trim().split(['-', '_', ';']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "sv" => Some(Lang::Sv),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Sv => "sv",
        }
    }

    /// The other language, for the switch in the header.
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Sv,
            Lang::Sv => Lang::En,
        }
    }

    /// The text for `key` in this language; the key itself if the table lacks it.
    pub fn t(self, key: &'static str) -> &'static str {
        TEXTS
            .get(key)
            .map(|&(en, sv)| if self == Lang::Sv { sv } else { en })
            .unwrap_or(key)
    }
}

/// `texts.tsv`, embedded; the tests check that it parses.
static TEXTS: LazyLock<HashMap<&str, (&str, &str)>> = LazyLock::new(|| {
    parse_texts(include_str!("texts.tsv")).unwrap_or_else(|e| panic!("texts.tsv: {e}"))
});

/// Lines of `key<TAB>English<TAB>Swedish`; blank lines and `#` comments are skipped.
fn parse_texts(tsv: &str) -> Result<HashMap<&str, (&str, &str)>, String> {
    let mut texts = HashMap::new();
    for (n, line) in tsv.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let at = n + 1;
        let cells: Vec<&str> = line.split('\t').collect();
        let [key, en, sv] = cells[..] else {
            return Err(format!(
                "line {at}: {} cells, want key, en, sv",
                cells.len()
            ));
        };
        if [key, en, sv].iter().any(|c| c.trim().is_empty()) {
            return Err(format!("line {at} ({key:?}): an empty cell"));
        }
        if texts.insert(key, (en, sv)).is_some() {
            return Err(format!("line {at}: {key:?} again"));
        }
    }
    Ok(texts)
}

/// A page's language, extracted from the request as [`Lang::pick`] chooses it; `chosen` when
/// `?lang=` chose it, so that [`with_lang_cookie`] remembers the choice.
#[derive(Debug, Clone, Copy)]
pub struct PageLang {
    pub lang: Lang,
    pub chosen: bool,
}

impl PageLang {
    /// From the cookie or `Accept-Language` alone, as for a form's post.
    pub fn from_headers(headers: &HeaderMap) -> PageLang {
        PageLang {
            lang: Lang::from_request(None, headers),
            chosen: false,
        }
    }
}

#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for PageLang {
    type Rejection = QueryRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(q) = Query::<LangQuery>::from_request_parts(parts, state).await?;
        let (lang, chosen) = Lang::pick(q.lang.as_deref(), &parts.headers);
        Ok(PageLang { lang, chosen })
    }
}

/// The page as HTML, remembering a `?lang=` choice in a cookie.
pub fn with_lang_cookie(chosen: bool, lang: Lang, html: String) -> Response {
    let mut resp = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    if chosen {
        let cookie = format!(
            "lang={}; Path=/; Max-Age=31536000; SameSite=Lax",
            lang.code()
        );
        if let Ok(v) = cookie.parse() {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice_order_query_cookie_browser() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, "sv-SE,sv;q=0.9".parse().unwrap());
        assert_eq!(Lang::from_request(None, &h), Lang::Sv);
        h.insert(header::COOKIE, "a=b; lang=en".parse().unwrap());
        assert_eq!(Lang::from_request(None, &h), Lang::En);
        assert_eq!(Lang::from_request(Some("sv"), &h), Lang::Sv);
        assert_eq!(Lang::from_request(Some("xx"), &HeaderMap::new()), Lang::En);
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_LANGUAGE,
            "de-DE, sv-SE;q=0.8, en;q=0.5".parse().unwrap(),
        );
        assert_eq!(Lang::pick(None, &h), (Lang::Sv, false));
        assert_eq!(Lang::pick(Some("sv"), &h), (Lang::Sv, true));
    }

    #[tokio::test]
    async fn page_lang_from_the_query_else_the_headers() {
        let extract = |uri: &'static str, accept: &'static str| async move {
            let request = axum::http::Request::builder()
                .uri(uri)
                .header(header::ACCEPT_LANGUAGE, accept)
                .body(())
                .unwrap();
            let (mut parts, ()) = request.into_parts();
            PageLang::from_request_parts(&mut parts, &())
                .await
                .map(|p| (p.lang, p.chosen))
        };
        assert_eq!(extract("/?lang=sv", "en").await.unwrap(), (Lang::Sv, true));
        assert_eq!(extract("/e/x", "sv-SE").await.unwrap(), (Lang::Sv, false));
        // Only a language we have is a choice to remember.
        assert_eq!(extract("/?lang=xx", "sv").await.unwrap(), (Lang::Sv, false));
        assert!(extract("/?lang=sv&lang=en", "en").await.is_err());
    }

    #[test]
    fn every_text_in_both_languages() {
        let texts = parse_texts(include_str!("texts.tsv")).unwrap();
        assert_eq!(texts.len(), TEXTS.len());
        assert_eq!(Lang::Sv.t("restart"), "Starta om");
        assert_eq!(Lang::En.t("restart"), "Restart");
        assert_eq!(Lang::Sv.t("no such key"), "no such key");
        for (bad, why) in [
            ("a\tb\n", "line 1: 2 cells, want key, en, sv"),
            ("# c\n\na\tb\t \n", "line 3 (\"a\"): an empty cell"),
            ("a\tb\tc\na\td\te\n", "line 2: \"a\" again"),
        ] {
            assert_eq!(parse_texts(bad).unwrap_err(), why);
        }
    }

    /// Every `.t("key")` in the web and users pages' code is in `texts.tsv`.
    #[test]
    fn every_key_the_code_names_is_in_the_table() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut named = 0;
        for dir in ["web", "users"] {
            for entry in std::fs::read_dir(src.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.ends_with("i18n.rs") {
                    continue; // its tests name a missing key on purpose
                }
                let code = std::fs::read_to_string(&path).unwrap();
                for call in code.split(".t(\"").skip(1) {
                    let key = &call[..call.find('"').unwrap()];
                    assert!(TEXTS.contains_key(key), "{}: {key:?}", path.display());
                    named += 1;
                }
            }
        }
        assert!(named > 100, "only {named} keys found: is the scan broken?");
    }
}
