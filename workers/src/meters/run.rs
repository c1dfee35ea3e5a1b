//! One run of the meter analytics in the worker: on a blocking thread, asking this task for
//! each meter's readings as it needs them; then its points and checkpoint to the store.

use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use hemflux_analytics::meters::{self as analytics, packed, records, Changes, MeterSet, Reading, State};
use hemflux_shared::protocol::MAX_LINE_BYTES;
use hemflux_shared::read::ReadQuery;
use hemflux_shared::Point;
use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};

use super::{Checkpoint, NS};
use crate::link::Link;

/// Points per batch of results: a batch is one line, far below the line limit.
const BATCH: usize = 5_000;
/// A packed state larger than this is not kept (the next start is a full run instead): the
/// checkpoint comes back in `init`, one line with the definitions beside it.
pub const MAX_PACKED_BYTES: usize = MAX_LINE_BYTES * 3 / 4;

/// A physical meter's readings after `after` (seconds), all of them for `None`.
pub fn readings_query(p: &analytics::Physical, after: Option<analytics::Ts>) -> ReadQuery {
    let mut q = ReadQuery::new(p.series.measurement.clone())
        .fields([p.series.field.clone()])
        .between(after.map(|a| (a + 1) * NS), None);
    for (k, v) in &p.series.tags {
        q = q.tag(k.clone(), v.clone());
    }
    q
}

/// What a run leaves.
pub struct Done {
    pub state: State,
    /// [`packed::pack`] of `state`.
    pub packed: String,
    pub points: Vec<Point>,
    pub status: String,
}

type ReadRequest = (ReadQuery, String, oneshot::Sender<Result<Vec<Reading>>>);

/// Runs the analytics from `state` (recomputing each meter from its entry in `changes` on) on
/// a blocking thread, answering its reads here.
pub async fn compute(
    link: &Link,
    set: &Arc<MeterSet>,
    mut state: State,
    now: Timestamp,
    changes: &Changes,
    full: bool,
) -> Result<Done> {
    let (tx, mut requests) = mpsc::channel::<ReadRequest>(1);
    let (set_for_run, changes) = (set.clone(), changes.clone());
    let job = tokio::task::spawn_blocking(move || {
        let outputs = analytics::run(
            &set_for_run,
            &mut state,
            now.as_second(),
            &changes,
            full,
            |i, p, after| {
                let (answer, rx) = oneshot::channel();
                let id = set_for_run.meters[i].id.clone();
                tx.blocking_send((readings_query(p, after), id, answer))
                    .map_err(|_| anyhow!("the worker stopped"))?;
                rx.blocking_recv().map_err(|_| anyhow!("the worker stopped"))?
            },
        )?;
        let points = records::points(&outputs);
        let from = outputs.iter().filter_map(|o| o.from.as_deref()).min().map(str::to_string);
        let packed = packed::pack(&state);
        Ok::<_, anyhow::Error>((state, points, packed, outputs.len(), from))
    });
    while let Some((query, meter, answer)) = requests.recv().await {
        let mut readings = Vec::new();
        let read = link
            .query_pages(query, |page| {
                readings.extend(page.iter().filter_map(|p| {
                    let value = p.fields.values().next()?.as_f64()?;
                    Some(Reading {
                        t: p.time.div_euclid(NS),
                        value,
                    })
                }))
            })
            .await
            .with_context(|| format!("reading meter {meter}"));
        let _ = answer.send(read.map(|()| readings));
    }
    let (state, points, packed, meters, from) = job.await.context("the meter analytics panicked")??;
    let status = format!(
        "{} run at {now}: {meters} meters, {} points{}",
        if full { "full" } else { "incremental" },
        points.len(),
        from.map_or(String::new(), |d| format!(" from {d}")),
    );
    Ok(Done {
        state,
        packed,
        points,
        status,
    })
}

/// Sends the points in batches, then the checkpoint on its own once they are all durable: the
/// state never gets ahead of the results it produced, and the packed state has a line to itself.
pub async fn deliver(link: &Link, points: Vec<Point>, cp: Checkpoint) -> Result<()> {
    let mut rest = points.into_iter().peekable();
    while rest.peek().is_some() {
        link.send_points(rest.by_ref().take(BATCH).collect(), None)
            .await?;
    }
    link.save_state(serde_json::to_value(cp)?).await
}
