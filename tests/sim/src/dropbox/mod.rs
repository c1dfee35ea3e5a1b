//! Dropbox API v2 (the routes the district-heating exchange uses) and the energy company's
//! "work server" behind it: the partner reads the request file (`BVPro_DH.csv`) and drops
//! `energy_YYYYMMDD.txt` files with hourly data from each meter's `from_datetime`.
//! See `../shared/protocols/dropbox-dh.md`.
//!
//! With `--local-folder DIR` the partner works on a plain directory instead (the folder
//! transport) and the HTTP side still answers, with an empty app folder.
//!
//! Inspection: `GET /_sim/files` (every file and its text, the deleted names, counters).

mod partner;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::Timestamp;
use serde_json::{json, Value};

use crate::common::{every, Answer, Rejected};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    #[arg(long, default_value = "sim-app-key")]
    pub app_key: String,
    #[arg(long, default_value = "sim-app-secret")]
    pub app_secret: String,
    /// The refresh token the app was authorized with (Dropbox does not rotate it).
    #[arg(long, default_value = "sim-dropbox-refresh-token")]
    pub refresh_token: String,
    /// `expires_in` of an access token (Dropbox: 4 hours).
    #[arg(long, default_value_t = 14_400)]
    pub access_token_secs: u64,
    /// Expire each access token after this many API calls, whatever its age: a token that
    /// runs out in the middle of an import.
    #[arg(long)]
    pub access_token_calls: Option<u32>,
    /// Entries per `list_folder` page (callers may ask for fewer with `limit`).
    #[arg(long, default_value_t = 2000)]
    pub page_size: usize,
    /// Answer every Nth API call with 429 `too_many_requests` (Retry-After: 1).
    #[arg(long)]
    pub too_many_every: Option<u64>,
    /// Answer every Nth API call with 503.
    #[arg(long)]
    pub server_error_every: Option<u64>,
    /// The exchange folder the partner works in (inside the app folder).
    #[arg(long, default_value = "/data")]
    pub folder: String,
    #[arg(long, default_value = "BVPro_DH.csv")]
    pub request_file: String,
    /// How often the partner looks at the request file; 0 = no partner.
    #[arg(long, default_value_t = 300)]
    pub partner_interval_ms: u64,
    /// At most this many hours per meter in one energy file.
    #[arg(long, default_value_t = 24 * 100)]
    pub partner_max_hours: u32,
    /// Write files the way the real export sometimes does: UTF-8 BOM, decimal commas, `-`.
    #[arg(long)]
    pub quirks: bool,
    /// Play the partner on this local directory (the folder transport) instead of Dropbox.
    #[arg(long)]
    pub local_folder: Option<PathBuf>,
}

struct File {
    display: String,
    bytes: Vec<u8>,
    rev: u64,
    modified: Timestamp,
}

#[derive(Default)]
struct Store {
    files: BTreeMap<String, File>,
    folders: BTreeSet<String>,
    tokens: HashMap<String, (Instant, Option<u32>)>,
    cursors: HashMap<String, (Vec<Value>, usize)>,
    next_rev: u64,
    calls: u64,
    deleted: Vec<String>,
    refreshes: u64,
    expired_answers: u64,
}

struct Sim {
    args: Args,
    store: Mutex<Store>,
}

type Shared = Arc<Sim>;

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut store = Store::default();
    store.folders.insert(String::new());
    if !args.folder.is_empty() {
        store.folders.insert(args.folder.to_lowercase());
    }
    let sim = Arc::new(Sim {
        args,
        store: Mutex::new(store),
    });
    if sim.args.partner_interval_ms > 0 {
        match sim.args.local_folder.clone() {
            Some(dir) => tokio::spawn(partner::run_local(sim.clone(), dir)),
            None => tokio::spawn(partner::run_dropbox(sim.clone())),
        };
    }
    let router = Router::new()
        .route("/oauth2/token", post(token))
        .route("/2/files/list_folder", post(list_folder))
        .route("/2/files/list_folder/continue", post(list_continue))
        .route("/2/files/download", post(download))
        .route("/2/files/upload", post(upload))
        .route("/2/files/delete_v2", post(delete))
        .route("/_sim/files", get(inspect))
        .layer(axum::middleware::map_response(request_id))
        .with_state(sim.clone());
    crate::common::serve(router, sim.args.listen).await
}

async fn request_id(mut resp: Response) -> Response {
    let id = format!("{:032x}", fastrand::u128(..));
    resp.headers_mut().insert(
        "X-Dropbox-Request-Id",
        HeaderValue::from_str(&id).expect("hex"),
    );
    resp
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Dropbox's 409: the route understood the call and refuses it.
fn route_error(summary: &str, error: Value) -> Rejected {
    let answer = (
        StatusCode::CONFLICT,
        Json(json!({"error_summary": summary, "error": error})),
    );
    answer.into_response().into()
}

fn not_found(route: &str) -> Rejected {
    if route == "files/delete_v2" {
        route_error(
            "path_lookup/not_found/.",
            json!({".tag": "path_lookup", "path_lookup": {".tag": "not_found"}}),
        )
    } else {
        route_error(
            "path/not_found/..",
            json!({".tag": "path", "path": {".tag": "not_found"}}),
        )
    }
}

async fn token(State(sim): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let Some(form) = crate::wattivahti::form_pairs(&body) else {
        return text(
            StatusCode::BAD_REQUEST,
            "request body: could not decode input as form".into(),
        );
    };
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(str::to_string);
    let expected_basic = base64_std(&format!("{}:{}", sim.args.app_key, sim.args.app_secret));
    let client_ok = basic.as_deref() == Some(expected_basic.as_str())
        || (field("client_id") == sim.args.app_key
            && field("client_secret") == sim.args.app_secret);
    let error = |e: &str, d: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": e, "error_description": d})),
        )
            .into_response()
    };
    if field("grant_type") != "refresh_token" {
        return error(
            "unsupported_grant_type",
            "grant_type must be refresh_token here",
        );
    }
    if !client_ok {
        return error("invalid_client", "Invalid client_id or client_secret");
    }
    if field("refresh_token") != sim.args.refresh_token {
        return error("invalid_grant", "refresh token is invalid or revoked");
    }
    let access = format!("sl.u.sim{:024x}", fastrand::u128(..));
    let mut store = sim.store.lock().unwrap();
    store.refreshes += 1;
    let until = Instant::now() + Duration::from_secs(sim.args.access_token_secs);
    store
        .tokens
        .insert(access.clone(), (until, sim.args.access_token_calls));
    Json(json!({"access_token": access, "token_type": "bearer", "expires_in": sim.args.access_token_secs}))
        .into_response()
}

/// Tiny standard base64 for HTTP Basic credentials.
fn base64_std(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Dropbox's 400: plain text naming the route.
fn bad_input(route: &str, message: String) -> Rejected {
    text(
        StatusCode::BAD_REQUEST,
        format!("Error in call to API function \"{route}\": {message}"),
    )
    .into()
}

/// Checks the bearer token and counts the call; an answer to return instead on failure.
fn authorize(sim: &Sim, route: &str, headers: &HeaderMap) -> Result<(), Rejected> {
    let mut store = sim.store.lock().unwrap();
    store.calls += 1;
    if every(store.calls, sim.args.too_many_every).is_some() {
        let body = json!({"error_summary": "too_many_requests/..", "error": {"reason": {".tag": "too_many_requests"}, "retry_after": 1}});
        let answer = (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            Json(body),
        );
        return Err(answer.into_response().into());
    }
    if every(store.calls, sim.args.server_error_every).is_some() {
        let answer = text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable".into(),
        );
        return Err(answer.into());
    }
    let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(bad_input(
            route,
            "Must provide HTTP header \"Authorization\" or URL parameter \"authorization\"."
                .to_string(),
        ));
    };
    let Some(token) = auth.strip_prefix("Bearer ") else {
        return Err(bad_input(
            route,
            "The given OAuth 2 access token is malformed.".to_string(),
        ));
    };
    let auth_error = |tag: &str| {
        let body = json!({"error_summary": format!("{tag}/"), "error": {".tag": tag}});
        Rejected::from((StatusCode::UNAUTHORIZED, Json(body)).into_response())
    };
    let Some((until, calls_left)) = store.tokens.get_mut(token) else {
        return Err(auth_error("invalid_access_token"));
    };
    let expired = Instant::now() >= *until || *calls_left == Some(0);
    if let Some(n) = calls_left {
        *n = n.saturating_sub(1);
    }
    if expired {
        store.expired_answers += 1;
        return Err(auth_error("expired_access_token"));
    }
    Ok(())
}

/// An RPC route's JSON argument, or the 400 text Dropbox answers.
fn rpc_arg(route: &str, headers: &HeaderMap, body: &[u8]) -> Result<Value, Rejected> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/json") {
        return Err(bad_input(route, format!("Bad HTTP \"Content-Type\" header: \"{ct}\".  Expecting one of \"application/json\", \"application/json; charset=utf-8\", \"text/plain; charset=dropbox-cors-hack\".")));
    }
    serde_json::from_slice(body).map_err(|e| {
        bad_input(
            route,
            format!("request body: could not decode input as JSON: {e}"),
        )
    })
}

/// A header argument (`Dropbox-API-Arg`) of a content route.
fn header_arg(route: &str, headers: &HeaderMap) -> Result<Value, Rejected> {
    let raw = headers.get("Dropbox-API-Arg").ok_or_else(|| {
        bad_input(
            route,
            "Must provide HTTP header \"Dropbox-API-Arg\" or URL parameter \"arg\".".to_string(),
        )
    })?;
    let raw = raw.to_str().map_err(|_| {
        bad_input(
            route,
            "HTTP header \"Dropbox-API-Arg\": could not decode input as JSON".to_string(),
        )
    })?;
    serde_json::from_str(raw).map_err(|e| {
        bad_input(
            route,
            format!("HTTP header \"Dropbox-API-Arg\": could not decode input as JSON: {e}"),
        )
    })
}

/// The `path` argument: `""` is the root, anything else starts with `/`; `"/"` is refused.
fn path_arg(route: &str, arg: &Value, allow_root: bool) -> Result<String, Rejected> {
    let path = arg["path"].as_str().unwrap_or_default();
    if path == "/" {
        return Err(bad_input(
            route,
            "request body: path: Specify the root folder as an empty string rather than as \"/\"."
                .to_string(),
        ));
    }
    if (path.is_empty() && !allow_root) || (!path.is_empty() && !path.starts_with('/')) {
        return Err(bad_input(route, format!("request body: path: '{path}' did not match pattern '(/(.|[\\r\\n])*)|(ns:[0-9]+(/.*)?)|(id:.*)'")));
    }
    Ok(path.to_string())
}

fn parent(path_lower: &str) -> &str {
    path_lower.rsplit_once('/').map_or("", |(p, _)| p)
}

fn file_metadata(path_lower: &str, f: &File) -> Value {
    let name = f.display.rsplit('/').next().unwrap_or_default();
    json!({"name": name, "path_lower": path_lower, "path_display": f.display,
        "id": format!("id:sim{:x}", f.rev), "client_modified": f.modified.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "server_modified": f.modified.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(), "rev": format!("{:012x}", f.rev),
        "size": f.bytes.len(), "is_downloadable": true, "content_hash": content_hash(&f.bytes)})
}

/// Dropbox's content hash: SHA-256 of the concatenated SHA-256s of the 4 MiB blocks.
fn content_hash(bytes: &[u8]) -> String {
    use ring::digest::{digest, SHA256};
    let blocks: Vec<u8> = bytes
        .chunks(4 << 20)
        .flat_map(|b| digest(&SHA256, b).as_ref().to_vec())
        .collect();
    digest(&SHA256, &blocks)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn tagged(tag: &str, mut v: Value) -> Value {
    let mut out = serde_json::Map::new();
    out.insert(".tag".into(), tag.into());
    out.append(v.as_object_mut().expect("metadata is an object"));
    Value::Object(out)
}

fn page(store: &mut Store, entries: Vec<Value>, mut offset: usize, limit: usize) -> Value {
    let end = (offset + limit).min(entries.len());
    let chunk = entries[offset..end].to_vec();
    offset = end;
    let has_more = offset < entries.len();
    let cursor = format!("AAsim{:020x}", fastrand::u128(..));
    store.cursors.insert(cursor.clone(), (entries, offset));
    json!({"entries": chunk, "cursor": cursor, "has_more": has_more})
}

async fn list_folder(State(sim): State<Shared>, headers: HeaderMap, body: Bytes) -> Answer {
    const ROUTE: &str = "files/list_folder";
    authorize(&sim, ROUTE, &headers)?;
    let arg = rpc_arg(ROUTE, &headers, &body)?;
    let path = path_arg(ROUTE, &arg, true)?.to_lowercase();
    let limit = arg["limit"]
        .as_u64()
        .map_or(sim.args.page_size, |l| (l as usize).min(sim.args.page_size))
        .max(1);
    let mut store = sim.store.lock().unwrap();
    if store.files.contains_key(&path) {
        return Err(route_error(
            "path/not_folder/..",
            json!({".tag": "path", "path": {".tag": "not_folder"}}),
        ));
    }
    if !store.folders.contains(&path) {
        return Err(not_found(ROUTE));
    }
    let mut entries: Vec<Value> = store
        .folders
        .iter()
        .filter(|f| !f.is_empty() && parent(f) == path)
        .map(|f| json!({".tag": "folder", "name": f.rsplit('/').next(), "path_lower": f, "path_display": f, "id": format!("id:dir{f}")}))
        .collect();
    entries.extend(
        store
            .files
            .iter()
            .filter(|(p, _)| parent(p) == path)
            .map(|(p, f)| tagged("file", file_metadata(p, f))),
    );
    Ok(Json(page(&mut store, entries, 0, limit)).into_response())
}

async fn list_continue(State(sim): State<Shared>, headers: HeaderMap, body: Bytes) -> Answer {
    const ROUTE: &str = "files/list_folder/continue";
    authorize(&sim, ROUTE, &headers)?;
    let arg = rpc_arg(ROUTE, &headers, &body)?;
    let mut store = sim.store.lock().unwrap();
    let Some((entries, offset)) = store
        .cursors
        .remove(arg["cursor"].as_str().unwrap_or_default())
    else {
        return Err(route_error("reset/...", json!({".tag": "reset"})));
    };
    Ok(Json(page(&mut store, entries, offset, sim.args.page_size)).into_response())
}

async fn download(State(sim): State<Shared>, headers: HeaderMap, body: Bytes) -> Answer {
    const ROUTE: &str = "files/download";
    authorize(&sim, ROUTE, &headers)?;
    let arg = header_arg(ROUTE, &headers)?;
    if !body.is_empty() {
        return Err(bad_input(ROUTE, "This function requires its argument in the HTTP header \"Dropbox-API-Arg\" and an empty body.".into()));
    }
    let path = path_arg(ROUTE, &arg, false)?.to_lowercase();
    let store = sim.store.lock().unwrap();
    if store.folders.contains(&path) {
        return Err(route_error(
            "path/not_file/..",
            json!({".tag": "path", "path": {".tag": "not_file"}}),
        ));
    }
    let Some(f) = store.files.get(&path) else {
        return Err(not_found(ROUTE));
    };
    let meta = file_metadata(&path, f).to_string();
    let meta = HeaderValue::from_str(&ascii_json(&meta)).expect("ascii");
    let answer = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::HeaderName::from_static("dropbox-api-result"), meta),
        ],
        f.bytes.clone(),
    );
    Ok(answer.into_response())
}

/// JSON in an HTTP header must be ASCII: everything else as `\uXXXX`.
fn ascii_json(s: &str) -> String {
    s.encode_utf16()
        .map(|u| {
            if u < 0x80 {
                (u as u8 as char).to_string()
            } else {
                format!("\\u{u:04x}")
            }
        })
        .collect()
}

async fn upload(State(sim): State<Shared>, headers: HeaderMap, body: Bytes) -> Answer {
    const ROUTE: &str = "files/upload";
    authorize(&sim, ROUTE, &headers)?;
    let arg = header_arg(ROUTE, &headers)?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct != "application/octet-stream" {
        return Err(bad_input(ROUTE, format!("Bad HTTP \"Content-Type\" header: \"{ct}\".  Expecting one of \"application/octet-stream\", \"text/plain; charset=dropbox-cors-hack\".")));
    }
    let display = path_arg(ROUTE, &arg, false)?;
    let mode = match &arg["mode"] {
        Value::Null => "add",
        Value::String(s) => s.as_str(),
        v => v[".tag"].as_str().unwrap_or(""),
    };
    if mode != "add" && mode != "overwrite" {
        return Err(bad_input(
            ROUTE,
            format!("HTTP header \"Dropbox-API-Arg\": mode: unknown tag '{mode}'"),
        ));
    }
    if let Some(expected) = arg["content_hash"].as_str() {
        if expected != content_hash(&body) {
            return Err(route_error(
                "content_hash_mismatch/...",
                json!({".tag": "content_hash_mismatch"}),
            ));
        }
    }
    let mut store = sim.store.lock().unwrap();
    let path = display.to_lowercase();
    if mode == "add" && store.files.contains_key(&path) {
        return Err(route_error(
            "path/conflict/file/..",
            json!({".tag": "path", "reason": {".tag": "conflict", "conflict": {".tag": "file"}}, "upload_session_id": "sim"}),
        ));
    }
    if store.folders.contains(&path) {
        return Err(route_error(
            "path/conflict/folder/..",
            json!({".tag": "path", "reason": {".tag": "conflict", "conflict": {".tag": "folder"}}, "upload_session_id": "sim"}),
        ));
    }
    let meta = store.put(&display, body.to_vec());
    Ok(Json(meta).into_response())
}

async fn delete(State(sim): State<Shared>, headers: HeaderMap, body: Bytes) -> Answer {
    const ROUTE: &str = "files/delete_v2";
    authorize(&sim, ROUTE, &headers)?;
    let arg = rpc_arg(ROUTE, &headers, &body)?;
    let path = path_arg(ROUTE, &arg, false)?.to_lowercase();
    let mut store = sim.store.lock().unwrap();
    if !path.is_empty() && store.folders.contains(&path) {
        // A folder goes with everything in it.
        let inside = |p: &String| p == &path || p.starts_with(&format!("{path}/"));
        store.folders.retain(|f| !inside(f));
        let files: Vec<String> = store.files.keys().filter(|p| inside(p)).cloned().collect();
        for p in files {
            let f = store.files.remove(&p).expect("listed");
            store.deleted.push(f.display);
        }
        let name = path.rsplit('/').next();
        let meta = json!({"name": name, "path_lower": path, "path_display": path, "id": format!("id:dir{path}")});
        return Ok(Json(json!({"metadata": tagged("folder", meta)})).into_response());
    }
    let Some(f) = store.files.remove(&path) else {
        return Err(not_found(ROUTE));
    };
    store.deleted.push(f.display.clone());
    Ok(Json(json!({"metadata": tagged("file", file_metadata(&path, &f))})).into_response())
}

impl Store {
    /// Creates or replaces a file (and its parent folders); its metadata.
    fn put(&mut self, display: &str, bytes: Vec<u8>) -> Value {
        let path = display.to_lowercase();
        let mut dir = parent(&path).to_string();
        while !dir.is_empty() {
            self.folders.insert(dir.clone());
            dir = parent(&dir).to_string();
        }
        self.next_rev += 1;
        let file = File {
            display: display.to_string(),
            bytes,
            rev: self.next_rev,
            modified: Timestamp::now(),
        };
        let meta = file_metadata(&path, &file);
        self.files.insert(path, file);
        meta
    }
}

async fn inspect(State(sim): State<Shared>) -> Json<Value> {
    let store = sim.store.lock().unwrap();
    let files: serde_json::Map<String, Value> = store
        .files
        .values()
        .map(|f| (f.display.clone(), String::from_utf8_lossy(&f.bytes).into()))
        .collect();
    Json(
        json!({"files": files, "deleted": store.deleted, "token_refreshes": store.refreshes,
        "expired_answers": store.expired_answers, "calls": store.calls}),
    )
}
