//! The data behind an entity's charts: `/api/entity/{id}/series` (JSON for uPlot, min/max per
//! pixel bucket on long ranges) and `/api/entity/{id}/csv` (every stored point of the range).
//!
//! An entity's data is every series tagged `house_id` or `building_id` with its id: what its
//! workers, the analytics and the weather store for it. One chart per series (measurement and
//! tags), one line per numeric field.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
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

    fn buckets(&self) -> usize {
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

/// The entity's series, sorted so that related charts sit together.
pub fn entity_series_list(reader: &Reader, entity_id: &str) -> Result<Vec<Series>> {
    let mut out: Vec<Series> = reader
        .all_series()?
        .into_iter()
        .filter(|s| is_of(s, entity_id))
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

fn is_of(series: &Series, entity_id: &str) -> bool {
    ["house_id", "building_id"]
        .iter()
        .any(|k| series.tags.get(*k).map(String::as_str) == Some(entity_id))
}

/// The charts of an entity over `req`'s range, each downsampled to the requested width.
pub fn entity_series(
    reader: &Reader,
    entity_id: &str,
    req: SeriesRequest,
    now_ns: i64,
) -> Result<Vec<Chart>> {
    let (from, to) = req.range(now_ns);
    let mut charts = Vec::new();
    for series in entity_series_list(reader, entity_id)? {
        let mut names: Vec<String> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
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
                let col = match index.get(name) {
                    Some(c) => *c,
                    None => {
                        index.insert(name.to_string(), names.len());
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
        let mut tags = series.tags;
        tags.retain(|k, _| k != "house_id" && k != "building_id");
        charts.push(Chart {
            measurement: series.measurement,
            tags,
            fields: names,
            x: cols.x.iter().map(|t| *t as f64 / NS as f64).collect(),
            y: cols.ys,
            stored,
        });
    }
    Ok(charts)
}

/// Every stored point of the entity in the range as CSV: `time,measurement,tags,field,value`.
pub fn entity_csv(
    reader: &Reader,
    entity_id: &str,
    req: SeriesRequest,
    now_ns: i64,
) -> Result<Vec<u8>> {
    let (from, to) = req.range(now_ns);
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(["time", "measurement", "tags", "field", "value"])?;
    for series in entity_series_list(reader, entity_id)? {
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

/// The store, read off the async threads, for an entity the caller may see (else 404, the same
/// answer as for an entity that does not exist).
async fn read_for<T: Send + 'static>(
    state: &AppState,
    reader: &ApiReader,
    id: &str,
    f: impl FnOnce(&Reader) -> Result<T> + Send + 'static,
) -> Result<T, Response> {
    if !reader.can_see(id) {
        return Err((StatusCode::NOT_FOUND, "no such entity").into_response());
    }
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || f(&store.reader()?))
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())?
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response())
}

pub async fn json(
    caller: ApiReader,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(req): Query<SeriesRequest>,
) -> Response {
    let key = id.clone();
    let now = super::overview::now_ns();
    match read_for(&state, &caller, &id, move |r| {
        entity_series(r, &key, req, now)
    })
    .await
    {
        Ok(charts) => Json(serde_json::json!({ "entity": id, "charts": charts })).into_response(),
        Err(r) => r,
    }
}

pub async fn csv(
    caller: ApiReader,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(req): Query<SeriesRequest>,
) -> Response {
    let key = id.clone();
    let now = super::overview::now_ns();
    match read_for(&state, &caller, &id, move |r| entity_csv(r, &key, req, now)).await {
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
