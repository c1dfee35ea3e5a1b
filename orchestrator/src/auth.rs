//! Who may use the HTTP API. Three checks, in this order:
//!
//! - the `Host` header must name this server (an IP address, `localhost`, or a name listed in
//!   `[http] allowed_hosts`), so that a DNS-rebinding page cannot reach it under its own name;
//! - a browser request from another origin (`Origin`, `Sec-Fetch-Site`) is refused, so that a
//!   page the operator visits cannot post to it (CSRF);
//! - a state-changing call needs a [`Principal`]: the API token that `hemflux run` keeps in
//!   `<data>/api-token` (mode 0600), sent as `Authorization: Bearer`, or a signed-in web user's
//!   session cookie (see [`crate::users`]), whose state-changing requests must also carry the
//!   session's CSRF token ([`crate::users::guard`] checks it before any handler runs).
//!
//! Reads of entity data take an [`ApiReader`]: anyone while no user account exists (the API as
//! the CLI has always used it), else a principal, and each user sees only what is assigned.
//!
//! `/health` and `/metrics` skip all of this: they are for health checks and Prometheus.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::users::{Role, Users};

/// `[http]` in `hemflux.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Host names (without port) this server answers to besides IP addresses and `localhost`,
    /// such as `hemflux.lan` or the compose service name `hemflux`.
    pub allowed_hosts: Vec<String>,
    /// A web session ends after this long without a request.
    pub session_idle_minutes: u32,
    /// ... and this long after sign-in, however active.
    pub session_max_hours: u32,
    /// Always mark the session cookie `Secure` (TLS ends in front of hemflux).
    pub secure_cookies: bool,
    /// A reverse proxy in front sets `X-Forwarded-Proto` (`https` makes the cookie `Secure`)
    /// and `X-Forwarded-For` (its last address is the client's, for sign-in rate limits).
    /// Only turn on when every request comes through that proxy.
    pub trust_forwarded: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            allowed_hosts: Vec::new(),
            session_idle_minutes: 8 * 60,
            session_max_hours: 7 * 24,
            secure_cookies: false,
            trust_forwarded: false,
        }
    }
}

/// The file that holds the API token.
pub fn token_path(data: &Path) -> PathBuf {
    data.join("api-token")
}

/// Creates the token file if there is none (first start); an existing one is kept.
pub fn ensure_token(data: &Path) -> Result<()> {
    let path = token_path(data);
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(mut f) => {
            f.write_all(new_token()?.as_bytes())
                .and_then(|()| f.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
            tracing::info!("created the API token in {}", path.display());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// `hemflux token rotate`: a new token replaces the old one at once (a running orchestrator
/// notices the file change on the next request).
pub fn rotate(data: &Path) -> Result<()> {
    let path = token_path(data);
    let tmp = data.join(".api-token.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(new_token()?.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("replacing {}", path.display()))
}

/// The token, for the CLI commands that change things.
pub fn read_token(data: &Path) -> Result<String> {
    let path = token_path(data);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading the API token {} (`hemflux run` creates it; pass --data to find it)",
            path.display()
        )
    })?;
    Ok(text.trim().to_string())
}

/// 32 bytes from the kernel's CSPRNG (the getrandom system call, so it works where `/dev` is
/// empty, as in a FROM-scratch image without a container engine's /dev), as hex.
fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| anyhow::anyhow!("asking the kernel for random bytes: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A file's identity: inode and modification time (seconds, nanoseconds).
type FileIdentity = (u64, i64, i64);

/// The token as the server knows it, re-read when the file changes (`hemflux token rotate`).
#[derive(Clone)]
pub struct TokenFile {
    path: PathBuf,
    cached: Arc<Mutex<Option<(FileIdentity, String)>>>,
}

impl TokenFile {
    pub fn new(data: &Path) -> TokenFile {
        TokenFile {
            path: token_path(data),
            cached: Arc::default(),
        }
    }

    fn current(&self) -> Option<String> {
        let meta = std::fs::metadata(&self.path).ok()?;
        let identity = (meta.ino(), meta.mtime(), meta.mtime_nsec());
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        match &*cached {
            Some((id, token)) if *id == identity => Some(token.clone()),
            _ => {
                let token = std::fs::read_to_string(&self.path).ok()?.trim().to_string();
                *cached = Some((identity, token.clone()));
                Some(token)
            }
        }
    }
}

/// Who is calling. Handlers that change state take one as an argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Holder of the API token (the CLI, scripts): may see and change everything.
    ApiToken,
    /// A user signed in to the web UI.
    User(SessionUser),
}

/// A signed-in web user, as their session says on this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub name: String,
    pub role: Role,
    /// The session's CSRF token, for the forms a page renders.
    pub csrf: String,
    /// The houses, buildings and meters assigned to them (worker ids such as `house:villa1`).
    pub entities: BTreeSet<String>,
}

impl Principal {
    /// Whether the caller may see an entity: a worker id such as `house:villa1`,
    /// `meter:villa1/el` or `building:b1`, or a bare profile or building id `villa1`. An
    /// assigned house covers every worker of its profile (`meter:villa1/...`,
    /// `serial:villa1/...`, `synthetic:villa1`); an assigned meter covers only itself.
    pub fn can_see(&self, entity_id: &str) -> bool {
        match self {
            Principal::ApiToken => true,
            Principal::User(u) => {
                u.role == Role::Admin || u.entities.iter().any(|a| covers(a, entity_id))
            }
        }
    }

    /// Whether the caller may change anything (a viewer may not).
    pub fn can_change(&self) -> bool {
        match self {
            Principal::ApiToken => true,
            Principal::User(u) => u.role != Role::Viewer,
        }
    }

    pub fn is_admin(&self) -> bool {
        match self {
            Principal::ApiToken => true,
            Principal::User(u) => u.role == Role::Admin,
        }
    }

    /// Who, for the audit log: the user's name, or `api-token`.
    pub fn name(&self) -> &str {
        match self {
            Principal::ApiToken => "api-token",
            Principal::User(u) => &u.name,
        }
    }

    /// The CSRF token that the page's forms must carry (none for the API token).
    pub fn csrf_token(&self) -> Option<&str> {
        match self {
            Principal::ApiToken => None,
            Principal::User(u) => Some(&u.csrf),
        }
    }
}

/// What the API's router state must provide for authentication.
#[derive(Clone)]
pub struct Auth {
    pub token: TokenFile,
    pub allowed_hosts: Vec<String>,
}

impl<S> FromRequestParts<S> for Principal
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_ref(state);
        let presented = bearer(&parts.headers);
        let signed_in = parts.extensions.get::<SessionUser>();
        match (presented, auth.token.current(), signed_in) {
            (Some(p), Some(t), _) if !t.is_empty() && equal_in_constant_time(p, &t) => {
                Ok(Principal::ApiToken)
            }
            (None, _, Some(user)) => Ok(Principal::User(user.clone())),
            _ => Err((
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                format!(
                    "this call needs the API token (`Authorization: Bearer <the contents of {}>`) or a signed-in user",
                    auth.token.path.display()
                ),
            )
                .into_response()),
        }
    }
}

/// Whether the assignment `a` covers `id` (see [`Principal::can_see`]).
fn covers(a: &str, id: &str) -> bool {
    if a == id {
        return true;
    }
    let Some((kind, name)) = a.split_once(':') else {
        return false;
    };
    match id.split_once(':') {
        None => name == id,
        Some((id_kind, rest)) => {
            kind == "house"
                && matches!(id_kind, "house" | "meter" | "serial" | "synthetic")
                && rest.split('/').next() == Some(name)
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// For pages: the signed-in user, or a redirect to `/login`. Derefs to its [`Principal`]
/// (always [`Principal::User`]).
#[derive(Debug, Clone)]
pub struct PageUser(pub Principal);

impl std::ops::Deref for PageUser {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<SessionUser>() {
            Some(user) => Ok(PageUser(Principal::User(user.clone()))),
            None => Err(Redirect::to("/login").into_response()),
        }
    }
}

/// For admin pages: a signed-in admin; others get 403, nobody a redirect to `/login`.
#[derive(Debug, Clone)]
pub struct AdminUser(pub Principal);

impl std::ops::Deref for AdminUser {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AdminUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let PageUser(p) = PageUser::from_request_parts(parts, state).await?;
        if p.is_admin() {
            Ok(AdminUser(p))
        } else {
            Err((StatusCode::FORBIDDEN, "this page is for admins").into_response())
        }
    }
}

/// Who reads the API: anyone while no user account exists, else a [`Principal`].
#[derive(Debug, Clone)]
pub enum ApiReader {
    Anyone,
    Principal(Principal),
}

impl ApiReader {
    pub fn can_see(&self, entity_id: &str) -> bool {
        match self {
            ApiReader::Anyone => true,
            ApiReader::Principal(p) => p.can_see(entity_id),
        }
    }

    /// Fleet-wide facts (config errors, store counts) are for admins and the token.
    pub fn sees_all(&self) -> bool {
        match self {
            ApiReader::Anyone => true,
            ApiReader::Principal(p) => p.is_admin(),
        }
    }
}

impl<S> FromRequestParts<S> for ApiReader
where
    Auth: FromRef<S>,
    Users: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let anonymous =
            bearer(&parts.headers).is_none() && parts.extensions.get::<SessionUser>().is_none();
        if anonymous {
            match Users::from_ref(state).any_accounts() {
                Ok(false) => return Ok(ApiReader::Anyone),
                Ok(true) => {}
                Err(e) => {
                    return Err(
                        (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response()
                    )
                }
            }
        }
        Principal::from_request_parts(parts, state)
            .await
            .map(ApiReader::Principal)
    }
}

fn equal_in_constant_time(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Middleware for the API routes: refuses a foreign `Host` and cross-origin browser requests.
pub async fn same_site_only(State(auth): State<Auth>, req: Request, next: Next) -> Response {
    if let Err(why) = check_host_and_origin(req.headers(), &auth.allowed_hosts) {
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    next.run(req).await
}

fn check_host_and_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), String> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .ok_or("a Host header is required")?;
    let name = host_name(host);
    let known = name.parse::<std::net::IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(name));
    if !known {
        return Err(format!(
            "Host {host:?} is not a name of this server: add {name:?} to [http] allowed_hosts in hemflux.toml"
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("?");
        let same = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| o.eq_ignore_ascii_case(host));
        if !same {
            return Err(format!("cross-origin request from {origin:?} refused"));
        }
    }
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(site, Some("cross-site" | "same-site")) {
        return Err("cross-site request refused".into());
    }
    Ok(())
}

/// The name part of a Host header: `[::1]:8080` gives `::1`, `a.lan:80` gives `a.lan`.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn hosts_that_name_this_server() {
        let allowed = ["hemflux.lan".to_string()];
        for host in [
            "127.0.0.1:8080",
            "[::1]:8080",
            "localhost:8080",
            "HEMFLUX.lan",
            "10.0.0.5",
        ] {
            assert!(
                check_host_and_origin(&headers(&[("host", host)]), &allowed).is_ok(),
                "{host}"
            );
        }
        for host in [
            "rebind.evil.example",
            "rebind.evil.example:8080",
            "hemflux.lan.evil:80",
        ] {
            let e = check_host_and_origin(&headers(&[("host", host)]), &allowed).unwrap_err();
            assert!(e.contains("allowed_hosts"), "{e}");
        }
        assert!(check_host_and_origin(&HeaderMap::new(), &allowed).is_err());
    }

    #[test]
    fn only_same_origin_browsers() {
        let ok = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        assert!(check_host_and_origin(&ok, &[]).is_ok());
        let evil = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example"),
        ]);
        assert!(check_host_and_origin(&evil, &[])
            .unwrap_err()
            .contains("evil.example"));
        let null = headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]);
        assert!(check_host_and_origin(&null, &[]).is_err());
        let site = headers(&[("host", "127.0.0.1:8080"), ("sec-fetch-site", "cross-site")]);
        assert!(check_host_and_origin(&site, &[]).is_err());
    }

    #[test]
    fn token_file_is_private_and_rotates() {
        let dir = tempfile::tempdir().unwrap();
        ensure_token(dir.path()).unwrap();
        let path = token_path(dir.path());
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        let first = read_token(dir.path()).unwrap();
        assert_eq!(first.len(), 64);
        ensure_token(dir.path()).unwrap();
        assert_eq!(read_token(dir.path()).unwrap(), first, "kept on restart");
        let file = TokenFile::new(dir.path());
        assert_eq!(file.current().as_deref(), Some(first.as_str()));
        rotate(dir.path()).unwrap();
        let second = read_token(dir.path()).unwrap();
        assert_ne!(first, second);
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(file.current().as_deref(), Some(second.as_str()));
    }

    fn user(role: Role, entities: &[&str]) -> Principal {
        Principal::User(SessionUser {
            name: "ann".into(),
            role,
            csrf: "c".into(),
            entities: entities.iter().map(|e| e.to_string()).collect(),
        })
    }

    #[test]
    fn what_each_principal_may_do() {
        let token = Principal::ApiToken;
        assert!(token.can_see("house:x") && token.can_change() && token.is_admin());
        assert_eq!((token.name(), token.csrf_token()), ("api-token", None));
        let admin = user(Role::Admin, &[]);
        assert!(admin.can_see("house:x") && admin.can_change() && admin.is_admin());
        let u = user(
            Role::User,
            &["house:villa1", "building:b1", "meter:villa3/el"],
        );
        assert!(u.can_see("house:villa1") && u.can_see("villa1") && u.can_see("b1"));
        assert!(
            u.can_see("meter:villa1/el") && u.can_see("synthetic:villa1"),
            "the house's workers"
        );
        assert!(u.can_see("serial:villa1/broute") && u.can_see("meter:villa3/el"));
        assert!(!u.can_see("house:villa2") && !u.can_see("meter:villa2/el"));
        assert!(
            !u.can_see("house:villa3") && !u.can_see("meter:villa3/water"),
            "only that meter"
        );
        assert!(!u.can_see("house:villa10") && !u.can_see("meter:villa10/el"));
        assert!(!u.can_see("building:villa1"), "the kind must match");
        assert!(!u.can_see("building:b1x") && !u.can_see("weather:smhi"));
        assert!(u.can_change() && !u.is_admin());
        assert_eq!((u.name(), u.csrf_token()), ("ann", Some("c")));
        let v = user(Role::Viewer, &["house:villa1"]);
        assert!(v.can_see("house:villa1") && !v.can_change() && !v.is_admin());
    }

    #[test]
    fn constant_time_compare() {
        assert!(equal_in_constant_time("abc", "abc"));
        assert!(!equal_in_constant_time("abc", "abd"));
        assert!(!equal_in_constant_time("abc", "abcd"));
    }
}
