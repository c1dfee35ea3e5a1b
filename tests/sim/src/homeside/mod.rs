//! `hemflux-sim homeside`: the HomeSide substation API (`../shared/protocols/homeside.md`), strict:
//! only `POST` with JSON on the five paths, the raw session token in `Authorization` (a `Bearer `
//! prefix is refused), a failed BMS-token request as HTTP 200 with `{"error": "token"}`, silent
//! expiry as `{"variables": []}`, warm-up reads full of `Pending`, writes by `Cwl.Advise.A[n]` only.

mod model;
mod thermal;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use crate::common::{self, Answer, Rejected, SimClock};
use model::{dotnet_time, Plant, Source, VarDef};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// A simulated house, CONTROLLER:USERNAME:PASSWORD, such as
    /// `HEM_FJV_Villa_149:FC2000233091:s3cret`; repeatable, and a username given twice owns
    /// several houses. These are a test double's credentials: argv is fine for them.
    #[arg(long = "house", required_unless_present = "houses_file")]
    pub houses: Vec<String>,
    /// A file of houses, one CONTROLLER:USERNAME:PASSWORD per line (`#` starts a comment), for
    /// when the passwords should not show in `ps`.
    #[arg(long)]
    pub houses_file: Option<std::path::PathBuf>,
    /// Session tokens expire after this many (real) seconds.
    #[arg(long, default_value_t = 43_200)]
    pub session_ttl_secs: u64,
    /// BMS tokens expire after this many (real) seconds.
    #[arg(long, default_value_t = 600.0)]
    pub bms_ttl_secs: f64,
    /// A session token stops working (401) after this many authenticated calls: forces re-login.
    #[arg(long)]
    pub expire_after_calls: Option<u64>,
    /// Answer an expired or mismatched BMS token with 401 instead of `200 {"variables": []}`.
    #[arg(long)]
    pub bms_expiry_401: bool,
    /// Reads after each new BMS token that return every value as `Pending` (warm-up).
    #[arg(long, default_value_t = 1)]
    pub warmup_reads: u32,
    /// Every Nth `getducvariables` call fails, with the kinds of `--fail-with` in turn.
    #[arg(long)]
    pub fail_every: Option<u64>,
    #[arg(long, value_delimiter = ',', default_value = "500")]
    pub fail_with: Vec<Fault>,
    /// Every Nth `getarrigobmstoken` call answers `200 {"error": "token"}`.
    #[arg(long)]
    pub token_error_every: Option<u64>,
    /// Delay every answer by this long (HomeSide's clients time out at 30 s).
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
    /// A written value becomes visible after this long.
    #[arg(long, default_value_t = 1000)]
    pub write_delay_ms: u64,
    /// A write to a `Name` that is not a `Cwl.Advise.A[n]` path hangs this long, then 504.
    #[arg(long, default_value_t = 35)]
    pub bad_name_hang_secs: u64,
    /// The controller samples its inputs every this many simulated seconds; each variable's
    /// `timestamp` is its last sample.
    #[arg(long, default_value_t = 10)]
    pub sample_secs: u64,
    /// While `KU_VS1_GT_TILL_1_Adaption` is true, the controller drifts the (unwritten) room
    /// setpoint and the active curve `CurveAdaptation_Y_*`, as the real one does.
    #[arg(long)]
    pub adaption_drift: bool,
    /// Run every house on the house model at this place (`LAT,LON`), outdoor temperature from
    /// the SMHI simulator's weather there: room, supply and return then follow the written curve.
    #[arg(
        long,
        value_delimiter = ',',
        num_args = 1,
        value_name = "LAT,LON",
        allow_negative_numbers = true
    )]
    pub house_model_at: Option<Vec<f64>>,
    /// Start of the simulated clock (RFC 3339); default now.
    #[arg(long)]
    pub clock: Option<jiff::Timestamp>,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
pub enum Fault {
    /// HTTP 500 with an ASP.NET-style JSON body.
    #[value(name = "500")]
    Status500,
    /// HTTP 502 with an HTML page from a proxy.
    Html,
    /// HTTP 200 with the JSON cut off halfway.
    Truncated,
}

struct House {
    controller: String,
    username: String,
    password: String,
    restapiurl: String,
    name: String,
    /// Where this house's variables start in `Cwl.Advise.A[n]` (differs per installation).
    path_offset: usize,
    seed: f64,
    thermal: Option<thermal::ThermalHouse>,
}

struct Session {
    username: String,
    issued: Instant,
    calls: u64,
}

struct Bms {
    token: String,
    uid: String,
    extend_uid: String,
    issued: Instant,
    reads: u32,
}

/// A write waiting to become visible, and after that the value the controller holds.
struct Written {
    value: Value,
    visible_at: Instant,
}

struct Sim {
    args: Args,
    clock: SimClock,
    vars: Vec<VarDef>,
    houses: Vec<House>,
    sessions: HashMap<String, Session>,
    bms: HashMap<String, Bms>,
    written: HashMap<(String, usize), Written>,
    reads: u64,
    token_requests: u64,
}

type Shared = Arc<Mutex<Sim>>;

pub async fn run(args: Args) -> Result<()> {
    let listen = args.listen;
    let sim = Sim::new(args)?;
    let state: Shared = Arc::new(Mutex::new(sim));
    let router = Router::new()
        .route("/api/v2/authorize/account", post(login))
        .route("/api/v2/housefidlist", post(house_list))
        .route(
            "/api/v2/housearrigobmsapi/getarrigobmstoken",
            post(bms_token),
        )
        .route("/api/v2/housearrigobmsapi/getducvariables", post(variables))
        .route("/api/v2/housearrigobmsapi/save", post(save))
        .fallback(|| async { (StatusCode::NOT_FOUND, "Not Found") })
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state);
    common::serve(router, listen).await
}

impl Sim {
    fn new(args: Args) -> Result<Sim> {
        let mut specs = args.houses.clone();
        if let Some(path) = &args.houses_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            specs.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string),
            );
        }
        let mut houses = specs
            .iter()
            .map(|h| parse_house(h))
            .collect::<Result<Vec<_>>>()?;
        thermal::attach(&mut houses, args.house_model_at.as_deref())?;
        Ok(Sim {
            clock: SimClock::new(args.clock, args.time_scale),
            args,
            vars: model::variables(),
            houses,
            sessions: HashMap::new(),
            bms: HashMap::new(),
            written: HashMap::new(),
            reads: 0,
            token_requests: 0,
        })
    }
}

fn parse_house(spec: &str) -> Result<House> {
    let mut parts = spec.splitn(3, ':');
    let (Some(controller), Some(username), Some(password)) =
        (parts.next(), parts.next(), parts.next())
    else {
        bail!("--house {spec:?}: expected CONTROLLER:USERNAME:PASSWORD");
    };
    if controller.is_empty() || username.contains(' ') || password.is_empty() {
        bail!("--house for {controller:?}: controller and password must not be empty, the username has no spaces");
    }
    let digits: String = controller
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let number: usize = digits.parse().unwrap_or(1);
    Ok(House {
        controller: controller.into(),
        username: username.into(),
        password: password.into(),
        restapiurl: format!("38/Sysinst10/HEM_FJV_{number}/{controller}"),
        name: format!("Villa {number}"),
        path_offset: 10 + number % 17,
        seed: (number % 97) as f64 * 0.37,
        thermal: None,
    })
}

/// Logs each request (never its body: tokens), applies `--delay-ms`, and demands JSON.
async fn gate(State(sim): State<Shared>, req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let delay = sim.lock().expect("sim").args.delay_ms;
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let response = if !is_json && method == "POST" {
        message(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The request entity's media type is not supported",
        )
    } else {
        next.run(req).await
    };
    tracing::info!("{method} {path} -> {}", response.status().as_u16());
    response
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "message": text }))).into_response()
}

fn unauthorized() -> Rejected {
    message(StatusCode::UNAUTHORIZED, "no authorization header sent").into()
}

fn forbidden() -> Rejected {
    message(StatusCode::FORBIDDEN, "Method forbiden").into()
}

fn bad_request(what: &str) -> Rejected {
    message(StatusCode::BAD_REQUEST, what).into()
}

fn parse_body(body: &str) -> Result<Value, Rejected> {
    serde_json::from_str(body).map_err(|_| bad_request("The request is invalid."))
}

/// What every call after login starts with: its JSON body, the simulator (locked) and the
/// session's user; else HomeSide's 400 or 401.
fn authorized<'s>(
    sim: &'s Shared,
    headers: &HeaderMap,
    body: &str,
) -> Result<(MutexGuard<'s, Sim>, Value, String), Rejected> {
    let body = parse_body(body)?;
    let mut sim = sim.lock().expect("sim");
    let username = sim.authorize(headers).ok_or_else(unauthorized)?;
    Ok((sim, body, username))
}

fn random_token(len: usize) -> String {
    (0..len).map(|_| fastrand::alphanumeric()).collect()
}

impl Sim {
    /// The username behind `Authorization`, counting the call; `None` answers 401. The raw
    /// token is required: `Bearer <token>` is as unknown as a made-up one.
    fn authorize(&mut self, headers: &HeaderMap) -> Option<String> {
        let token = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let ttl = Duration::from_secs(self.args.session_ttl_secs);
        let limit = self.args.expire_after_calls;
        let session = self.sessions.get_mut(token)?;
        session.calls += 1;
        let expired = session.issued.elapsed() > ttl || limit.is_some_and(|n| session.calls > n);
        if expired {
            self.sessions.remove(token);
            return None;
        }
        Some(session.username.clone())
    }

    fn owned_house(&self, username: &str, clientid: &str) -> Option<usize> {
        self.houses
            .iter()
            .position(|h| h.username == username && h.restapiurl == clientid)
    }

    fn bms_valid(&self, clientid: &str, token: &str, uid: &str, extend_uid: &str) -> bool {
        self.bms.get(clientid).is_some_and(|b| {
            b.token == token
                && b.uid == uid
                && b.extend_uid == extend_uid
                && b.issued.elapsed().as_secs_f64() < self.args.bms_ttl_secs
        })
    }

    fn path_index(&self, house: usize, path: &str) -> Option<usize> {
        let n: usize = path
            .strip_prefix("Cwl.Advise.A[")?
            .strip_suffix(']')?
            .parse()
            .ok()?;
        n.checked_sub(self.houses[house].path_offset)
            .filter(|i| *i < self.vars.len())
    }

    fn read_all(&mut self, house: usize, warm_up: bool) -> Value {
        let now = self.clock.now();
        let sample = self.args.sample_secs.max(1) as i64;
        let sampled = now.as_second().div_euclid(sample) * sample;
        let reading = self.advance_house_model(house, sampled as f64);
        let h = &self.houses[house];
        let setpoint_index = self.vars.iter().position(|v| v.source == Source::Setpoint);
        let current = |i: usize| {
            self.written
                .get(&(h.controller.clone(), i))
                .filter(|w| w.visible_at <= Instant::now())
                .map(|w| w.value.clone())
        };
        let adaption_index = self.vars.iter().position(|v| v.source == Source::Adaption);
        let plant = Plant {
            t: sampled as f64,
            seed: h.seed,
            adapting: self.args.adaption_drift
                && adaption_index
                    .and_then(current)
                    .is_none_or(|v| v == Value::Bool(true)),
            setpoint: setpoint_index
                .and_then(current)
                .and_then(|v| v.as_f64())
                .unwrap_or(21.5 + (h.seed * 10.0).rem_euclid(1.0)),
            thermal: reading,
        };
        let vars: Vec<Value> = self
            .vars
            .iter()
            .enumerate()
            .map(|(i, var)| {
                // Each variable is sampled a little after the sample instant, as a controller
                // scanning its inputs would.
                let jitter_ns =
                    (i as i64 * 7_919_000_300) % (sample * 1_000_000_000).min(900_000_000);
                let ts = jiff::Timestamp::from_nanosecond(
                    sampled as i128 * 1_000_000_000 + jitter_ns as i128,
                )
                .expect("in range");
                let (value, kind, ts) = match var.source {
                    Source::Unreachable => (
                        Value::Null,
                        "ErrorUnreachable",
                        ts - jiff::SignedDuration::from_mins(47),
                    ),
                    Source::AlwaysPending => (Value::Null, "Pending", now),
                    _ if warm_up => (Value::Null, "Pending", now),
                    source => (
                        current(i).unwrap_or_else(|| plant.value(source)),
                        "Response",
                        ts,
                    ),
                };
                json!({
                    "variable": format!("{}.{}", h.controller, var.short),
                    "path": format!("Cwl.Advise.A[{}]", i + h.path_offset),
                    "value": value,
                    "type": kind,
                    "timestamp": dotnet_time(ts),
                })
            })
            .collect();
        json!({ "variables": vars })
    }
}

async fn login(State(sim): State<Shared>, body: String) -> Answer {
    let body = parse_body(&body)?;
    let user = &body["user"];
    let (Some(account), Some(username), Some(password), Some(_lang)) = (
        user["Account"].as_str(),
        user["UserName"].as_str(),
        user["Password"].as_str(),
        body["lang"].as_str(),
    ) else {
        return Err(bad_request("The request is invalid."));
    };
    let mut sim = sim.lock().expect("sim");
    let known = account == "homeside"
        && sim
            .houses
            .iter()
            .any(|h| h.username == username && h.password == password);
    if !known {
        return Err(message(StatusCode::UNAUTHORIZED, "Invalid username or password").into());
    }
    let querykey = random_token(48);
    sim.sessions.insert(
        querykey.clone(),
        Session {
            username: username.into(),
            issued: Instant::now(),
            calls: 0,
        },
    );
    Ok(axum::Json(json!({ "querykey": querykey })).into_response())
}

async fn house_list(State(sim): State<Shared>, headers: HeaderMap, body: String) -> Answer {
    let (sim, _, username) = authorized(&sim, &headers, &body)?;
    let houses: Vec<Value> = sim
        .houses
        .iter()
        .filter(|h| h.username == username)
        .map(|h| json!({"name": h.name, "restapiurl": h.restapiurl}))
        .collect();
    Ok(axum::Json(Value::Array(houses)).into_response())
}

async fn bms_token(State(sim): State<Shared>, headers: HeaderMap, body: String) -> Answer {
    let (mut sim, body, username) = authorized(&sim, &headers, &body)?;
    let Some(clientid) = body["clientid"].as_str() else {
        return Err(bad_request("The request is invalid."));
    };
    if sim.owned_house(&username, clientid).is_none() {
        return Err(forbidden());
    }
    sim.token_requests += 1;
    if common::every(sim.token_requests, sim.args.token_error_every).is_some() {
        return Ok(axum::Json(json!({"error": "token"})).into_response());
    }
    let bms = Bms {
        token: format!("eyJhbGciOiJIUzI1NiIs.{}", random_token(40)),
        uid: random_token(12),
        extend_uid: random_token(12),
        issued: Instant::now(),
        reads: 0,
    };
    let answer = json!({
        "token": bms.token, "uid": bms.uid, "extendUid": bms.extend_uid,
        "refreshToken": random_token(32),
    });
    sim.bms.insert(clientid.to_string(), bms);
    Ok(axum::Json(answer).into_response())
}

async fn variables(State(sim): State<Shared>, headers: HeaderMap, body: String) -> Answer {
    let (mut sim, body, username) = authorized(&sim, &headers, &body)?;
    let field = |k: &str| body[k].as_str().map(str::to_string);
    let (Some(uid), Some(clientid), Some(extend_uid), Some(token)) = (
        field("uid"),
        field("clientid"),
        field("extendUid"),
        field("token"),
    ) else {
        return Err(bad_request("The request is invalid."));
    };
    let Some(house) = sim.owned_house(&username, &clientid) else {
        return Err(forbidden());
    };
    sim.reads += 1;
    if let Some(hit) = common::every(sim.reads, sim.args.fail_every) {
        let kinds = &sim.args.fail_with;
        let fault = kinds[(hit - 1) as usize % kinds.len()];
        return Ok(fault_response(fault, &sim.read_all(house, false)));
    }
    if !sim.bms_valid(&clientid, &token, &uid, &extend_uid) {
        if sim.args.bms_expiry_401 {
            return Err(unauthorized());
        }
        return Ok(axum::Json(json!({"variables": []})).into_response());
    }
    let warmup = sim.args.warmup_reads;
    let bms = sim.bms.get_mut(&clientid).expect("checked above");
    bms.reads += 1;
    let warm_up = bms.reads <= warmup;
    Ok(axum::Json(sim.read_all(house, warm_up)).into_response())
}

fn fault_response(fault: Fault, full: &Value) -> Response {
    match fault {
        Fault::Status500 => message(StatusCode::INTERNAL_SERVER_ERROR, "An error has occurred."),
        Fault::Html => (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html")],
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
        )
            .into_response(),
        Fault::Truncated => {
            let text = full.to_string();
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                text[..text.len() / 2].to_string(),
            )
                .into_response()
        }
    }
}

async fn save(State(sim): State<Shared>, headers: HeaderMap, body: String) -> Answer {
    let hang = {
        let (mut sim, body, username) = authorized(&sim, &headers, &body)?;
        let (Some(clientid), Some(tokens), Some(input)) = (
            body["clientid"].as_str(),
            body["arrigoBMSTokenAndUid"].as_str(),
            body["input"].as_array(),
        ) else {
            return Err(bad_request("The request is invalid."));
        };
        let Some(house) = sim.owned_house(&username, clientid) else {
            return Err(forbidden());
        };
        let Ok(tokens) = serde_json::from_str::<Value>(tokens) else {
            return Err(bad_request("arrigoBMSTokenAndUid is not valid JSON"));
        };
        let token = |k: &str| tokens[k].as_str().unwrap_or_default().to_string();
        if !sim.bms_valid(
            clientid,
            &token("token"),
            &token("uid"),
            &token("extendUid"),
        ) {
            return Err(unauthorized());
        }
        match apply_writes(&mut sim, house, input) {
            Ok(()) => None,
            Err(WriteError::Bad(what)) => return Err(bad_request(&what)),
            Err(WriteError::UnknownName) => Some(sim.args.bad_name_hang_secs),
        }
    };
    if let Some(secs) = hang {
        // Writing by variable name made the real API time out: hang past the client's timeout.
        tokio::time::sleep(Duration::from_secs(secs)).await;
        return Ok(message(
            StatusCode::GATEWAY_TIMEOUT,
            "The operation has timed out.",
        ));
    }
    Ok(axum::Json(json!({})).into_response())
}

enum WriteError {
    Bad(String),
    UnknownName,
}

fn apply_writes(sim: &mut Sim, house: usize, input: &[Value]) -> Result<(), WriteError> {
    // One variable per call, as HomeSide's own app and every known client write.
    if input.len() != 1 {
        return Err(WriteError::Bad(format!(
            "input takes exactly one item per call, not {}",
            input.len()
        )));
    }
    let mut parsed = Vec::new();
    for item in input {
        let (Some(name), Some(text)) = (item["Name"].as_str(), item["Value"].as_str()) else {
            return Err(WriteError::Bad(
                "input items need Name and Value (a string)".into(),
            ));
        };
        let i = sim.path_index(house, name).ok_or(WriteError::UnknownName)?;
        let value = parse_written(sim.vars[i].source, text)
            .ok_or_else(|| WriteError::Bad(format!("{text:?} is not a valid value for {name}")))?;
        parsed.push((i, value));
    }
    let visible_at = Instant::now() + Duration::from_millis(sim.args.write_delay_ms);
    let controller = sim.houses[house].controller.clone();
    for (i, value) in parsed {
        sim.written
            .insert((controller.clone(), i), Written { value, visible_at });
    }
    Ok(())
}

/// A written string as the variable's type: bools take True/False/true/false/1/0, numbers `.`.
fn parse_written(source: Source, text: &str) -> Option<Value> {
    match source {
        Source::Flag(_) | Source::Adaption => match text {
            "True" | "true" | "1" => Some(json!(true)),
            "False" | "false" | "0" => Some(json!(false)),
            _ => None,
        },
        Source::Text(_) => Some(json!(text)),
        Source::Int(_) | Source::CurveX(_) => text.parse::<i64>().ok().map(|n| json!(n)),
        _ => text
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(|x| json!(x)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_takes_one_input_per_call() {
        let args: Args =
            crate::common::parse_args(&["homeside", "--house", "HEM_FJV_Villa_1:FC1:pw"]);
        let mut sim = Sim::new(args).unwrap();
        let path = |i: usize| format!("Cwl.Advise.A[{}]", i + sim.houses[0].path_offset);
        let flag = sim
            .vars
            .iter()
            .position(|v| matches!(v.source, Source::Flag(_)))
            .unwrap();
        let item = json!({"Name": path(flag), "Value": "True"});
        let two = [item.clone(), item.clone()];
        assert!(matches!(
            apply_writes(&mut sim, 0, &two),
            Err(WriteError::Bad(m)) if m.contains("one item")
        ));
        assert!(matches!(
            apply_writes(&mut sim, 0, &[]),
            Err(WriteError::Bad(_))
        ));
        assert!(
            sim.written.is_empty(),
            "nothing of a refused call is written"
        );
        assert!(apply_writes(&mut sim, 0, &[item]).is_ok());
        assert_eq!(sim.written.len(), 1);
    }
}
