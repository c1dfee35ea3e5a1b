//! The data behind an entity's or a meter's generic charts: `/api/{entity|meter}/{id}/series`
//! (JSON for uPlot, min/max per pixel bucket on long ranges) and `.../csv` (every stored point
//! of the range).
//!
//! An entity's data is every series tagged `house_id` or `building_id` with its id: what its
//! workers, the analytics and the weather store for it. A meter's is every `meter_*` series
//! tagged `meter_id` with its id (what the meter analytics write). One chart per series
//! (measurement and tags), one line per numeric field.

use std::collections::BTreeMap;

use anyhow::Result;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::downsample::{min_max, Columns};
use crate::auth::ApiReader;
use crate::http::AppState;
use crate::store::{RawValue, Reader, Series};

const NS: i64 = 1_000_000_000;
/// Without `from`, the chart shows this much before `to`.
const DEFAULT_SPAN_NS: i64 = 7 * 86_400 * NS;

/// `?from=&to=` in seconds since the epoch (what uPlot uses), `width` in pixels.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesRequest {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub width: Option<usize>,
}

impl SeriesRequest {
    /// `[from, to)` in nanoseconds.
    pub fn range(&self, now_ns: i64) -> (i64, i64) {
        let to = self.to.map_or(now_ns, |s| s.saturating_mul(NS));
        let from = self
            .from
            .map_or(to - DEFAULT_SPAN_NS, |s| s.saturating_mul(NS));
        (from, to)
    }

    pub(super) fn buckets(&self) -> usize {
        self.width.unwrap_or(1000).clamp(10, 4000)
    }
}

/// One chart: a series' numeric fields over time.
#[derive(Debug, Serialize)]
pub struct Chart {
    pub measurement: String,
    /// The series' tags besides the entity's own.
    pub tags: BTreeMap<String, String>,
    pub fields: Vec<String>,
    /// Seconds since the epoch.
    pub x: Vec<f64>,
    pub y: Vec<Vec<Option<f64>>>,
    /// Points stored in the range, before downsampling.
    pub stored: usize,
}

/// Whose charts: a house or building, or a meter of `meters.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Entity(String),
    Meter(String),
}

impl Subject {
    pub fn id(&self) -> &str {
        match self {
            Subject::Entity(id) | Subject::Meter(id) => id,
        }
    }

    /// Whether a series belongs to it.
    pub fn owns(&self, measurement: &str, tags: &BTreeMap<String, String>) -> bool {
        let tagged = |k: &str, id: &str| tags.get(k).map(String::as_str) == Some(id);
        match self {
            Subject::Entity(id) => tagged("house_id", id) || tagged("building_id", id),
            Subject::Meter(id) => measurement.starts_with("meter_") && tagged("meter_id", id),
        }
    }

    /// The tags that say whose a series is (not shown on its chart).
    fn is_own_tag(&self, key: &str) -> bool {
        match self {
            Subject::Entity(_) => key == "house_id" || key == "building_id",
            Subject::Meter(_) => key == "meter_id",
        }
    }

    /// A series' tags without the subject's own.
    pub fn other_tags(&self, tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut tags = tags.clone();
        tags.retain(|k, _| !self.is_own_tag(k));
        tags
    }
}

/// The subject's series, sorted so that related charts sit together.
pub fn entity_series_list(reader: &Reader, subject: &Subject) -> Result<Vec<Series>> {
    let mut out: Vec<Series> = reader
        .all_series()?
        .into_iter()
        .filter(|s| subject.owns(&s.measurement, &s.tags))
        .collect();
    out.sort_by(|a, b| {
        (rank(&a.measurement), &a.measurement, &a.tags).cmp(&(
            rank(&b.measurement),
            &b.measurement,
            &b.tags,
        ))
    });
    Ok(out)
}

/// Charts in the order a consultant reads a house: temperatures, energy and its split, k and the
/// forecast, meters, weather, then anything else by name.
fn rank(measurement: &str) -> usize {
    const ORDER: &[&str] = &[
        "heating_system",
        "building_system",
        "building_alarms",
        "energy_meter",
        "energy_separated",
        "k_value_history",
        "energy_forecast",
        "heat_curve",
        "electricity_consumption",
        "meter",
        "smart_meter",
        "electricity_price",
        "weather",
    ];
    ORDER
        .iter()
        .position(|p| measurement.starts_with(p))
        .unwrap_or(ORDER.len())
}

/// The charts of a subject over `req`'s range, each downsampled to the requested width.
pub fn entity_series(
    reader: &Reader,
    subject: &Subject,
    req: SeriesRequest,
    now_ns: i64,
) -> Result<Vec<Chart>> {
    let (from, to) = req.range(now_ns);
    let mut charts = Vec::new();
    for series in entity_series_list(reader, subject)? {
        let mut names: Vec<String> = Vec::new();
        let mut cols = Columns {
            x: Vec::new(),
            ys: Vec::new(),
        };
        reader.for_each_point_of(&series, Some(from), Some(to), |time, fields| {
            let row = cols.x.len();
            cols.x.push(time);
            for f in fields {
                let (name, value) = f?;
                let v = match value {
                    RawValue::Float(v) => v,
                    RawValue::Int(v) => v as f64,
                    _ => continue,
                };
                // A series has a few fields: a scan beats hashing each name of each point.
                let col = match names.iter().position(|n| n == name) {
                    Some(c) => c,
                    None => {
                        names.push(name.to_string());
                        cols.ys.push(vec![None; row]);
                        names.len() - 1
                    }
                };
                cols.ys[col].push(Some(v));
            }
            for y in &mut cols.ys {
                y.resize(row + 1, None);
            }
            Ok(())
        })?;
        if names.is_empty() {
            continue;
        }
        let stored = cols.x.len();
        let cols = min_max(cols, req.buckets());
        charts.push(Chart {
            tags: subject.other_tags(&series.tags),
            measurement: series.measurement,
            fields: names,
            x: cols.x.iter().map(|t| *t as f64 / NS as f64).collect(),
            y: cols.ys,
            stored,
        });
    }
    Ok(charts)
}

/// Every stored point of the subject in the range as CSV: `time,measurement,tags,field,value`.
pub fn entity_csv(
    reader: &Reader,
    subject: &Subject,
    req: SeriesRequest,
    now_ns: i64,
) -> Result<Vec<u8>> {
    let (from, to) = req.range(now_ns);
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(["time", "measurement", "tags", "field", "value"])?;
    for series in entity_series_list(reader, subject)? {
        let tags: Vec<String> = series
            .tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let tags = tags.join(";");
        reader.for_each_point_of(&series, Some(from), Some(to), |time, fields| {
            let time = hemflux_shared::time::from_nanos(time).to_string();
            for f in fields {
                let (name, value) = f?;
                let value = match value {
                    RawValue::Float(v) => v.to_string(),
                    RawValue::Int(v) => v.to_string(),
                    RawValue::Bool(v) => v.to_string(),
                    RawValue::Str(s) => s.to_string(),
                };
                out.write_record([time.as_str(), &series.measurement, &tags, name, &value])?;
            }
            Ok(())
        })?;
    }
    Ok(out.into_inner()?)
}

/// The handlers' `IS_METER` for the routes under `/api/entity/{id}/` and `/api/meter/{id}/`
/// (and `/events/entity/{id}`, `/events/meter/{id}`).
pub(super) const ENTITY: bool = false;
pub(super) const METER: bool = true;

/// A call to a data route: who asks, about which entity (or meter, `IS_METER`), for what range.
pub(super) struct SeriesCall<const IS_METER: bool> {
    caller: ApiReader,
    state: AppState,
    id: String,
    req: SeriesRequest,
}

impl<const IS_METER: bool> FromRequestParts<AppState> for SeriesCall<IS_METER> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let caller = ApiReader::from_request_parts(parts, state).await?;
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Query(req) = Query::<SeriesRequest>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let state = state.clone();
        Ok(SeriesCall {
            caller,
            state,
            id,
            req,
        })
    }
}

impl<const IS_METER: bool> SeriesCall<IS_METER> {
    /// `f` on the store, off the async threads, if the caller may see the entity or meter (else
    /// 404, the same answer as for one that does not exist). `f` gets the meter's unit ("" for
    /// entities), the request and the time now.
    async fn read<T: Send + 'static>(
        self,
        f: impl FnOnce(&Reader, &Subject, &str, SeriesRequest, i64) -> Result<T> + Send + 'static,
    ) -> Result<T, Response> {
        let SeriesCall {
            caller,
            state,
            id,
            req,
        } = self;
        let now = super::overview::now_ns();
        let read = move || -> Result<Option<T>> {
            let can_see = |e: &str| caller.can_see(e);
            let Some((subject, unit)) =
                super::meters::subject(&state.meters, IS_METER, &id, &can_see, caller.sees_all())
            else {
                return Ok(None);
            };
            f(&state.store.reader()?, &subject, &unit, req, now).map(Some)
        };
        match tokio::task::spawn_blocking(read).await {
            Ok(Ok(Some(t))) => Ok(t),
            Ok(Ok(None)) => Err((StatusCode::NOT_FOUND, "no such entity").into_response()),
            Ok(Err(e)) => {
                Err((StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response())
            }
            Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()),
        }
    }
}

/// `/api/{entity|meter}/{id}/series`: the charts as JSON.
pub(super) async fn json<const IS_METER: bool>(call: SeriesCall<IS_METER>) -> Response {
    let id = call.id.clone();
    let seq = call.state.store.committed().borrow().to_owned();
    match call
        .read(|r, s, _, req, now| entity_series(r, s, req, now))
        .await
    {
        Ok(charts) => {
            Json(serde_json::json!({ "entity": id, "seq": seq, "charts": charts })).into_response()
        }
        Err(r) => r,
    }
}

/// `/api/{entity|meter}/{id}/figures`: the purpose-built charts, titled in the browser's language.
pub(super) async fn figures<const IS_METER: bool>(
    call: SeriesCall<IS_METER>,
    headers: HeaderMap,
) -> Response {
    let lang = super::i18n::Lang::from_request(None, &headers);
    let id = call.id.clone();
    let figures = move |r: &Reader, s: &Subject, unit: &str, req: SeriesRequest, now: i64| {
        super::figures::figures(r, s, req, now, lang, unit)
    };
    match call.read(figures).await {
        Ok(figures) => {
            Json(serde_json::json!({ "entity": id, "figures": figures })).into_response()
        }
        Err(r) => r,
    }
}

/// `/api/{entity|meter}/{id}/csv`: the charts' points as a CSV download.
pub(super) async fn csv<const IS_METER: bool>(call: SeriesCall<IS_METER>) -> Response {
    let id = call.id.clone();
    match call
        .read(|r, s, _, req, now| entity_csv(r, s, req, now))
        .await
    {
        Ok(bytes) => {
            let file: String = id
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{file}.csv\""),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        Err(r) => r,
    }
}
