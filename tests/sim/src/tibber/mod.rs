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

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Map, Value};

use gql::{Error, Resolved};

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

struct Sim {
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

#[derive(Clone, Copy, PartialEq)]
enum Res {
    Hourly,
    Quarter,
}

impl Res {
    fn step(self) -> SignedDuration {
        match self {
            Res::Hourly => SignedDuration::from_hours(1),
            Res::Quarter => SignedDuration::from_mins(15),
        }
    }
}

#[derive(Clone)]
struct Node {
    from: Timestamp,
    consumption: Option<f64>,
    unit_price: f64,
}

struct Page {
    nodes: Vec<Node>,
    has_previous: bool,
    has_next: bool,
}

#[derive(Clone)]
enum Obj {
    Query,
    Viewer,
    Home(usize),
    Features,
    Subscription(usize),
    PriceInfo(usize, Res),
    Price(usize, Timestamp),
    Connection(Arc<Page>),
    PageInfo(Arc<Page>),
    Edge(Node),
    Node(Node),
}

fn hash(home: &str, t: Timestamp) -> u64 {
    let mut x = home
        .bytes()
        .fold(t.as_second() as u64, |h, b| h.rotate_left(5) ^ b as u64);
    x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29)
}

fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

impl Sim {
    fn fmt(&self, t: Timestamp) -> String {
        t.to_zoned(self.tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
            .to_string()
    }

    /// (total, energy, tax) per kWh of the interval starting at `t`.
    fn price(&self, home: usize, t: Timestamp) -> (f64, f64, f64) {
        let energy = round(
            0.3 + (hash(&self.args.homes[home], t) % 100) as f64 / 100.0,
            4,
        );
        let tax = round(energy * 0.25 + 0.1, 4);
        (round(energy + tax, 4), energy, tax)
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

    /// Interval starts of one local day at a resolution (23/25 hours on DST days).
    fn day(&self, date: Date, res: Res) -> Vec<Timestamp> {
        let start = date
            .to_zoned(self.tz.clone())
            .expect("valid day")
            .timestamp();
        let end = date
            .tomorrow()
            .expect("valid day")
            .to_zoned(self.tz.clone())
            .expect("valid day")
            .timestamp();
        std::iter::successors(Some(start), |t| Some(*t + res.step()))
            .take_while(|t| *t < end)
            .collect()
    }

    /// Hourly consumption from `history_days` ago to the last complete hour.
    fn nodes(&self, home: usize) -> Vec<Node> {
        let now = Timestamp::now();
        let last = Timestamp::from_second(now.as_second().div_euclid(3600) * 3600 - 3600)
            .expect("in range");
        let first = last - SignedDuration::from_hours(24 * self.args.history_days);
        let recent_null = last - SignedDuration::from_hours(self.args.null_recent_hours);
        let revised_from = last - SignedDuration::from_hours(self.args.revise_hours);
        let revision = self.limiter.lock().unwrap().requests as f64 / 1000.0;
        std::iter::successors(Some(first), |t| Some(*t + SignedDuration::from_hours(1)))
            .take_while(|t| *t <= last)
            .map(|from| Node {
                from,
                consumption: (from <= recent_null || self.args.null_recent_hours == 0).then(|| {
                    let base = 0.2 + (hash(&self.args.homes[home], from) % 150) as f64 / 100.0;
                    let revised = self.args.revise_hours > 0 && from > revised_from;
                    round(if revised { base + revision } else { base }, 3)
                }),
                unit_price: self.price(home, from).0,
            })
            .collect()
    }

    fn consumption(&self, home: usize, args: &Map<String, Value>) -> Result<Page, Error> {
        let resolution = args.get("resolution").and_then(Value::as_str).unwrap_or("");
        let cap = match resolution {
            "HOURLY" => 744,
            "DAILY" | "WEEKLY" | "MONTHLY" | "ANNUAL" => 0,
            other => {
                return Err(Error::Validation(format!(
                    "Value \"{other}\" does not exist in \"EnergyResolution\" enum."
                )))
            }
        };
        let mut nodes = if cap == 0 {
            Vec::new()
        } else {
            self.nodes(home)
        };
        if args.get("filterEmptyNodes") == Some(&json!(true)) {
            nodes.retain(|n| n.consumption.is_some());
        }
        let cursor = |name: &str| -> Result<Option<(Timestamp, bool)>, Error> {
            match args.get(name).and_then(Value::as_str) {
                None | Some("") => Ok(None),
                Some(c) => self.decode_cursor(c).map(Some),
            }
        };
        let count = |name: &str| {
            args.get(name)
                .and_then(Value::as_i64)
                .map(|n| (n.max(0) as usize).min(cap))
        };
        let (start, end) = match (count("first"), count("last")) {
            (Some(n), _) => {
                let start = match cursor("after")? {
                    Some((c, inclusive)) => {
                        nodes.partition_point(|x| if inclusive { x.from < c } else { x.from <= c })
                    }
                    None => 0,
                };
                (start, (start + n).min(nodes.len()))
            }
            (None, Some(n)) => {
                let end = match cursor("before")? {
                    Some((c, _)) => nodes.partition_point(|x| x.from < c),
                    None => nodes.len(),
                };
                (end.saturating_sub(n), end)
            }
            (None, None) => return Err(Error::field(
                "You must provide a `first` or `last` value to properly paginate the connection.",
                "INTERNAL_SERVER_ERROR",
            )),
        };
        Ok(Page {
            has_previous: start > 0,
            has_next: end < nodes.len(),
            nodes: nodes[start..end].to_vec(),
        })
    }

    /// A cursor is base64 of an ISO date-time; a date-only (or offset-less) one is local time
    /// and includes the node starting there.
    fn decode_cursor(&self, c: &str) -> Result<(Timestamp, bool), Error> {
        let bad = || Error::field(format!("Invalid cursor: {c}"), "INTERNAL_SERVER_ERROR");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(c)
            .map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        if let Ok(t) = text.parse::<Timestamp>() {
            return Ok((t, false));
        }
        let local = text
            .parse::<jiff::civil::DateTime>()
            .or_else(|_| {
                text.parse::<Date>()
                    .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
            })
            .map_err(|_| bad())?;
        let t = local
            .to_zoned(self.tz.clone())
            .map_err(|_| bad())?
            .timestamp();
        Ok((t, true))
    }

    fn cursor(&self, t: Timestamp) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.fmt(t))
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

const NO_ARGS: &[&str] = &[];

impl gql::Schema for Sim {
    type Obj = Obj;

    fn type_name(&self, obj: &Obj) -> &'static str {
        match obj {
            Obj::Query => "Query",
            Obj::Viewer => "Viewer",
            Obj::Home(_) => "Home",
            Obj::Features => "HomeFeatures",
            Obj::Subscription(_) => "Subscription",
            Obj::PriceInfo(..) => "PriceInfo",
            Obj::Price(..) => "Price",
            Obj::Connection(_) => "HomeConsumptionConnection",
            Obj::PageInfo(_) => "HomeConsumptionPageInfo",
            Obj::Edge(_) => "HomeConsumptionEdge",
            Obj::Node(_) => "Consumption",
        }
    }

    fn field_args(&self, ty: &str, field: &str) -> Option<&'static [&'static str]> {
        let fields: &[&str] = match ty {
            "Query" => &["viewer"],
            "Viewer" => &["userId", "name", "login", "homes", "home"],
            "Home" => &[
                "id",
                "appNickname",
                "timeZone",
                "currentSubscription",
                "features",
                "consumption",
            ],
            "HomeFeatures" => &["realTimeConsumptionEnabled"],
            "Subscription" => &["status", "priceInfo"],
            "PriceInfo" => &["current", "today", "tomorrow"],
            "Price" => &["total", "energy", "tax", "startsAt", "currency", "level"],
            "HomeConsumptionConnection" => &["pageInfo", "nodes", "edges"],
            "HomeConsumptionPageInfo" => &[
                "startCursor",
                "endCursor",
                "hasPreviousPage",
                "hasNextPage",
                "count",
                "currency",
                "totalCost",
                "totalConsumption",
                "filtered",
            ],
            "HomeConsumptionEdge" => &["cursor", "node"],
            "Consumption" => &[
                "from",
                "to",
                "cost",
                "unitPrice",
                "unitPriceVAT",
                "consumption",
                "consumptionUnit",
                "currency",
            ],
            _ => &[],
        };
        fields.contains(&field).then_some(match (ty, field) {
            ("Viewer", "home") => &["id"],
            ("Subscription", "priceInfo") => &["resolution"],
            ("Home", "consumption") => &[
                "resolution",
                "first",
                "last",
                "before",
                "after",
                "filterEmptyNodes",
            ],
            _ => NO_ARGS,
        })
    }

    fn resolve(
        &self,
        obj: &Obj,
        field: &str,
        args: &Map<String, Value>,
    ) -> Result<Resolved<Obj>, Error> {
        let s = |v: Value| Ok(Resolved::Scalar(v));
        let currency = self.args.currency.as_str();
        match (obj, field) {
            (Obj::Query, "viewer") => Ok(Resolved::Object(Obj::Viewer)),
            (Obj::Viewer, "userId") => s(json!("b1c2d3e4-0000-4000-8000-000000000001")),
            (Obj::Viewer, "name") => s(json!("Anna Simulator")),
            (Obj::Viewer, "login") => s(json!("anna@example.com")),
            (Obj::Viewer, "homes") => Ok(Resolved::List(
                (0..self.args.homes.len()).map(Obj::Home).collect(),
            )),
            (Obj::Viewer, "home") => {
                let id = args.get("id").and_then(Value::as_str).unwrap_or_default();
                match self.args.homes.iter().position(|h| h == id) {
                    Some(i) => Ok(Resolved::Object(Obj::Home(i))),
                    None => Err(Error::field(
                        format!("Could not find home with id {id}"),
                        "NOT_FOUND",
                    )),
                }
            }
            (Obj::Home(i), "id") => s(json!(self.args.homes[*i])),
            (Obj::Home(i), "appNickname") => s(json!(format!("Home {}", i + 1))),
            (Obj::Home(_), "timeZone") => s(json!(self.args.time_zone)),
            (Obj::Home(i), "currentSubscription") => Ok(Resolved::Object(Obj::Subscription(*i))),
            (Obj::Home(_), "features") => Ok(Resolved::Object(Obj::Features)),
            (Obj::Home(i), "consumption") => Ok(Resolved::Object(Obj::Connection(Arc::new(
                self.consumption(*i, args)?,
            )))),
            (Obj::Features, _) => s(json!(false)),
            (Obj::Subscription(_), "status") => s(json!("running")),
            (Obj::Subscription(i), "priceInfo") => {
                let res = match args.get("resolution").and_then(Value::as_str) {
                    None | Some("HOURLY") => Res::Hourly,
                    Some("QUARTER_HOURLY") => Res::Quarter,
                    Some(other) => {
                        return Err(Error::Validation(format!(
                            "Value \"{other}\" does not exist in \"PriceInfoResolution\" enum."
                        )))
                    }
                };
                Ok(Resolved::Object(Obj::PriceInfo(*i, res)))
            }
            (Obj::PriceInfo(i, res), day) => {
                let now = Timestamp::now().to_zoned(self.tz.clone());
                let today = now.date();
                let starts = match day {
                    "current" => {
                        let t = self
                            .day(today, *res)
                            .into_iter()
                            .rfind(|t| *t <= now.timestamp());
                        return Ok(
                            t.map_or(Resolved::Null, |t| Resolved::Object(Obj::Price(*i, t)))
                        );
                    }
                    "today" => self.day(today, *res),
                    _ if now.hour() < self.args.publish_hour => Vec::new(),
                    _ => self.day(today.tomorrow().expect("valid"), *res),
                };
                Ok(Resolved::List(
                    starts.into_iter().map(|t| Obj::Price(*i, t)).collect(),
                ))
            }
            (Obj::Price(i, t), f) => {
                let (total, energy, tax) = self.price(*i, *t);
                match f {
                    "total" => s(json!(total)),
                    "energy" => s(json!(energy)),
                    "tax" => s(json!(tax)),
                    "startsAt" => s(json!(self.fmt(*t))),
                    "currency" => s(json!(currency)),
                    _ => s(json!(Self::level(total))),
                }
            }
            (Obj::Connection(p), "pageInfo") => Ok(Resolved::Object(Obj::PageInfo(p.clone()))),
            (Obj::Connection(p), "nodes") => Ok(Resolved::List(
                p.nodes.iter().cloned().map(Obj::Node).collect(),
            )),
            (Obj::Connection(p), _) => Ok(Resolved::List(
                p.nodes.iter().cloned().map(Obj::Edge).collect(),
            )),
            (Obj::PageInfo(p), f) => {
                let cost: f64 = p
                    .nodes
                    .iter()
                    .filter_map(|n| n.consumption.map(|c| c * n.unit_price))
                    .sum();
                let kwh: f64 = p.nodes.iter().filter_map(|n| n.consumption).sum();
                match f {
                    "startCursor" => s(json!(p.nodes.first().map(|n| self.cursor(n.from)))),
                    "endCursor" => s(json!(p.nodes.last().map(|n| self.cursor(n.from)))),
                    "hasPreviousPage" => s(json!(p.has_previous)),
                    "hasNextPage" => s(json!(p.has_next)),
                    "count" => s(json!(p.nodes.len())),
                    "currency" => s(json!(currency)),
                    "totalCost" => s(json!(round(cost, 4))),
                    "totalConsumption" => s(json!(round(kwh, 3))),
                    _ => s(json!(p
                        .nodes
                        .iter()
                        .filter(|n| n.consumption.is_none())
                        .count())),
                }
            }
            (Obj::Edge(n), "cursor") => s(json!(self.cursor(n.from))),
            (Obj::Edge(n), _) => Ok(Resolved::Object(Obj::Node(n.clone()))),
            (Obj::Node(n), f) => s(match f {
                "from" => json!(self.fmt(n.from)),
                "to" => json!(self.fmt(n.from + SignedDuration::from_hours(1))),
                "cost" => json!(n.consumption.map(|c| round(c * n.unit_price, 4))),
                "unitPrice" => json!(n.unit_price),
                "unitPriceVAT" => json!(round(n.unit_price * 0.2, 4)),
                "consumption" => json!(n.consumption),
                "consumptionUnit" => json!("kWh"),
                _ => json!(currency),
            }),
            (o, f) => Err(Error::Validation(format!(
                "Cannot query field \"{f}\" on type \"{}\".",
                gql::Schema::type_name(self, o)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn sim(extra: &[&str]) -> Sim {
        let args = Cli::parse_from(["tibber"].iter().chain(extra)).args;
        let tz = TimeZone::get(&args.time_zone).unwrap();
        Sim {
            args,
            tz,
            limiter: Mutex::default(),
        }
    }

    fn run(sim: &Sim, query: &str, vars: Value) -> (u16, Value) {
        gql::execute(sim, Obj::Query, &json!({"query": query, "variables": vars}))
    }

    #[test]
    fn a_demo_user_reads_prices_but_not_consumption() {
        let s = sim(&[]);
        let demo = Session {
            sim: &s,
            demo: true,
        };
        let q = |field: &str| json!({"query": format!("{{ viewer {{ homes {{ {field} }} }} }}")});
        let (status, body) = gql::execute(
            &demo,
            Obj::Query,
            &q("currentSubscription { priceInfo { today { total } } }"),
        );
        assert_eq!(status, 200);
        assert!(
            body["data"]["viewer"]["homes"][0]["currentSubscription"]["priceInfo"]["today"]
                .is_array()
        );
        let (status, body) = gql::execute(
            &demo,
            Obj::Query,
            &q("consumption(resolution: HOURLY, last: 1) { nodes { from } }"),
        );
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
        let (status, body) = run(&s, q, json!({"id": HOME}));
        assert_eq!(status, 200, "{body}");
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
}
