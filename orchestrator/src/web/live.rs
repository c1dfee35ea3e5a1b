//! `/events/entity/{id}` and `/events/meter/{id}`: server-sent events with the new points of
//! the subject's series, so that its page's charts grow without a reload. The stream wakes when
//! the store commits (its watch of the last committed seq), at most every [`COALESCE`], and reads
//! the points written since the last it sent, in write order (event `points`: JSON
//! `{seq, charts: [{measurement, tags, fields, x, y}]}`, like `/api/.../series`).
//! `?after=SEQ` starts after the `seq` the page's series answer carried, so nothing written in
//! between is lost.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use anyhow::Result;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use hemflux_shared::point::FieldValue;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use super::series::Subject;
use crate::auth::PageUser;
use crate::http::AppState;
use crate::store::Reader;

/// At most one event per stream this often, however often the store commits.
pub const COALESCE: Duration = Duration::from_millis(500);
/// Points read per round; more are sent in the next one at once.
const BATCH: usize = 5000;
const NS: f64 = 1e9;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveQuery {
    after: Option<u64>,
}

/// `/events/{entity|meter}/{id}`: the new points of the charts' series as they are stored.
pub async fn open<const IS_METER: bool>(
    PageUser(who): PageUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<LiveQuery>,
) -> Response {
    let can_see = |e: &str| who.can_see(e);
    let subject = super::meters::subject(&state.meters, IS_METER, &id, &can_see, who.is_admin());
    let Some((subject, _)) = subject else {
        return (StatusCode::NOT_FOUND, "no such entity").into_response();
    };
    let commits = state.store.committed();
    let cursor = q.after.unwrap_or_else(|| *commits.borrow());
    let reader = match state.store.reader() {
        Ok(r) => r,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
    };
    let feed = Feed {
        subject,
        cursor,
        commits,
        reader: Some(reader),
        last_sent: Instant::now() - COALESCE,
    };
    Sse::new(updates(feed))
        .keep_alive(KeepAlive::default())
        .into_response()
}

struct Feed {
    subject: Subject,
    cursor: u64,
    commits: watch::Receiver<u64>,
    reader: Option<Reader>,
    last_sent: Instant,
}

/// New points of one series, shaped like a generic chart.
#[derive(Debug, Serialize)]
struct NewPoints {
    measurement: String,
    tags: BTreeMap<String, String>,
    fields: Vec<String>,
    x: Vec<f64>,
    y: Vec<Vec<Option<f64>>>,
}

fn updates(feed: Feed) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(feed, |mut feed| async move {
        loop {
            let committed = *feed.commits.borrow_and_update();
            if committed <= feed.cursor {
                feed.commits.changed().await.ok()?;
                continue;
            }
            tokio::time::sleep_until(feed.last_sent + COALESCE).await;
            let reader = feed.reader.take()?;
            let (subject, cursor) = (feed.subject.clone(), feed.cursor);
            let read = tokio::task::spawn_blocking(move || {
                let mut reader = reader;
                let got = read_new(&mut reader, &subject, cursor);
                (reader, got)
            });
            let (reader, got) = read.await.ok()?;
            feed.reader = Some(reader);
            let (charts, last_seq, full) = match got {
                Ok(g) => g,
                Err(e) => {
                    tracing::warn!("live points for the web UI: {e:#}");
                    return None;
                }
            };
            // Everything committed before the read was visible to it, unless the batch was full.
            feed.cursor = if full {
                last_seq
            } else {
                last_seq.max(committed)
            };
            if charts.is_empty() {
                continue;
            }
            feed.last_sent = Instant::now();
            let data = serde_json::json!({ "seq": feed.cursor, "charts": charts }).to_string();
            return Some((Ok(Event::default().event("points").data(data)), feed));
        }
    })
}

/// The subject's points written after `cursor`: per series, the last seq read, and whether
/// the batch was full.
fn read_new(
    reader: &mut Reader,
    subject: &Subject,
    cursor: u64,
) -> Result<(Vec<NewPoints>, u64, bool)> {
    let batch = reader.after(cursor, BATCH)?;
    let last = batch.last_seq().unwrap_or(cursor);
    let full = batch.len() == BATCH;
    let mut charts: BTreeMap<(String, BTreeMap<String, String>), NewPoints> = BTreeMap::new();
    for p in batch.points {
        if !subject.owns(&p.measurement, &p.tags) {
            continue;
        }
        let tags = subject.other_tags(&p.tags);
        let chart = charts
            .entry((p.measurement.clone(), tags.clone()))
            .or_insert_with(|| NewPoints {
                measurement: p.measurement.clone(),
                tags,
                fields: Vec::new(),
                x: Vec::new(),
                y: Vec::new(),
            });
        let row = chart.x.len();
        chart.x.push(p.time as f64 / NS);
        for (name, value) in &p.fields {
            let v = match value {
                FieldValue::Float(v) => *v,
                FieldValue::Int(v) => *v as f64,
                _ => continue,
            };
            let col = match chart.fields.iter().position(|f| f == name) {
                Some(c) => c,
                None => {
                    chart.fields.push(name.clone());
                    chart.y.push(vec![None; row]);
                    chart.fields.len() - 1
                }
            };
            chart.y[col].push(Some(v));
        }
        for y in &mut chart.y {
            y.resize(row + 1, None);
        }
    }
    Ok((charts.into_values().collect(), last, full))
}
