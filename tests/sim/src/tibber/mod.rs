//! Tibber's GraphQL API (`POST /v1-beta/gql`): homes, prices (hourly and quarter-hourly) and
//! hourly consumption with cursor paging, a personal Bearer token, and the rate limit of about
//! 100 requests per 5 minutes that answers 429 and bans the caller for a while, renewed by every
//! request during the ban. See `../shared/protocols/tibber.md`.
//!
//! Every caller of a simulator runs on this machine (127.0.0.1), so the per-IP limit is one
//! limit for all callers: exactly the case of many Tibber workers on one host.
//!
//! Inspection: `GET /_sim/stats` (requests, 429 answers, whether the ban is on).

mod gql;
mod schema;
mod series;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::{json, Map, Value};

use gql::{Error, Resolved};
use schema::Obj;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// The personal access token that is accepted.
    #[arg(long, default_value = "sim-tibber-token")]
    pub token: String,
    /// A demo account's token: it reads homes and prices, but consumption is refused
    /// (HTTP 200, `INTERNAL_SERVER_ERROR`, "operation not allowed for demo user").
    #[arg(long)]
    pub demo_token: Option<String>,
    /// A home of the token's user (repeatable).
    #[arg(long = "home", default_values_t = vec!["96a14971-525a-4420-aae9-e5aedaa129ff".to_string()])]
    pub homes: Vec<String>,
    #[arg(long, default_value = "Europe/Stockholm")]
    pub time_zone: String,
    #[arg(long, default_value = "SEK")]
    pub currency: String,
    /// Consumption history reaches back this many days.
    #[arg(long, default_value_t = 400)]
    pub history_days: i64,
    /// The newest this many hours have `null` consumption and cost (not yet metered).
    #[arg(long, default_value_t = 0)]
    pub null_recent_hours: i64,
    /// The newest this many hours are revised on every request (+0.001 kWh per request so
    /// far), as Tibber corrects recent hours after the fact.
    #[arg(long, default_value_t = 0)]
    pub revise_hours: i64,
    /// Local hour at which tomorrow's prices are published.
    #[arg(long, default_value_t = 13)]
    pub publish_hour: i8,
    /// Requests allowed per window (per client IP), then 429 and a ban.
    #[arg(long, default_value_t = 100)]
    pub rate_limit: usize,
    #[arg(long, default_value_t = 300)]
    pub rate_window_secs: u64,
    #[arg(long, default_value_t = 600)]
    pub ban_secs: u64,
}

pub(crate) struct Sim {
    args: Args,
    tz: TimeZone,
    limiter: Mutex<Limiter>,
}

#[derive(Default)]
struct Limiter {
    recent: VecDeque<Instant>,
    banned_until: Option<Instant>,
    requests: u64,
    refused: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let tz = TimeZone::get(&args.time_zone)?;
    let sim = Arc::new(Sim {
        args,
        tz,
        limiter: Mutex::default(),
    });
    let router = Router::new()
        .route("/v1-beta/gql", post(gql_endpoint))
        .route("/_sim/stats", get(stats))
        .with_state(sim.clone());
    crate::common::serve(router, sim.args.listen).await
}

async fn stats(State(sim): State<Arc<Sim>>) -> Json<Value> {
    let l = sim.limiter.lock().unwrap();
    let banned = l.banned_until.is_some_and(|t| t > Instant::now());
    Json(json!({"requests": l.requests, "refused": l.refused, "banned": banned}))
}

impl Sim {
    /// Counts the request; false when the caller is (now) banned.
    fn admit(&self) -> bool {
        let mut l = self.limiter.lock().unwrap();
        let now = Instant::now();
        l.requests += 1;
        let window = Duration::from_secs(self.args.rate_window_secs);
        while l
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            l.recent.pop_front();
        }
        let ban = now + Duration::from_secs(self.args.ban_secs);
        if l.banned_until.is_some_and(|t| t > now) || l.recent.len() >= self.args.rate_limit {
            l.banned_until = Some(ban);
            l.refused += 1;
            return false;
        }
        l.recent.push_back(now);
        true
    }
}

async fn gql_endpoint(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: String) -> Response {
    if !sim.admit() {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::CONTENT_TYPE, "text/plain")],
            "Too many requests. Your IP is now temporarily banned for calling API for a few minutes.",
        )
            .into_response();
    }
    let unauthenticated = |message: &str| {
        let body = json!({"errors": [{"message": message, "locations": [{"line": 1, "column": 1}],
            "extensions": {"code": "UNAUTHENTICATED"}}], "data": null});
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let demo = match bearer {
        None => return unauthenticated("Context creation failed: no authorization header"),
        Some(t) if t == sim.args.token => false,
        Some(t) if sim.args.demo_token.as_deref() == Some(t) => true,
        Some(_) => return unauthenticated("Context creation failed: invalid token"),
    };
    if headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_none_or(str::is_empty)
    {
        let body = json!({"errors": [{"message": "User-Agent header is required", "extensions": {"code": "BAD_USER_INPUT"}}]});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let parsed: Option<Value> = if ct.starts_with("application/json") {
        serde_json::from_str(&body).ok()
    } else if ct.starts_with("application/x-www-form-urlencoded") {
        crate::wattivahti::form_pairs(&body).map(|f| {
            let vars = f
                .get("variables")
                .and_then(|v| serde_json::from_str::<Value>(v).ok());
            json!({"query": f.get("query"), "variables": vars})
        })
    } else {
        None
    };
    let Some(request) = parsed else {
        let body = json!({"errors": [{"message": "POST body sent invalid JSON.", "extensions": {"code": "BAD_REQUEST"}}]});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    };
    let session = Session { sim: &sim, demo };
    let (status, answer) = gql::execute(&session, Obj::Query, &request);
    (
        StatusCode::from_u16(status).expect("valid status"),
        Json(answer),
    )
        .into_response()
}

pub(crate) fn hash(home: &str, t: Timestamp) -> u64 {
    let mut x = home
        .bytes()
        .fold(t.as_second() as u64, |h, b| h.rotate_left(5) ^ b as u64);
    x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29)
}

pub(crate) fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

impl Sim {
    fn fmt(&self, t: Timestamp) -> String {
        t.to_zoned(self.tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
            .to_string()
    }

    fn level(total: f64) -> &'static str {
        match total {
            t if t < 0.6 => "VERY_CHEAP",
            t if t < 0.8 => "CHEAP",
            t if t < 1.1 => "NORMAL",
            t if t < 1.3 => "EXPENSIVE",
            _ => "VERY_EXPENSIVE",
        }
    }
}

/// One request's view of the API: a demo user may not read consumption.
struct Session<'a> {
    sim: &'a Sim,
    demo: bool,
}

impl gql::Schema for Session<'_> {
    type Obj = Obj;

    fn type_name(&self, obj: &Obj) -> &'static str {
        self.sim.type_name(obj)
    }

    fn field_args(&self, ty: &str, field: &str) -> Option<&'static [&'static str]> {
        self.sim.field_args(ty, field)
    }

    fn field_type(&self, ty: &str, field: &str) -> Option<&'static str> {
        self.sim.field_type(ty, field)
    }

    fn resolve(
        &self,
        obj: &Obj,
        field: &str,
        args: &Map<String, Value>,
    ) -> Result<Resolved<Obj>, Error> {
        if self.demo && field == "consumption" {
            return Err(Error::field(
                "operation not allowed for demo user",
                "INTERNAL_SERVER_ERROR",
            ));
        }
        self.sim.resolve(obj, field, args)
    }
}

#[cfg(test)]
mod tests {
    use super::series::Res;
    use super::*;
    use base64::Engine;
    use jiff::civil::Date;
    use jiff::SignedDuration;

    fn sim(extra: &[&str]) -> Sim {
        let argv: Vec<&str> = ["tibber"].iter().chain(extra).copied().collect();
        let args: Args = crate::common::parse_args(&argv);
        let tz = TimeZone::get(&args.time_zone).unwrap();
        Sim {
            args,
            tz,
            limiter: Mutex::default(),
        }
    }

    fn run(sim: &Sim, query: &str, vars: Value) -> (u16, Value) {
        let (status, out) =
            gql::execute(sim, Obj::Query, &json!({"query": query, "variables": vars}));
        (status, serde_json::to_value(out).unwrap())
    }

    /// The body of a query that must succeed (200).
    fn ok(sim: &Sim, query: &str, vars: Value) -> Value {
        let (status, body) = run(sim, query, vars);
        assert_eq!(status, 200, "{body}");
        body
    }

    /// A query the schema must refuse before resolving anything (400, validation failed).
    fn assert_invalid(sim: &Sim, query: &str, why: &str) {
        let (status, body) = run(sim, query, Value::Null);
        assert_eq!(
            (status, body["errors"][0]["extensions"]["code"].as_str()),
            (400, Some("GRAPHQL_VALIDATION_FAILED")),
            "{why}: {body}"
        );
    }

    #[test]
    fn a_demo_user_reads_prices_but_not_consumption() {
        let s = sim(&[]);
        let demo = Session {
            sim: &s,
            demo: true,
        };
        let q = |field: &str| json!({"query": format!("{{ viewer {{ homes {{ {field} }} }} }}")});
        let run_as_demo = |query: Value| {
            let (status, out) = gql::execute(&demo, Obj::Query, &query);
            (status, serde_json::to_value(out).unwrap())
        };
        let (status, body) =
            run_as_demo(q("currentSubscription { priceInfo { today { total } } }"));
        assert_eq!(status, 200);
        assert!(
            body["data"]["viewer"]["homes"][0]["currentSubscription"]["priceInfo"]["today"]
                .is_array()
        );
        let (status, body) = run_as_demo(q(
            "consumption(resolution: HOURLY, last: 1) { nodes { from } }",
        ));
        assert_eq!(
            (status, body["errors"][0]["extensions"]["code"].as_str()),
            (200, Some("INTERNAL_SERVER_ERROR"))
        );
        assert!(body["data"].is_null());
    }

    const HOME: &str = "96a14971-525a-4420-aae9-e5aedaa129ff";

    #[test]
    fn aliases_fragments_edges_and_typename() {
        let s = sim(&[]);
        let q = "query($id: ID!) { viewer { home(id: $id) { ...H } } }
                 fragment H on Home { __typename c: consumption(resolution: HOURLY, last: 2, before: \"\") {
                   edges { cursor node { from } } pageInfo { hasNextPage hasPreviousPage count } } }";
        let body = ok(&s, q, json!({"id": HOME}));
        let home = &body["data"]["viewer"]["home"];
        assert_eq!(home["__typename"], "Home");
        let edges = home["c"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), 2);
        let cursor = edges[1]["cursor"].as_str().unwrap();
        let decoded = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(cursor)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(decoded, edges[1]["node"]["from"].as_str().unwrap());
        assert!(
            decoded.ends_with(".000+01:00") || decoded.ends_with(".000+02:00"),
            "{decoded}"
        );
        assert_eq!(
            home["c"]["pageInfo"],
            json!({"hasNextPage": false, "hasPreviousPage": true, "count": 2})
        );
    }

    #[test]
    fn paging_forward_is_gap_free_and_a_date_only_cursor_includes_its_node() {
        let s = sim(&["--history-days", "40"]);
        let q = "query($a: String) { viewer { home(id: \"96a14971-525a-4420-aae9-e5aedaa129ff\") {
                   consumption(resolution: HOURLY, first: 5000, after: $a) { nodes { from } pageInfo { endCursor hasNextPage } } } } }";
        let (_, first) = run(&s, q, json!({"a": null}));
        let page = &first["data"]["viewer"]["home"]["consumption"];
        assert_eq!(
            page["nodes"].as_array().unwrap().len(),
            744,
            "capped, not failed"
        );
        assert_eq!(page["pageInfo"]["hasNextPage"], true);
        let (_, second) = run(&s, q, json!({"a": page["pageInfo"]["endCursor"]}));
        let next = &second["data"]["viewer"]["home"]["consumption"]["nodes"];
        let last: Timestamp = page["nodes"][743]["from"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let after: Timestamp = next[0]["from"].as_str().unwrap().parse().unwrap();
        assert_eq!(after.duration_since(last), SignedDuration::from_hours(1));
        let day = last
            .to_zoned(s.tz.clone())
            .date()
            .tomorrow()
            .unwrap()
            .to_string();
        let (_, by_date) = run(
            &s,
            q,
            json!({"a": base64::engine::general_purpose::STANDARD.encode(&day)}),
        );
        let from = by_date["data"]["viewer"]["home"]["consumption"]["nodes"][0]["from"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(from.starts_with(&format!("{day}T00:00:00.000")), "{from}");
    }

    #[test]
    fn validation_syntax_and_home_errors_have_tibbers_shapes() {
        let s = sim(&[]);
        for (q, code) in [
            ("{ viewer { nope } }", "GRAPHQL_VALIDATION_FAILED"),
            ("{ viewer { home(id: \"x\", extra: 1) { id } } }", "GRAPHQL_VALIDATION_FAILED"),
            ("{ viewer { homes { currentSubscription { priceInfo(resolution: DAILY) { today { total } } } } } }", "GRAPHQL_VALIDATION_FAILED"),
            ("{ viewer { homes } }", "GRAPHQL_VALIDATION_FAILED"),
            ("{ viewer { homes { id ", "GRAPHQL_PARSE_FAILED"),
        ] {
            let (status, body) = run(&s, q, Value::Null);
            assert_eq!((status, body["errors"][0]["extensions"]["code"].as_str()), (400, Some(code)), "{q}: {body}");
        }
        let (status, body) = run(
            &s,
            "{ viewer { home(id: \"unknown\") { id } } }",
            Value::Null,
        );
        assert_eq!(status, 200);
        assert!(
            body["data"].is_null()
                && body["errors"][0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("unknown")
        );
    }

    #[test]
    fn a_day_has_24_hours_or_96_quarters_and_23_or_92_in_spring() {
        let s = sim(&[]);
        let winter: Date = "2026-01-15".parse().unwrap();
        let spring: Date = "2026-03-29".parse().unwrap();
        let autumn: Date = "2026-10-25".parse().unwrap();
        let counts = |d| (s.day(d, Res::Hourly).len(), s.day(d, Res::Quarter).len());
        assert_eq!(
            (counts(winter), counts(spring), counts(autumn)),
            ((24, 96), (23, 92), (25, 100))
        );
    }

    #[test]
    fn the_limiter_bans_and_every_request_renews_the_ban() {
        let s = sim(&["--rate-limit", "3"]);
        assert!((0..3).all(|_| s.admit()));
        assert!(!s.admit());
        let until = s.limiter.lock().unwrap().banned_until.unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(!s.admit());
        assert!(s.limiter.lock().unwrap().banned_until.unwrap() > until);
    }

    /// pyTibber's "update info" query, as it sends it: `currentSubscription` twice (the second
    /// must not replace the first), and the fields of the real schema its users read.
    #[test]
    fn update_info_with_a_field_selected_twice_keeps_both_selections() {
        let s = sim(&[]);
        let q = format!(
            "{{ viewer {{ home(id: \"{HOME}\") {{
                currentSubscription {{ priceInfo(resolution: QUARTER_HOURLY) {{ current {{ total startsAt }} today {{ total }} }} }}
                appNickname
                currentSubscription {{ status }}
                address {{ address1 postalCode city country latitude longitude }}
                meteringPointData {{ consumptionEan energyTaxType estimatedAnnualConsumption gridCompany productionEan vatType }}
                owner {{ name isCompany language contactInfo {{ email mobile }} }}
                subscriptions {{ id status validFrom validTo statusReason }}
            }} websocketSubscriptionUrl }} }}"
        );
        let body = ok(&s, &q, Value::Null);
        let home = &body["data"]["viewer"]["home"];
        let sub = &home["currentSubscription"];
        assert_eq!(sub["status"], "running");
        assert!(sub["priceInfo"]["today"].as_array().unwrap().len() >= 92);
        assert_eq!(home["subscriptions"][0]["status"], "running");
        assert!(body["data"]["viewer"]["websocketSubscriptionUrl"]
            .as_str()
            .unwrap()
            .starts_with("wss://"));
    }

    #[test]
    fn response_keys_follow_the_query_order() {
        let s = sim(&[]);
        let text = |q: &str| {
            let (_, out) = gql::execute(&s, Obj::Query, &json!({ "query": q }));
            serde_json::to_string(&out).unwrap()
        };
        let a = text("{ viewer { userId name login } }");
        let b = text("{ viewer { login name userId } }");
        assert!(
            a.find("userId") < a.find("name") && a.find("name") < a.find("login"),
            "{a}"
        );
        assert!(
            b.find("login") < b.find("name") && b.find("name") < b.find("userId"),
            "{b}"
        );
    }

    #[test]
    fn coarse_consumption_resolutions_sum_the_hours_up_to_their_caps() {
        let s = sim(&["--history-days", "800"]);
        let page = |res: &str, n: usize| {
            let q = format!(
                "{{ viewer {{ home(id: \"{HOME}\") {{ consumption(resolution: {res}, last: {n}) {{
                   nodes {{ from to consumption cost totalCost }} pageInfo {{ count hasPreviousPage }} }} }} }} }}"
            );
            let body = ok(&s, &q, Value::Null);
            body["data"]["viewer"]["home"]["consumption"].clone()
        };
        for (res, cap) in [
            ("DAILY", 31),
            ("WEEKLY", 52),
            ("MONTHLY", 12),
            ("ANNUAL", 1),
        ] {
            let c = page(res, 1000);
            assert_eq!(c["pageInfo"]["count"], cap, "{res} is capped at {cap}");
            assert_eq!(c["pageInfo"]["hasPreviousPage"], true, "{res}");
            let last = &c["nodes"][cap - 1];
            assert_eq!(last["cost"], last["totalCost"]);
            let to: Timestamp = last["to"].as_str().unwrap().parse().unwrap();
            assert!(to <= Timestamp::now(), "{res}: only complete periods");
        }
        // The newest complete day is the sum of its hours.
        let day = page("DAILY", 1);
        let node = &day["nodes"][0];
        let (from, to) = (node["from"].as_str().unwrap(), node["to"].as_str().unwrap());
        let hours = s
            .consumption_nodes(0, series::Energy::Hourly)
            .into_iter()
            .filter(|h| s.fmt(h.from).as_str() >= from && s.fmt(h.to).as_str() <= to)
            .map(|h| h.consumption.unwrap())
            .collect::<Vec<_>>();
        assert!((23..=25).contains(&hours.len()));
        let sum = round(hours.iter().sum(), 3);
        assert_eq!(node["consumption"].as_f64().unwrap(), sum);
    }

    #[test]
    fn price_ranges_and_ratings_of_the_real_schema() {
        let s = sim(&[]);
        let sub = |inner: &str| {
            format!("{{ viewer {{ homes {{ currentSubscription {{ {inner} }} }} }} }}")
        };
        let body = ok(
            &s,
            &sub("priceInfoRange(resolution: QUARTER_HOURLY, last: 96) { nodes { total startsAt } pageInfo { count resolution } }"),
            Value::Null,
        );
        let range = &body["data"]["viewer"]["homes"][0]["currentSubscription"]["priceInfoRange"];
        assert_eq!(
            range["pageInfo"],
            json!({"count": 96, "resolution": "QUARTER_HOURLY"})
        );
        assert_invalid(
            &s,
            &sub("priceInfo { range(resolution: QUARTER_HOURLY, last: 4) { nodes { total } } }"),
            "the older range has no quarter hours",
        );
        let body = ok(
            &s,
            &sub("priceRating { thresholdPercentages { high low } hourly { entries { time total level } } monthly { entries { time } } }"),
            Value::Null,
        );
        let rating = &body["data"]["viewer"]["homes"][0]["currentSubscription"]["priceRating"];
        assert!(rating["hourly"]["entries"].as_array().unwrap().len() >= 23);
        assert_eq!(rating["monthly"]["entries"].as_array().unwrap().len(), 12);
    }

    /// Validation follows the types, not the data: a bad field under a list that happens to be
    /// empty (a home without production, tomorrow before noon) is still a 400.
    #[test]
    fn validation_does_not_depend_on_the_data() {
        let s = sim(&["--publish-hour", "24"]);
        let home = |inner: &str| format!("{{ viewer {{ home(id: \"{HOME}\") {{ {inner} }} }} }}");
        for q in [
            home("production(resolution: HOURLY, last: 5) { nodes { from bogus } }"),
            home("currentSubscription { priceInfo { tomorrow { total bogus } } }"),
            home("id { x }"),
        ] {
            assert_invalid(&s, &q, &q);
        }
        let body = ok(
            &s,
            &home("production(resolution: HOURLY, last: 5) { nodes { from production profit } pageInfo { count totalProduction } }"),
            Value::Null,
        );
        let production = &body["data"]["viewer"]["home"]["production"];
        assert_eq!(
            production["pageInfo"],
            json!({"count": 0, "totalProduction": 0.0})
        );
    }
}
