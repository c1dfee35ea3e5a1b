//! One HTTP listener: `/health`, `/metrics` (Prometheus text) and the JSON API that
//! `hemflux status`, `restart`, `sync` and `backfill` use.
//!
//! `/health` and `/metrics` are open (health checks, Prometheus). The API routes answer only
//! under this server's own Host and never to another origin (see [`crate::auth`]). The read
//! routes expose worker ids, states, pids, error messages, config file paths, sink names and
//! counts, never credentials: to anyone while no web user account exists, else to the API
//! token and signed-in users, each user seeing only the workers of the entities assigned to
//! them (config errors and store counts: admins only). The POST routes need the API token or
//! a signed-in user who may change that entity. The web UI's account pages come from
//! [`crate::users::routes`]; [`crate::users::guard`] runs in front of every route.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::auth::{ApiReader, Auth, Principal};
use crate::sinks::Sinks;
use crate::store::Store;
use crate::supervisor::{Ask, Request, Snapshot, WorkerState};
use crate::users::Users;

#[derive(Clone)]
pub struct AppState {
    pub supervisor: mpsc::Sender<Request>,
    pub sinks: Arc<Sinks>,
    pub store: Store,
    pub auth: Auth,
    pub users: Users,
    /// Purges an entity's points from the store and the sinks (hard removal from the web UI).
    pub purger: Arc<crate::onboard::StorePurge>,
    /// The config folders, data folder and `.env`, for onboarding from the web UI.
    pub paths: crate::onboard::Paths,
    /// `meters.yaml` (beside `hemflux.toml`): which house or building each meter belongs to.
    pub meters: std::path::PathBuf,
    /// Changes when a worker's state changes ([`crate::supervisor::Supervisor::state_changes`]).
    pub worker_states: tokio::sync::watch::Receiver<u64>,
}

impl FromRef<AppState> for Auth {
    fn from_ref(state: &AppState) -> Auth {
        state.auth.clone()
    }
}

impl FromRef<AppState> for Users {
    fn from_ref(state: &AppState) -> Users {
        state.users.clone()
    }
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/workers", get(workers))
        .route("/api/errors", get(errors))
        .route("/api/sinks", get(sinks))
        .route("/api/measurements", get(measurements))
        .route("/api/workers/{*rest}", post(worker_action))
        .merge(crate::users::routes::router())
        .route_layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            crate::auth::same_site_only,
        ));
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .merge(api)
        .merge(crate::web::router(&state))
        .layer(axum::middleware::from_fn_with_state(
            state.users.clone(),
            crate::users::guard::sessions,
        ))
        .with_state(state)
}

pub(crate) async fn snapshot(state: &AppState) -> Result<Snapshot, Response> {
    let (reply, rx) = oneshot::channel();
    let unavailable = || {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the supervisor is not answering",
        )
            .into_response()
    };
    state
        .supervisor
        .send(Request::Snapshot { reply })
        .await
        .map_err(|_| unavailable())?;
    tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .map_err(|_| unavailable())?
        .map_err(|_| unavailable())
}

/// `ok` when the supervisor answers and the store can write; 503 with the reason otherwise.
async fn health(State(state): State<AppState>) -> Response {
    if let Err(r) = snapshot(&state).await {
        return r;
    }
    match state.store.write_problem() {
        None => "ok\n".into_response(),
        Some(p) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the store cannot write since {}: {} (batches wait and are retried)\n",
                p.since, p.error
            ),
        )
            .into_response(),
    }
}

async fn workers(reader: ApiReader, State(state): State<AppState>) -> Response {
    match snapshot(&state).await {
        Ok(mut s) => {
            s.workers.retain(|w| reader.can_see(&w.id));
            Json(s.workers).into_response()
        }
        Err(r) => r,
    }
}

/// Config problems name files of every entity: admins (and the token) only.
async fn errors(reader: ApiReader, State(state): State<AppState>) -> Response {
    if !reader.sees_all() {
        return (StatusCode::FORBIDDEN, "config errors are for admins").into_response();
    }
    match snapshot(&state).await {
        Ok(s) => Json(s.config_errors).into_response(),
        Err(r) => r,
    }
}

async fn sinks(_reader: ApiReader, State(state): State<AppState>) -> Response {
    Json(state.sinks.status()).into_response()
}

/// Points per measurement in the embedded store: fleet-wide, so admins (and the token) only.
async fn measurements(reader: ApiReader, State(state): State<AppState>) -> Response {
    if !reader.sees_all() {
        return (StatusCode::FORBIDDEN, "store counts are for admins").into_response();
    }
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.measurement_counts()).await {
        Ok(Ok(counts)) => Json(
            counts
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>(),
        )
        .into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let s = match snapshot(&state).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP hemflux_workers Workers by state.\n# TYPE hemflux_workers gauge"
    );
    for st in WorkerState::ALL {
        let n = s.workers.iter().filter(|w| w.state == st).count();
        let _ = writeln!(out, "hemflux_workers{{state=\"{}\"}} {n}", st.as_str());
    }
    let _ = writeln!(out, "# HELP hemflux_worker_restarts_total Restarts after a crash, per worker.\n# TYPE hemflux_worker_restarts_total counter");
    for w in &s.workers {
        let _ = writeln!(
            out,
            "hemflux_worker_restarts_total{{worker=\"{}\",kind=\"{}\"}} {}",
            escape(&w.id),
            w.kind.as_str(),
            w.restarts
        );
    }
    let _ = writeln!(out, "# HELP hemflux_worker_points_total Points stored, per worker, since the orchestrator started.\n# TYPE hemflux_worker_points_total counter");
    for w in &s.workers {
        let _ = writeln!(
            out,
            "hemflux_worker_points_total{{worker=\"{}\",kind=\"{}\"}} {}",
            escape(&w.id),
            w.kind.as_str(),
            w.points
        );
    }
    let _ = writeln!(out, "# HELP hemflux_store_writable Whether the store can write now (0: full disk or I/O error; batches wait).\n# TYPE hemflux_store_writable gauge\nhemflux_store_writable {}", u8::from(state.store.write_problem().is_none()));
    let _ = writeln!(out, "# HELP hemflux_store_write_failures_total Store write transactions that failed on the disk.\n# TYPE hemflux_store_write_failures_total counter\nhemflux_store_write_failures_total {}", state.store.write_failures_total());
    let _ = writeln!(out, "# HELP hemflux_messages_total Protocol messages received from workers.\n# TYPE hemflux_messages_total counter\nhemflux_messages_total {}", s.messages);
    let _ = writeln!(out, "# HELP hemflux_bad_lines_total Lines from workers that were not protocol messages (skipped).\n# TYPE hemflux_bad_lines_total counter\nhemflux_bad_lines_total {}", s.bad_lines);
    let _ = writeln!(out, "# HELP hemflux_config_errors Config problems right now.\n# TYPE hemflux_config_errors gauge\nhemflux_config_errors {}", s.config_errors.len());
    let _ = writeln!(out, "# HELP hemflux_sink_points_behind Points stored but not yet forwarded, per sink.\n# TYPE hemflux_sink_points_behind gauge");
    let sinks = state.sinks.status();
    for sink in &sinks {
        let _ = writeln!(
            out,
            "hemflux_sink_points_behind{{sink=\"{}\"}} {}",
            escape(&sink.name),
            sink.points_behind
        );
    }
    let _ = writeln!(out, "# HELP hemflux_sink_oldest_unsent_seconds Age of the oldest point not yet forwarded, per sink.\n# TYPE hemflux_sink_oldest_unsent_seconds gauge");
    for sink in &sinks {
        let _ = writeln!(
            out,
            "hemflux_sink_oldest_unsent_seconds{{sink=\"{}\"}} {}",
            escape(&sink.name),
            sink.oldest_unsent_age_secs.unwrap_or(0.0)
        );
    }
    if let Some(seq) = crate::logging::seq_counters() {
        let _ = writeln!(out, "# HELP hemflux_seq_events_total Log events for Seq: sent, or dropped (queue full while Seq was down or slow, or refused).\n# TYPE hemflux_seq_events_total counter\nhemflux_seq_events_total{{outcome=\"sent\"}} {}\nhemflux_seq_events_total{{outcome=\"dropped\"}} {}", seq.sent, seq.dropped);
        let _ = writeln!(out, "# HELP hemflux_seq_events_pending Log events queued for Seq or in flight.\n# TYPE hemflux_seq_events_pending gauge\nhemflux_seq_events_pending {}", seq.pending);
    }
    ([("content-type", "text/plain; version=0.0.4")], out).into_response()
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncBody {
    from: String,
    to: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandBody {
    name: String,
    #[serde(default)]
    args: Value,
}

/// `POST /api/workers/<id>/restart|sync|command`; ids contain `/`, so the action is the last segment.
async fn worker_action(
    caller: Principal,
    State(state): State<AppState>,
    Path(rest): Path<String>,
    body: Option<Json<Value>>,
) -> Response {
    let Some((id, action)) = rest.rsplit_once('/') else {
        return (
            StatusCode::NOT_FOUND,
            "expected /api/workers/<id>/<restart|sync|command>",
        )
            .into_response();
    };
    if !caller.can_see(id) {
        return (StatusCode::NOT_FOUND, format!("no worker {id:?}")).into_response();
    }
    if !caller.can_change() {
        return (StatusCode::FORBIDDEN, "a viewer cannot change anything").into_response();
    }
    match act_audited(&state, &caller, id, action, body.map(|Json(v)| v)).await {
        Ok(outcome) => answer(outcome),
        Err(refusal) => refusal,
    }
}

/// Asks the supervisor to `restart`, `sync` or `command` worker `id` (callers have checked
/// that `caller` may) and records the request and its outcome in the audit log once the
/// worker answered, so that the log says what happened, not what was asked. `Err` is the
/// answer when it could not be asked or recorded.
pub(crate) async fn act_audited(
    state: &AppState,
    caller: &Principal,
    id: &str,
    action: &str,
    body: Option<Value>,
) -> Result<Result<String, String>, Response> {
    let what = format!("{action} {id}");
    let id = id.to_string();
    let body = body.unwrap_or(Value::Null);
    let request = (!body.is_null()).then(|| body.clone());
    let outcome = match action {
        "restart" => {
            let (reply, rx) = oneshot::channel();
            if state
                .supervisor
                .send(Request::Restart { id, reply })
                .await
                .is_err()
            {
                return Err((StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response());
            }
            rx.await
                .unwrap_or_else(|_| Err("shutting down".into()))
                .map(|()| "restarting".to_string())
        }
        "sync" | "command" => {
            let msg = match ask(action, body) {
                Ok(msg) => msg,
                Err(why) => return Err((StatusCode::BAD_REQUEST, why).into_response()),
            };
            let (reply, rx) = oneshot::channel();
            if state
                .supervisor
                .send(Request::Ask { id, msg, reply })
                .await
                .is_err()
            {
                return Err((StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response());
            }
            rx.await.unwrap_or_else(|_| Err("shutting down".into()))
        }
        _ => {
            return Err(
                (StatusCode::NOT_FOUND, format!("unknown action {action:?}")).into_response(),
            )
        }
    };
    let (ok, message) = match &outcome {
        Ok(m) => (true, m),
        Err(m) => (false, m),
    };
    let after = serde_json::json!({"request": request, "ok": ok, "message": message});
    if let Err(e) = crate::users::audit::record(&state.users, caller, &what, None, Some(after)) {
        tracing::error!("{what} done, but not in the audit log: {e:#}");
        return Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{what} done, but the audit log could not be written: {e:#}"),
        )
            .into_response());
    }
    Ok(outcome)
}

/// The body of `sync` (`{"from", "to"}`) or `command` (`{"name", "args"}`), or why not.
fn ask(action: &str, body: Value) -> Result<Ask, String> {
    let refuse = |e: serde_json::Error, expected: &str| format!("body: {e} (expected {expected})");
    if action == "sync" {
        serde_json::from_value::<SyncBody>(body)
            .map(|b| Ask::Sync {
                from: b.from,
                to: b.to,
            })
            .map_err(|e| refuse(e, r#"{"from": RFC 3339, "to": RFC 3339}"#))
    } else {
        serde_json::from_value::<CommandBody>(body)
            .map(|b| Ask::Command {
                name: b.name,
                args: b.args,
            })
            .map_err(|e| refuse(e, r#"{"name": ..., "args": ...}"#))
    }
}

fn answer(result: Result<String, String>) -> Response {
    match result {
        Ok(message) => Json(serde_json::json!({"ok": true, "message": message})).into_response(),
        Err(message) => (
            StatusCode::CONFLICT,
            Json(serde_json::json!({"ok": false, "message": message})),
        )
            .into_response(),
    }
}
