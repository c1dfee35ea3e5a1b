//! The middleware in front of every route: finds the session of the cookie and puts its
//! [`SessionUser`] in the request for the extractors of [`crate::auth`]; refuses (403) a
//! state-changing request of a session without the session's CSRF token (form field `csrf` or
//! header `X-CSRF-Token`) and any state change by a viewer except to their own account; and
//! notes the client's address and scheme ([`Client`]) for the sign-in limits and the cookie.
//!
//! Requests with `Authorization: Bearer` skip the session: the token is not sent by browsers on
//! their own, so it needs no CSRF token.

use std::net::{IpAddr, SocketAddr};

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{session, Users};
use crate::auth::SessionUser;
use crate::users::Role;

/// Largest form body checked for a CSRF field.
const MAX_FORM: usize = 1024 * 1024;

/// The client as this server sees it (after a trusted proxy's headers).
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub addr: Option<IpAddr>,
    /// Reached over HTTPS: the cookie gets `Secure`.
    pub https: bool,
}

pub async fn sessions(State(users): State<Users>, mut req: Request, next: Next) -> Response {
    let client = client(&users, &req);
    req.extensions_mut().insert(client);
    if req.headers().contains_key(header::AUTHORIZATION) {
        return next.run(req).await;
    }
    let Some(id) = session_cookie(req.headers()) else {
        return next.run(req).await;
    };
    let user = match users.session_user(&id) {
        Ok(Some(u)) => u,
        Ok(None) => return next.run(req).await,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
    };
    // Signing in (again, maybe as someone else) or registering does not act on the session, so
    // a form without its token is fine there; the Host and Origin checks still apply.
    let fresh_start = matches!(req.uri().path(), "/login" | "/register");
    if !fresh_start && !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        let req_checked = match check_csrf(req, &user.csrf).await {
            Ok(r) => r,
            Err(refusal) => return refusal,
        };
        req = req_checked;
        if user.role == Role::Viewer && !own_account(req.uri().path()) {
            return (StatusCode::FORBIDDEN, "a viewer cannot change anything").into_response();
        }
    }
    req.extensions_mut().insert::<SessionUser>(user);
    next.run(req).await
}

/// What a viewer may still post: sign-out and their own password and choices.
fn own_account(path: &str) -> bool {
    path == "/logout" || path == "/account" || path.starts_with("/account/")
}

/// The request back (its body read and put back) if it carries `expected`, else a 403.
async fn check_csrf(req: Request, expected: &str) -> Result<Request, Response> {
    let refused = || {
        (
            StatusCode::FORBIDDEN,
            "missing or wrong CSRF token: send the form field `csrf` or the header X-CSRF-Token",
        )
            .into_response()
    };
    if let Some(v) = req.headers().get("x-csrf-token") {
        return if same(v.as_bytes(), expected.as_bytes()) {
            Ok(req)
        } else {
            Err(refused())
        };
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(refused());
    }
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, MAX_FORM)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response())?;
    let presented = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|fields| fields.into_iter().find(|(k, _)| k == "csrf"))
        .map(|(_, v)| v);
    match presented {
        Some(v) if same(v.as_bytes(), expected.as_bytes()) => {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        _ => Err(refused()),
    }
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == session::COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

fn client(users: &Users, req: &Request) -> Client {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let s = users.settings();
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if !s.trust_forwarded {
        return Client {
            addr: peer,
            https: s.secure_cookies,
        };
    }
    let forwarded_for = header("x-forwarded-for")
        .and_then(|v| v.rsplit(',').next())
        .and_then(|a| a.trim().parse().ok());
    let https = header("x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"));
    Client {
        addr: forwarded_for.or(peer),
        https: https || s.secure_cookies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str, header_token: Option<&str>) -> Request {
        let mut b = Request::builder()
            .method("POST")
            .uri("/admin/users/x/remove")
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(t) = header_token {
            b = b.header("x-csrf-token", t);
        }
        b.body(Body::from(body.to_string())).unwrap()
    }

    #[tokio::test]
    async fn csrf_from_form_field_or_header() {
        let ok = check_csrf(form("a=1&csrf=tok123&b=2", None), "tok123")
            .await
            .unwrap();
        let body = to_bytes(ok.into_body(), 100).await.unwrap();
        assert_eq!(
            &body[..],
            b"a=1&csrf=tok123&b=2",
            "the handler still gets the form"
        );
        assert!(check_csrf(form("", Some("tok123")), "tok123").await.is_ok());
        for bad in [
            form("a=1", None),
            form("csrf=tok124", None),
            form("csrf=", None),
            form("csrf=tok123", Some("wrong")),
        ] {
            let r = check_csrf(bad, "tok123").await.unwrap_err();
            assert_eq!(r.status(), StatusCode::FORBIDDEN);
        }
        let json = Request::builder()
            .method("POST")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"csrf":"tok123"}"#))
            .unwrap();
        assert!(
            check_csrf(json, "tok123").await.is_err(),
            "JSON needs the header"
        );
    }

    #[test]
    fn cookie_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            "cookie",
            "lang=sv; hemflux_session=abc; x=y".parse().unwrap(),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
        h.insert("cookie", "hemflux_session=".parse().unwrap());
        assert_eq!(session_cookie(&h), None);
    }
}
