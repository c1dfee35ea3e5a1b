//! `hemflux-sim smhi`: SMHI open data (`../shared/protocols/smhi.md`) on one port: metobs
//! observations under `/api/version/{latest,1.0}/...` and snow1g point forecasts under
//! `/api/category/snow1g/version/1/...`. Strict: `GET` only, unknown paths, parameters,
//! stations, periods and out-of-area points are 404, and the retired pmp3g API is 404 too.

mod forecast;
mod metobs;
pub(crate) mod weather;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;

use crate::common::{self, SimClock};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Start of the simulated clock (RFC 3339); default now.
    #[arg(long)]
    pub clock: Option<jiff::Timestamp>,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// The newest observation is the last full hour at least this many minutes old.
    #[arg(long, default_value_t = 20)]
    pub obs_delay_mins: i64,
    /// Share of station-hours with no observation row (a missing hour), in percent.
    #[arg(long, default_value_t = 1)]
    pub missing_hours_percent: u64,
    /// Forecasts exist inside LAT_MIN,LAT_MAX,LON_MIN,LON_MAX; elsewhere 404.
    #[arg(
        long,
        default_value = "52,72,2,35",
        value_delimiter = ',',
        num_args = 4
    )]
    pub area: Vec<f64>,
    /// Every Nth forecast step has `air_temperature` 9999 (SMHI's missing value).
    #[arg(long)]
    pub forecast_missing_every: Option<usize>,
    /// Delay every answer by this long.
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
    /// Every Nth request answers 500.
    #[arg(long)]
    pub fail_every: Option<u64>,
    /// The first N requests answer 500 (an outage at start).
    #[arg(long, default_value_t = 0)]
    pub fail_first: u64,
}

struct Sim {
    args: Args,
    clock: SimClock,
    requests: std::sync::atomic::AtomicU64,
}

pub async fn run(args: Args) -> Result<()> {
    if args.area.len() != 4 || args.area[0] >= args.area[1] || args.area[2] >= args.area[3] {
        bail!("--area wants LAT_MIN,LAT_MAX,LON_MIN,LON_MAX");
    }
    let listen = args.listen;
    let sim = Arc::new(Sim {
        clock: SimClock::new(args.clock, args.time_scale),
        args,
        requests: Default::default(),
    });
    let router = Router::new().fallback(handle).with_state(sim);
    common::serve(router, listen).await
}

/// What a handler answers: JSON, or a status with a text body.
pub enum Answer {
    Json(Value),
    Status(StatusCode, &'static str),
}

fn not_found() -> Answer {
    Answer::Status(StatusCode::NOT_FOUND, "Not Found")
}

async fn handle(State(sim): State<Arc<Sim>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    if sim.args.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(sim.args.delay_ms)).await;
    }
    let n = sim
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    let answer = if req.method() != Method::GET {
        Answer::Status(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
    } else if n <= sim.args.fail_first || common::every(n, sim.args.fail_every).is_some() {
        Answer::Status(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    } else {
        route(&sim, &path, &query)
    };
    let response = match answer {
        Answer::Json(v) => (
            [
                (header::CACHE_CONTROL, "max-age=60"),
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            ],
            axum::Json(v),
        )
            .into_response(),
        Answer::Status(status, text) => (status, text).into_response(),
    };
    tracing::info!("GET {path} -> {}", response.status().as_u16());
    response
}

fn route(sim: &Sim, path: &str, query: &str) -> Answer {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let now = sim.clock.now();
    match segs.as_slice() {
        ["api", "version", "latest" | "1.0", rest @ ..] => metobs::route(sim, now, rest),
        ["api", "category", "snow1g", "version", "1", rest @ ..] => {
            forecast::route(sim, now, rest, query)
        }
        // pmp3g v2 was retired on 2026-03-31: everything under it is gone.
        _ => not_found(),
    }
}
