//! WattiVahti (Pori Energia): the Azure AD B2C token endpoint, whose refresh token rotates on
//! every use (the old one is rejected), and `meterdata2`, which speaks naive Helsinki local time
//! and repeats the autumn DST hour as look-alike pairs. See `../shared/protocols/wattivahti.md`.
//!
//! Inspection: `GET /_sim/log` lists every redemption and data call, in order.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde_json::{json, Value};

pub const TOKEN_PATH: &str = "/pesv.onmicrosoft.com/b2c_1_tunnistus_signinv2/oauth2/v2.0/token";
const DATA_PATH: &str = "/api/onlineapi/v1/meterdata2";
const CLIENT_ID: &str = "84ebdb93-9ea6-42c7-bd7d-302abf7556fa";
const SCOPE: &str = "https://pesv.onmicrosoft.com/salpa/customer.read";

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// A metering point the portal knows (repeatable).
    #[arg(long = "metering-point", default_values_t = vec!["1234567".to_string()])]
    pub metering_points: Vec<String>,
    /// The one valid refresh token at start (as if `get_token.py` had just been run).
    #[arg(long, default_value = "wv-initial-refresh-token")]
    pub refresh_token: String,
    /// Another customer account: its initial refresh token and the metering points it may
    /// read, `TOKEN:MP[,MP...]` (repeatable). The tokens of an account read only its own
    /// metering points (403 for any other); `--refresh-token` owns the `--metering-point`s.
    #[arg(long = "account", value_parser = parse_account)]
    pub accounts: Vec<(String, Vec<String>)>,
    /// Lifetime of an access token.
    #[arg(long, default_value_t = 3600)]
    pub access_token_secs: u64,
    /// Lifetime of a refresh token from its issue (B2C's sliding window is 14 days).
    #[arg(long, default_value_t = 14 * 24 * 3600)]
    pub refresh_token_secs: u64,
    /// A rotated token keeps its chain's first expiry (B2C's fixed 24 h chains of SPA clients)
    /// instead of a fresh `--refresh-token-secs`.
    #[arg(long)]
    pub fixed_chain: bool,
    /// Local (Helsinki) date from which 15-minute data exists; before it PT15MIN is empty.
    #[arg(long, default_value = "2023-01-01")]
    pub quarter_hour_start: Date,
    /// Data is delivered this many hours late (never in the future anyway).
    #[arg(long, default_value_t = 0)]
    pub lag_hours: u64,
}

struct Sim {
    args: Args,
    /// The metering points of each customer account.
    accounts: Vec<Vec<String>>,
    tokens: Mutex<Tokens>,
}

impl Sim {
    fn new(args: Args) -> Sim {
        let mut tokens = Tokens::default();
        let end = Instant::now() + Duration::from_secs(args.refresh_token_secs);
        let mut accounts = vec![args.metering_points.clone()];
        tokens.refresh.insert(args.refresh_token.clone(), (end, 0));
        for (token, mps) in &args.accounts {
            tokens.refresh.insert(token.clone(), (end, accounts.len()));
            accounts.push(mps.clone());
        }
        Sim {
            args,
            accounts,
            tokens: Mutex::new(tokens),
        }
    }
}

fn parse_account(s: &str) -> Result<(String, Vec<String>), String> {
    match s.split_once(':') {
        Some((token, mps)) if !token.is_empty() && !mps.is_empty() => Ok((
            token.to_string(),
            mps.split(',').map(str::to_string).collect(),
        )),
        _ => Err(format!("expected TOKEN:MP[,MP...], got {s:?}")),
    }
}

#[derive(Default)]
struct Tokens {
    /// Each token's expiry and the account (index into `Sim::accounts`) it belongs to.
    refresh: HashMap<String, (Instant, usize)>,
    access: HashMap<String, (Instant, usize)>,
    /// Refresh tokens already redeemed: presenting one again is the classic lost-rotation bug.
    spent: HashSet<String>,
    issued: u64,
    log: Vec<Value>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let sim = Arc::new(Sim::new(args));
    let router = Router::new()
        .route(TOKEN_PATH, post(token))
        .route(DATA_PATH, get(meterdata))
        .route("/_sim/log", get(log))
        .with_state(sim.clone());
    crate::common::serve(router, sim.args.listen).await
}

fn helsinki() -> TimeZone {
    TimeZone::get("Europe/Helsinki").expect("bundled tz database has Europe/Helsinki")
}

fn b2c_error(error: &str, code: &str, text: &str) -> Response {
    let description = format!(
        "{code}: {text}\r\nCorrelation ID: 00000000-0000-0000-0000-000000000000\r\nTimestamp: {}",
        Timestamp::now()
    );
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn token(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: String) -> Response {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form: HashMap<String, String> = match form_pairs(&body) {
        Some(f) if form_type => f,
        _ => {
            return b2c_error(
                "invalid_request",
                "AADB2C90083",
                "The request is missing required parameter: grant_type.",
            )
        }
    };
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if field("grant_type") != "refresh_token" {
        return b2c_error(
            "invalid_request",
            "AADB2C90083",
            "The request is missing required parameter: grant_type.",
        );
    }
    if field("client_id") != CLIENT_ID {
        return b2c_error(
            "invalid_request",
            "AADB2C90117",
            "The scope provided in the request is not supported.",
        );
    }
    if !field("scope").split(' ').any(|s| s == SCOPE) {
        return b2c_error(
            "invalid_request",
            "AADB2C90055",
            "The scope provided in the request must specify a resource.",
        );
    }
    let presented = field("refresh_token").to_string();
    let mut t = sim.tokens.lock().unwrap();
    let now = Instant::now();
    let valid = t.refresh.remove(&presented).filter(|(exp, _)| *exp > now);
    let Some((chain_end, account)) = valid else {
        let reused = t.spent.contains(&presented);
        t.log
            .push(json!({"event": "redeem", "ok": false, "reused": reused}));
        tracing::warn!(reused, "refresh token refused");
        return b2c_error(
            "invalid_grant",
            "AADB2C90080",
            "The provided grant has expired. Please re-authenticate and try again.",
        );
    };
    t.spent.insert(presented);
    t.issued += 1;
    let n = t.issued;
    let refresh = format!("wv-rt-{n}-{:016x}", fastrand::u64(..));
    let access = format!("wv-at-{n}-{:016x}", fastrand::u64(..));
    let life = sim.args.refresh_token_secs;
    let expires = if sim.args.fixed_chain {
        chain_end
    } else {
        now + Duration::from_secs(life)
    };
    t.refresh.insert(refresh.clone(), (expires, account));
    t.access.insert(
        access.clone(),
        (
            now + Duration::from_secs(sim.args.access_token_secs),
            account,
        ),
    );
    t.log.push(json!({"event": "redeem", "ok": true, "n": n}));
    tracing::info!(n, "refresh token redeemed and rotated");
    let issued_at = Timestamp::now().as_second();
    Json(json!({
        "access_token": access, "token_type": "Bearer", "expires_in": sim.args.access_token_secs,
        "not_before": issued_at, "expires_on": issued_at + sim.args.access_token_secs as i64,
        "refresh_token": refresh, "refresh_token_expires_in": life,
        "id_token": "eyJzaW0iOiJ3YXR0aXZhaHRpIn0", "client_info": "eyJ1aWQiOiJzaW0ifQ",
        "scope": format!("{SCOPE} openid"),
    }))
    .into_response()
}

/// Decodes `application/x-www-form-urlencoded` without another dependency.
pub fn form_pairs(body: &str) -> Option<HashMap<String, String>> {
    let decode = |s: &str| -> Option<String> {
        let s = s.replace('+', " ");
        let mut out = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).ok()
    };
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

fn bad_request(text: &str) -> Response {
    (StatusCode::BAD_REQUEST, text.to_string()).into_response()
}

/// `2025-10-26T00:00:00+03:00`, `2026-01-15T14:23:45.123456+02:00`, or naive (= Helsinki).
fn parse_time(s: &str) -> Option<Timestamp> {
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Some(ts);
    }
    let dt: DateTime = s.parse().ok()?;
    helsinki()
        .to_ambiguous_zoned(dt)
        .compatible()
        .ok()
        .map(|z| z.timestamp())
}

async fn meterdata(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let account = {
        let mut t = sim.tokens.lock().unwrap();
        let account = bearer
            .and_then(|b| t.access.get(b))
            .filter(|(exp, _)| *exp > Instant::now())
            .map(|(_, account)| *account);
        t.log
            .push(json!({"event": "meterdata", "ok": account.is_some(), "query": q}));
        match account {
            Some(a) => a,
            None => return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response(),
        }
    };
    let param = |k: &str| q.get(k).map(String::as_str);
    let (Some(mp), Some(mt), Some(start), Some(stop), Some(step)) = (
        param("meteringPointCode"),
        param("measurementType"),
        param("start"),
        param("stop"),
        param("resultStep"),
    ) else {
        return bad_request("Missing required parameter");
    };
    if !sim.accounts.iter().flatten().any(|m| m == mp) {
        return bad_request("Unknown metering point");
    }
    // A token reads the metering points of its own customer account only.
    if !sim.accounts[account].iter().any(|m| m == mp) {
        return (StatusCode::FORBIDDEN, "Forbidden").into_response();
    }
    if mt != "1" && mt != "6" {
        return bad_request("Invalid measurementType");
    }
    let step_secs: i64 = match step {
        "PT15MIN" => 900,
        "PT1H" => 3600,
        _ => return bad_request("Invalid resultStep"),
    };
    let (Some(start), Some(stop)) = (parse_time(start), parse_time(stop)) else {
        return bad_request("Invalid start or stop");
    };
    let tz = helsinki();
    let delivered = Timestamp::now() - (sim.args.lag_hours as i64).hours();
    let quarters_from = sim.args.quarter_hour_start;
    let rows = if mt == "1" {
        readings(mp, (start, stop), delivered, step_secs, quarters_from)
    } else {
        Vec::new()
    };
    let fmt = |d: DateTime| d.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let sum: f64 = rows.iter().map(|(_, v)| v).sum();
    let tsv: Vec<Value> = rows
        .iter()
        .map(|(d, v)| json!({"quantity": v, "time": fmt(*d)}))
        .collect();
    let (s, e) = (
        fmt(start.to_zoned(tz.clone()).datetime()),
        fmt(stop.to_zoned(tz).datetime()),
    );
    Json(json!({"getconsumptionsresult": {
        "consumptiondata": {"meteringpointcode": mp,
            "sum": {"quantity": round3(sum), "start": s, "stop": e, "unit": "kWh"},
            "timeseries": {"start": s, "stop": e, "resolution": step, "values": {"tsv": tsv}}},
        "spotdata": null}}))
    .into_response()
}

/// The readings whose interval starts in [start, stop) and is complete by `delivered`, as the portal lists
/// them: naive local times, ordered by local time, so that the repeated autumn hour comes as
/// interleaved pairs. Before `quarters_from` (a local date) there are no quarter-hours.
fn readings(
    mp: &str,
    (start, stop): (Timestamp, Timestamp),
    delivered: Timestamp,
    step_secs: i64,
    quarters_from: Date,
) -> Vec<(DateTime, f64)> {
    let tz = helsinki();
    let mut t = start.as_second().div_euclid(step_secs) * step_secs;
    if t < start.as_second() {
        t += step_secs;
    }
    let mut rows = Vec::new();
    while t < stop.as_second() && t + step_secs <= delivered.as_second() {
        let local = Timestamp::from_second(t)
            .expect("in range")
            .to_zoned(tz.clone())
            .datetime();
        if step_secs != 900 || local.date() >= quarters_from {
            rows.push((local, hour_or_quarter(mp, t, step_secs)));
        }
        t += step_secs;
    }
    rows.sort_by_key(|(local, _)| *local);
    rows
}

/// kWh of one quarter-hour starting at `utc_secs`: deterministic per metering point, so that a
/// test can recompute any total. An hour is the sum of its four quarters.
pub fn quarter_kwh(metering_point: &str, utc_secs: i64) -> f64 {
    let mut x = metering_point.parse::<u64>().unwrap_or(7)
        ^ (utc_secs as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    (50 + x % 250) as f64 / 1000.0
}

fn hour_or_quarter(mp: &str, t: i64, step_secs: i64) -> f64 {
    round3(
        (0..step_secs / 900)
            .map(|i| quarter_kwh(mp, t + i * 900))
            .sum(),
    )
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

async fn log(State(sim): State<Arc<Sim>>) -> Json<Value> {
    Json(Value::Array(sim.tokens.lock().unwrap().log.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: &str, step: i64, quarters_from: &str) -> Vec<(DateTime, f64)> {
        let date: Date = d.parse().unwrap();
        let start = date.to_zoned(helsinki()).unwrap().timestamp();
        let stop = date
            .tomorrow()
            .unwrap()
            .to_zoned(helsinki())
            .unwrap()
            .timestamp();
        readings(
            "1234567",
            (start, stop),
            stop,
            step,
            quarters_from.parse().unwrap(),
        )
    }

    #[test]
    fn dst_days_have_100_and_92_quarters_with_the_autumn_pairs_interleaved() {
        let autumn = day("2025-10-26", 900, "2023-01-01");
        assert_eq!(autumn.len(), 100);
        let times: Vec<String> = autumn[12..16].iter().map(|(t, _)| t.to_string()).collect();
        assert_eq!(
            times,
            [
                "2025-10-26T03:00:00",
                "2025-10-26T03:00:00",
                "2025-10-26T03:15:00",
                "2025-10-26T03:15:00"
            ]
        );
        assert_eq!(day("2025-03-30", 900, "2023-01-01").len(), 92);
        assert_eq!(
            (
                day("2025-10-26", 3600, "2023-01-01").len(),
                day("2025-03-30", 3600, "2023-01-01").len()
            ),
            (25, 23)
        );
    }

    #[test]
    fn no_quarters_before_15_minute_metering_and_an_hour_is_its_quarters() {
        assert!(day("2024-01-14", 900, "2024-01-15").is_empty());
        let hours = day("2024-01-14", 3600, "2024-01-15");
        assert_eq!(hours.len(), 24);
        let quarters: f64 = day("2024-01-15", 900, "2024-01-15")
            .iter()
            .map(|(_, v)| v)
            .sum();
        let hourly: f64 = day("2024-01-15", 3600, "2024-01-15")
            .iter()
            .map(|(_, v)| v)
            .sum();
        assert!((quarters - hourly).abs() < 1e-6, "{quarters} {hourly}");
    }

    #[test]
    fn times_parse_with_offset_fraction_or_naive_helsinki() {
        let a = parse_time("2025-10-26T00:00:00+03:00").unwrap();
        assert_eq!(a, parse_time("2025-10-26T00:00:00").unwrap());
        assert!(parse_time("2026-01-15T14:23:45.123456+02:00").is_some());
        assert!(parse_time("26.10.2025").is_none());
    }

    #[test]
    fn forms_decode_percent_and_plus() {
        let f = form_pairs("scope=a%20b+c&grant_type=refresh_token&x=").unwrap();
        assert_eq!(f["scope"], "a b c");
        assert_eq!(f["x"], "");
    }

    async fn json_of(r: Response) -> (StatusCode, Value) {
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// An access token reads the metering points of its own account, not another's.
    #[tokio::test]
    async fn access_tokens_are_tied_to_their_accounts_metering_points() {
        let args: Args =
            crate::common::parse_args(&["wattivahti", "--account", "neighbour-token:7654321"]);
        let sim = Arc::new(Sim::new(args));
        let mut form = HeaderMap::new();
        form.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let redeem = |token: &str| {
            format!("grant_type=refresh_token&client_id={CLIENT_ID}&scope={SCOPE}&refresh_token={token}")
        };
        let (status, body) =
            json_of(token(State(sim.clone()), form.clone(), redeem("neighbour-token")).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut bearer = HeaderMap::new();
        let access = body["access_token"].as_str().unwrap();
        bearer.insert(
            header::AUTHORIZATION,
            format!("Bearer {access}").parse().unwrap(),
        );
        let read = |mp: &str| {
            let q: HashMap<String, String> = [
                ("meteringPointCode", mp),
                ("measurementType", "1"),
                ("start", "2026-01-01T00:00:00"),
                ("stop", "2026-01-01T02:00:00"),
                ("resultStep", "PT1H"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            meterdata(State(sim.clone()), bearer.clone(), Query(q))
        };
        assert_eq!(read("7654321").await.status(), StatusCode::OK);
        assert_eq!(
            read("1234567").await.status(),
            StatusCode::FORBIDDEN,
            "the other account's"
        );
        assert_eq!(
            read("9999999").await.status(),
            StatusCode::BAD_REQUEST,
            "unknown anywhere"
        );
    }
}
