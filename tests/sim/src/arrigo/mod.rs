//! `hemflux-sim arrigo`: a strict Arrigo BMS API (../shared/protocols/arrigo.md) for one
//! building. Login with rotating refresh tokens and expiring auth tokens, real GraphQL over a
//! deterministic signal set with current values, capped and paged history, folders and alarms,
//! under both `/arrigo/api` and `/Arrigo/api`. Knobs make it fail on purpose.

mod auth;
mod graphql;
mod schema;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::Timestamp;
use serde_json::{json, Value};

use crate::common::every;
use auth::{Auth, Bearer};
use schema::{Options, Schema};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// The one account that can log in.
    #[arg(long, default_value = "hemflux")]
    pub username: String,
    #[arg(long, default_value = "arrigo-demo")]
    pub password: String,
    /// The controller (building) whose signals are served, e.g. `TE236_HEM_Kontor`.
    #[arg(long, default_value = "TE236_HEM_Kontor")]
    pub controller: String,
    /// Lifetime of an auth token (Arrigo: 10 minutes). Fractions allowed, for tests.
    #[arg(long, default_value_t = 600.0)]
    pub token_lifetime_secs: f64,
    /// Lifetime of a refresh token (Arrigo: 60 days).
    #[arg(long, default_value_t = 60.0 * 86_400.0)]
    pub refresh_lifetime_secs: f64,
    /// Rows per page of any connection (history, analogs, digitals, alarms) at most, whatever
    /// `first` asks (Arrigo: "upper limit of 20K results per query").
    #[arg(long, alias = "history-cap", default_value_t = 20_000)]
    pub page_cap: usize,
    /// Generated analog signals beside the 7 named ones (`AUX_0001`, ...): a large building.
    #[arg(long, default_value_t = 0)]
    pub extra_analogs: usize,
    /// Generated digital signals beside the 2 named ones (`DI_0001`, ...).
    #[arg(long, default_value_t = 0)]
    pub extra_digitals: usize,
    /// How far back history goes from the start of the simulator's clock.
    #[arg(long, default_value_t = 800)]
    pub history_days: i64,
    /// The simulator's clock at start (RFC 3339); it then runs in real time. Default: now.
    #[arg(long)]
    pub now: Option<Timestamp>,
    /// `__typename` of the root folder: `Account` or, on Arrigo Local >= 1.4.111, `RootArea`.
    #[arg(long, default_value = "Account")]
    pub root_typename: String,
    /// Reject `timeLengthComparer` in history filters, as some servers do.
    #[arg(long)]
    pub reject_time_length_comparer: bool,
    /// History times without an offset (`2026-02-01T00:05:00`) instead of `Z`.
    #[arg(long)]
    pub naive_times: bool,
    /// Every Nth GraphQL call answers 500.
    #[arg(long)]
    pub http_500_every: Option<u64>,
    /// Every Nth GraphQL call answers 502 with an HTML error page (a proxy in the way).
    #[arg(long)]
    pub html_every: Option<u64>,
    /// Every Nth GraphQL call answers 200 with the JSON cut off halfway.
    #[arg(long)]
    pub truncated_every: Option<u64>,
    /// Every Nth GraphQL call is delayed by --slow-ms.
    #[arg(long)]
    pub slow_every: Option<u64>,
    #[arg(long, default_value_t = 5_000)]
    pub slow_ms: u64,
    /// Every Nth GraphQL call expires the caller's auth token first (401, token-expired).
    #[arg(long)]
    pub expire_every: Option<u64>,
    /// Every Nth GraphQL call forgets the caller's session first (401 without token-expired,
    /// refresh refused): the client must log in again.
    #[arg(long)]
    pub revoke_every: Option<u64>,
    /// The ALARMED alarm is listed only from this many seconds after start: an alarm raised
    /// while a client watches.
    #[arg(long, default_value_t = 0)]
    pub alarm_after_secs: i64,
}

pub struct Sim {
    args: Args,
    schema: Schema,
    auth: Mutex<Auth>,
    graphql_calls: AtomicU64,
    started_real: Instant,
    started_clock: Timestamp,
}

impl Sim {
    /// The simulator's clock, unix seconds.
    fn now(&self) -> i64 {
        self.started_clock.as_second() + self.started_real.elapsed().as_secs() as i64
    }
}

pub async fn run(args: Args) -> Result<()> {
    let started_clock = args.now.unwrap_or_else(Timestamp::now);
    let schema = Schema {
        opts: Options {
            controller: args.controller.clone(),
            root_typename: args.root_typename.clone(),
            page_cap: args.page_cap,
            extra_analogs: args.extra_analogs,
            extra_digitals: args.extra_digitals,
            history_secs: args.history_days * 86_400,
            reject_time_length_comparer: args.reject_time_length_comparer,
            naive_times: args.naive_times,
            alarm_after_secs: args.alarm_after_secs,
        },
        started: started_clock.as_second(),
    };
    let auth = Auth::new(
        Duration::from_secs_f64(args.token_lifetime_secs),
        Duration::from_secs_f64(args.refresh_lifetime_secs),
    );
    let listen = args.listen;
    let sim = Arc::new(Sim {
        args,
        schema,
        auth: Mutex::new(auth),
        graphql_calls: AtomicU64::new(0),
        started_real: Instant::now(),
        started_clock,
    });
    crate::common::serve(router(sim), listen)
        .await
        .context("serving the Arrigo simulator")
}

fn router(sim: Arc<Sim>) -> Router {
    let api = Router::new()
        .route("/login", get(service_info).post(login))
        .route("/login/refresh", post(refresh))
        .route("/login/verify", post(verify))
        .route("/logout", post(logout))
        .route("/graphql", post(graphql));
    Router::new()
        .nest("/arrigo/api", api.clone())
        .nest("/Arrigo/api", api)
        .layer(axum::middleware::map_response_with_state(
            sim.clone(),
            date_header,
        ))
        .with_state(sim)
}

/// Stamps every answer with the simulator's clock, which the worker uses as the time of the
/// current values it reads.
async fn date_header(State(sim): State<Arc<Sim>>, mut res: Response) -> Response {
    let now = Timestamp::from_second(sim.now()).expect("clock in range");
    let text = now.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string();
    if let Ok(v) = HeaderValue::from_str(&text) {
        res.headers_mut().insert(header::DATE, v);
    }
    res
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "message": text }))).into_response()
}

/// Arrigo accepts only `application/json`; the body must then be a JSON object.
fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, (StatusCode, &'static str)> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED MEDIA TYPE"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err((
            StatusCode::BAD_REQUEST,
            "The request body is not a JSON object",
        )),
    }
}

async fn service_info(State(sim): State<Arc<Sim>>) -> Response {
    Json(
        json!({"service": "arrigo_login", "account": "HEMLocal", "mainProject": sim.args.controller,
                "serviceStatus": "running"}),
    )
    .into_response()
}

async fn login(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match json_body(&headers, &body) {
        Ok(b) => b,
        Err((status, text)) => return message(status, text),
    };
    let (Some(user), Some(pass)) = (body["username"].as_str(), body["password"].as_str()) else {
        return message(
            StatusCode::BAD_REQUEST,
            "username and password are required",
        );
    };
    if user != sim.args.username || pass != sim.args.password {
        tracing::info!("login refused for a wrong username or password");
        return message(StatusCode::UNAUTHORIZED, "Invalid username or password");
    }
    let pair = sim.auth.lock().expect("auth lock").login(user);
    tracing::info!("login ok");
    Json(
        json!({"authToken": pair.auth, "expires_in": sim.args.token_lifetime_secs.ceil() as u64,
                "refreshToken": pair.refresh, "account": "HEMLocal"}),
    )
    .into_response()
}

async fn refresh(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match json_body(&headers, &body) {
        Ok(b) => b,
        Err((status, text)) => return message(status, text),
    };
    let Some(rt) = body["refreshToken"].as_str() else {
        return message(StatusCode::BAD_REQUEST, "refreshToken is required");
    };
    let at = auth::bearer(&headers);
    match sim.auth.lock().expect("auth lock").refresh(at, rt) {
        Some(pair) => {
            tracing::info!("tokens refreshed (both rotated)");
            Json(json!({"authToken": pair.auth, "expires_in": sim.args.token_lifetime_secs.ceil() as u64,
                        "refreshToken": pair.refresh}))
            .into_response()
        }
        None => {
            tracing::info!("refresh refused: unknown auth token or spent refresh token");
            message(StatusCode::UNAUTHORIZED, "Invalid token")
        }
    }
}

async fn verify(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match json_body(&headers, &body) {
        Ok(b) => b,
        Err((status, text)) => return message(status, text),
    };
    let valid = body["authToken"].as_str().is_some_and(|t| {
        matches!(
            sim.auth.lock().expect("auth lock").check(Some(t)),
            Bearer::Valid
        )
    });
    if valid {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::BAD_REQUEST.into_response()
    }
}

async fn logout(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match json_body(&headers, &body) {
        Ok(b) => b,
        Err((status, text)) => return message(status, text),
    };
    let mut auth = sim.auth.lock().expect("auth lock");
    if auth.logout(auth::bearer(&headers), body["refreshToken"].as_str()) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        message(StatusCode::UNAUTHORIZED, "Invalid token")
    }
}

async fn graphql(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match json_body(&headers, &body) {
        Ok(b) => b,
        Err((status, text)) => return message(status, text),
    };
    let n = sim.graphql_calls.fetch_add(1, Ordering::Relaxed) + 1;
    if every(n, sim.args.slow_every).is_some() {
        tokio::time::sleep(Duration::from_millis(sim.args.slow_ms)).await;
    }
    let at = auth::bearer(&headers);
    let check = {
        let mut auth = sim.auth.lock().expect("auth lock");
        if let Some(t) = at {
            if every(n, sim.args.expire_every).is_some() {
                auth.expire(t);
            }
            if every(n, sim.args.revoke_every).is_some() {
                auth.revoke(t);
            }
        }
        auth.check(at)
    };
    match check {
        Bearer::Valid => {}
        Bearer::Expired => {
            let mut r = message(StatusCode::UNAUTHORIZED, "Token expired");
            r.headers_mut()
                .insert("token-expired", HeaderValue::from_static("true"));
            return r;
        }
        Bearer::Invalid => return message(StatusCode::UNAUTHORIZED, "Unauthorized"),
    }
    if every(n, sim.args.http_500_every).is_some() {
        return message(StatusCode::INTERNAL_SERVER_ERROR, "An error has occurred.");
    }
    if every(n, sim.args.html_every).is_some() {
        let page = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>\
                    <body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>";
        return (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html")],
            page,
        )
            .into_response();
    }
    let now = sim.now();
    let answer = graphql::execute(&body, "Root", &|field, args| {
        sim.schema.resolve(field, args, now)
    });
    if every(n, sim.args.truncated_every).is_some() {
        let text = answer.to_string().into_bytes();
        let cut = text[..text.len() / 2].to_vec();
        return ([(header::CONTENT_TYPE, "application/json")], cut).into_response();
    }
    Json(answer).into_response()
}
