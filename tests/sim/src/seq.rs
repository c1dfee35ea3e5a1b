//! Seq's raw-event ingestion (`../shared/protocols/seq.md`), strict: `POST /api/events/raw` (the
//! classic `{"Events":[…]}` envelope, or CLEF when `Content-Type: application/vnd.serilog.clef` or
//! `?clef`) and `POST /ingest/clef`; API keys from `X-Seq-ApiKey` or `?apiKey=`, optional or
//! required; payload and event size limits; fault knobs. `GET /sim/received` (simulator-only)
//! returns what was accepted, for tests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Map, Value};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// An API key the server knows, optionally with the minimum level it accepts
    /// (`KEY` or `KEY=Warning`). Repeatable.
    #[arg(long = "api-key", value_name = "KEY[=LEVEL]")]
    pub api_keys: Vec<String>,
    /// Reject requests without a known API key (401), as Seq does with "require API key" on.
    #[arg(long)]
    pub require_api_key: bool,
    /// Raw ingestion payload limit; bigger requests get 413.
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    pub max_payload_bytes: usize,
    /// Largest single event; a bigger one makes the whole request a 400.
    #[arg(long, default_value_t = 256 * 1024)]
    pub max_event_bytes: usize,
    /// Fault injection: answer ingestion requests with this status (such as 500 or 503).
    #[arg(long)]
    pub fail_status: Option<u16>,
    /// With `--fail-status`: fail only the first N requests (0 = all of them).
    #[arg(long, default_value_t = 0)]
    pub fail_count: u64,
    /// Fault injection: wait this long before answering each ingestion request.
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut keys = HashMap::new();
    for spec in &args.api_keys {
        let (key, level) = match spec.split_once('=') {
            Some((k, l)) => (k.to_owned(), Some(l.to_owned())),
            None => (spec.clone(), None),
        };
        anyhow::ensure!(!key.is_empty(), "--api-key {spec:?}: the key is empty");
        keys.insert(key, level);
    }
    let sim = Arc::new(Sim {
        keys,
        require_key: args.require_api_key,
        max_payload: args.max_payload_bytes,
        max_event: args.max_event_bytes,
        fail_status: args
            .fail_status
            .map(StatusCode::from_u16)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--fail-status: {e}"))?,
        fail_count: args.fail_count,
        delay: Duration::from_millis(args.delay_ms),
        requests: AtomicU64::new(0),
        received: Mutex::new(Vec::new()),
    });
    let router = Router::new()
        .route("/api/events/raw", post(ingest_raw))
        .route("/ingest/clef", post(ingest_clef))
        .route("/sim/received", get(received))
        // The size limit is Seq's, checked in the handler so that it answers like Seq.
        .layer(DefaultBodyLimit::disable())
        .with_state(sim);
    crate::common::serve(router, args.listen).await
}

struct Sim {
    /// Known keys and their minimum level.
    keys: HashMap<String, Option<String>>,
    require_key: bool,
    max_payload: usize,
    max_event: usize,
    fail_status: Option<StatusCode>,
    fail_count: u64,
    delay: Duration,
    requests: AtomicU64,
    received: Mutex<Vec<Received>>,
}

/// One accepted event as the tests see it.
#[derive(Serialize, Clone, Debug)]
struct Received {
    timestamp: String,
    level: String,
    template: Option<String>,
    message: String,
    exception: Option<String>,
    properties: Map<String, Value>,
    format: &'static str,
    /// Whether the request carried a key the server knows (never the key itself).
    known_api_key: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Classic,
    Clef,
}

async fn received(State(sim): State<Arc<Sim>>) -> Json<Value> {
    let events = sim.received.lock().unwrap().clone();
    Json(json!({
        "requests": sim.requests.load(Ordering::Relaxed),
        "events": events,
    }))
}

async fn ingest_raw(
    State(sim): State<Arc<Sim>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let clef = content_type(&headers) == "application/vnd.serilog.clef"
        || query_param(query.as_deref(), "clef").is_some();
    let format = if clef { Format::Clef } else { Format::Classic };
    ingest(&sim, format, query.as_deref(), &headers, &body).await
}

async fn ingest_clef(
    State(sim): State<Arc<Sim>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A single event posted as `application/json` is one CLEF line too.
    ingest(&sim, Format::Clef, query.as_deref(), &headers, &body).await
}

async fn ingest(
    sim: &Sim,
    format: Format,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let n = sim.requests.fetch_add(1, Ordering::Relaxed);
    if !sim.delay.is_zero() {
        tokio::time::sleep(sim.delay).await;
    }
    if let Some(status) = sim.fail_status {
        if sim.fail_count == 0 || n < sim.fail_count {
            return error(status, "simulated failure");
        }
    }
    let key = headers
        .get("X-Seq-ApiKey")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query_param(query, "apiKey").flatten());
    let known = key.as_ref().and_then(|k| sim.keys.get(k));
    if sim.require_key && known.is_none() {
        return error(
            StatusCode::UNAUTHORIZED,
            "Rejecting payload due to missing or invalid API key",
        );
    }
    if body.len() > sim.max_payload {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "The payload of {} bytes exceeds the raw ingestion payload limit of {} bytes",
                body.len(),
                sim.max_payload
            ),
        );
    }
    let events = match parse(format, body, sim.max_event) {
        Ok(events) => events,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let known_api_key = known.is_some();
    sim.received
        .lock()
        .unwrap()
        .extend(events.into_iter().map(|mut e| {
            e.known_api_key = known_api_key;
            e
        }));
    let level = known.cloned().flatten();
    // The exact text Serilog's sink scans for: no space after the colon.
    let body = format!(
        "{{\"MinimumLevelAccepted\":{}}}",
        level.map_or("null".into(), |l| Value::String(l).to_string())
    );
    (
        StatusCode::CREATED,
        [("content-type", "application/json")],
        body,
    )
        .into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "Error": message }))).into_response()
}

/// The media type without parameters such as `charset`, lower-case.
fn content_type(headers: &HeaderMap) -> String {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// `Some(None)` for a bare `?clef`, `Some(Some(v))` for `name=v`, `None` when absent.
fn query_param(query: Option<&str>, name: &str) -> Option<Option<String>> {
    query?.split('&').find_map(|pair| {
        let (k, v) = match pair.split_once('=') {
            Some((k, v)) => (k, Some(v.to_owned())),
            None => (pair, None),
        };
        (k == name).then_some(v)
    })
}

/// The whole batch, or the first problem (nothing is stored then).
fn parse(format: Format, body: &[u8], max_event: usize) -> Result<Vec<Received>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the payload is not UTF-8".to_string())?;
    match format {
        Format::Clef => text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                if line.len() > max_event {
                    return Err(format!(
                        "line {}: event of {} bytes exceeds the limit of {max_event}",
                        i + 1,
                        line.len()
                    ));
                }
                let v: Value = serde_json::from_str(line)
                    .map_err(|e| format!("line {}: invalid JSON: {e}", i + 1))?;
                clef_event(v).map_err(|e| format!("line {}: {e}", i + 1))
            })
            .collect(),
        Format::Classic => {
            let v: Value =
                serde_json::from_str(text).map_err(|e| format!("invalid JSON payload: {e}"))?;
            let events = v
                .get("Events")
                .and_then(Value::as_array)
                .ok_or("the payload has no `Events` array")?;
            events
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    if e.to_string().len() > max_event {
                        return Err(format!("Events[{i}] exceeds the limit of {max_event}"));
                    }
                    classic_event(e).map_err(|m| format!("Events[{i}]: {m}"))
                })
                .collect()
        }
    }
}

fn clef_event(v: Value) -> Result<Received, String> {
    let Value::Object(mut obj) = v else {
        return Err("an event must be a JSON object".into());
    };
    let timestamp = timestamp(obj.remove("@t"), "@t")?;
    let level = optional_str(obj.remove("@l"), "@l")?.unwrap_or_else(|| "Information".into());
    let template = optional_str(obj.remove("@mt"), "@mt")?;
    let rendered = optional_str(obj.remove("@m"), "@m")?;
    let exception = optional_str(obj.remove("@x"), "@x")?;
    // The other reified keys are accepted and not kept; `@@name` is the escaped property `@name`.
    let mut properties = Map::new();
    for (k, v) in obj {
        if let Some(escaped) = k.strip_prefix("@@") {
            properties.insert(format!("@{escaped}"), v);
        } else if !k.starts_with('@') {
            properties.insert(k, v);
        }
    }
    let message =
        rendered.unwrap_or_else(|| render(template.as_deref().unwrap_or(""), &properties));
    Ok(Received {
        timestamp,
        level,
        template,
        message,
        exception,
        properties,
        format: "clef",
        known_api_key: false,
    })
}

fn classic_event(v: &Value) -> Result<Received, String> {
    let obj = v.as_object().ok_or("an event must be a JSON object")?;
    let timestamp = timestamp(obj.get("Timestamp").cloned(), "Timestamp")?;
    let template = obj
        .get("MessageTemplate")
        .and_then(Value::as_str)
        .ok_or("`MessageTemplate` must be a string")?
        .to_owned();
    let level =
        optional_str(obj.get("Level").cloned(), "Level")?.unwrap_or_else(|| "Information".into());
    let exception = optional_str(obj.get("Exception").cloned(), "Exception")?;
    let properties = match obj.get("Properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => return Err("`Properties` must be an object".into()),
    };
    Ok(Received {
        timestamp,
        level,
        message: render(&template, &properties),
        template: Some(template),
        exception,
        properties,
        format: "classic",
        known_api_key: false,
    })
}

fn timestamp(v: Option<Value>, key: &str) -> Result<String, String> {
    let text = v
        .as_ref()
        .and_then(Value::as_str)
        .ok_or(format!("`{key}` is missing or not a string"))?;
    text.parse::<jiff::Timestamp>()
        .map_err(|e| format!("`{key}` {text:?} is not a timestamp: {e}"))?;
    Ok(text.to_owned())
}

fn optional_str(v: Option<Value>, key: &str) -> Result<Option<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

/// Fills `{Name}` holes (also `{@Name}`, `{$Name}`, `{Name:format}`) from the properties; `{{` and
/// `}}` are literal braces, and holes without a property or unmatched braces stay as written.
fn render(template: &str, props: &Map<String, Value>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        let hole = tail.strip_prefix('{').and_then(|t| {
            t.find(['}', '{'])
                .filter(|&j| t.as_bytes()[j] == b'}')
                .map(|j| &t[..j])
        });
        match hole {
            Some(inner) => {
                let name = inner.trim_start_matches(['@', '$']);
                let name = name.split([':', ',']).next().unwrap_or(name);
                match props.get(name) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(v) => out.push_str(&v.to_string()),
                    None => out.push_str(&tail[..inner.len() + 2]),
                }
                rest = &tail[inner.len() + 2..];
            }
            None => {
                out.push_str(&tail[..1]);
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_like_seq_and_keep_stray_braces() {
        let props: Map<String, Value> =
            serde_json::from_str(r#"{"Files":1,"House":"villa_12"}"#).unwrap();
        assert_eq!(
            render("Imported {Files} file(s) for {@House:l}", &props),
            "Imported 1 file(s) for villa_12"
        );
        assert_eq!(
            render("🔥 {Missing} {{x}} } {", &props),
            "🔥 {Missing} {x} } {"
        );
        assert_eq!(render("dict {'a': 1}", &props), "dict {'a': 1}");
    }

    #[test]
    fn clef_batches_are_all_or_nothing() {
        let ok =
            "{\"@t\":\"2026-01-15T13:00:00.1234567Z\",\"@mt\":\"Fetched {Count}\",\"Count\":2}\n\n";
        let events = parse(Format::Clef, ok.as_bytes(), 1000).unwrap();
        assert_eq!(events[0].message, "Fetched 2");
        assert_eq!(events[0].level, "Information");
        let bad = format!("{ok}{{\"@m\":\"no time\"}}\n");
        assert!(parse(Format::Clef, bad.as_bytes(), 1000)
            .unwrap_err()
            .contains("@t"));
        assert!(parse(Format::Clef, b"[1]\n", 1000).is_err());
        assert!(parse(Format::Clef, b"", 1000).unwrap().is_empty());
    }

    #[test]
    fn classic_envelope_needs_timestamp_and_template() {
        let ok = r#"{"Events":[{"Timestamp":"2026-01-15T13:00:00.123456+00:00","Level":"Warning",
            "MessageTemplate":"API down","Properties":{"EventType":"HomeSideAPIDown"}}]}"#;
        let events = parse(Format::Classic, ok.as_bytes(), 1000).unwrap();
        assert_eq!(events[0].level, "Warning");
        assert_eq!(events[0].properties["EventType"], "HomeSideAPIDown");
        assert!(parse(
            Format::Classic,
            br#"{"Events":[{"Timestamp":"yesterday","MessageTemplate":"x"}]}"#,
            1000
        )
        .is_err());
        assert!(parse(Format::Classic, br#"{"events":[]}"#, 1000).is_err());
    }
}
