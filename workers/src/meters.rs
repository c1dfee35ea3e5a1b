//! `meters`: the meter analytics as a supervised worker. A full run at start and every night
//! (local wall clock of the definitions' `timezone`), an incremental one as soon as a physical
//! meter has readings after its last known one; the results go to the store as the seed's
//! measurements (`hemflux_analytics::meters::records`), the state as the checkpoint with the
//! last batch. The readings come through the read path, one meter at a time: the analytics run
//! on a blocking thread and ask this task for each meter's readings as they need them.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use hemflux_analytics::energy::schedule::latest_occurrence;
use hemflux_analytics::meters::{self as analytics, records, Kind, MeterSet, Reading, Source, State};
use hemflux_shared::kinds::meters::MetersWorker;
use hemflux_shared::protocol::MAX_LINE_BYTES;
use hemflux_shared::read::ReadQuery;
use hemflux_shared::Point;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::link::{Command, Link, Worker};

const NS: i64 = 1_000_000_000;
/// Points per batch of results: a batch is one line, far below the line limit.
const BATCH: usize = 5_000;
/// A checkpoint larger than this is not kept (the next start is a full run instead).
const MAX_CHECKPOINT_BYTES: usize = MAX_LINE_BYTES / 2;

/// The worker's checkpoint.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    /// Hash of the definitions the state was computed with (another means a full run).
    definitions: u64,
    /// The nightly occurrence that last ran.
    nightly: Option<Timestamp>,
    state: Option<State>,
}

pub async fn run(mut worker: Worker, config: MetersWorker) -> Result<()> {
    let d = &config.definitions;
    let (name, patterns_name) = (
        d.file.display().to_string(),
        d.file.with_file_name("seasonal_patterns.yaml").display().to_string(),
    );
    let set = analytics::parse(
        Source {
            name: &name,
            text: &d.text,
        },
        d.patterns.as_deref().map(|text| Source {
            name: &patterns_name,
            text,
        }),
    )
    .map_err(|errors| anyhow!(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")))?;
    let set = Arc::new(set);
    let mut hasher = DefaultHasher::new();
    (&d.text, &d.patterns).hash(&mut hasher);
    let definitions = hasher.finish();
    let link = worker.link.clone();
    let mut cp: Checkpoint = worker
        .init
        .state
        .take()
        .and_then(|v| serde_json::from_value(v).ok())
        .filter(|c: &Checkpoint| c.definitions == definitions)
        .unwrap_or(Checkpoint {
            definitions,
            ..Checkpoint::default()
        });
    let check = std::time::Duration::from_secs(config.settings.check_interval_secs.max(1));
    loop {
        let now = Timestamp::now();
        let nightly = latest_occurrence(config.settings.nightly_at, &set.tz, now);
        let full = cp.state.is_none() || cp.nightly.is_none_or(|n| n < nightly);
        if full || has_new_readings(&link, &set, cp.state.as_ref()).await? {
            let state = if full { State::default() } else { cp.state.take().unwrap_or_default() };
            let (state, points) = compute(&link, &set, state, now, full).await?;
            cp.state = Some(state);
            if full {
                cp.nightly = Some(nightly);
            }
            deliver(&link, points, &cp, full).await?;
        }
        tokio::select! {
            _ = tokio::time::sleep(check) => {}
            cmd = worker.commands.recv() => match cmd {
                Some(Command::Sync { id, .. } | Command::Custom { id, .. }) => link.reply(
                    id,
                    false,
                    "the meter analytics run nightly and on new readings; `hemflux meters run` runs them now",
                ),
                None => return Ok(()),
            },
        }
    }
}

/// Whether some physical meter has a reading after the last one the state knows.
async fn has_new_readings(link: &Link, set: &MeterSet, state: Option<&State>) -> Result<bool> {
    for m in &set.meters {
        let Kind::Physical(p) = &m.kind else { continue };
        let last = state
            .and_then(|s| s.meters.get(&m.id))
            .and_then(|s| s.last.as_ref())
            .map(|r| r.t);
        let mut q = readings_query(p, last);
        q.limit = Some(1);
        if !link.query_page(&q).await?.0.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

fn readings_query(p: &analytics::Physical, after: Option<analytics::Ts>) -> ReadQuery {
    let mut q = ReadQuery::new(p.series.measurement.clone())
        .fields([p.series.field.clone()])
        .between(after.map(|a| (a + 1) * NS), None);
    for (k, v) in &p.series.tags {
        q = q.tag(k.clone(), v.clone());
    }
    q
}

type ReadRequest = (ReadQuery, String, oneshot::Sender<Result<Vec<Reading>>>);

/// Runs the analytics on a blocking thread, answering its reads here; the new state and the
/// result points.
async fn compute(
    link: &Link,
    set: &Arc<MeterSet>,
    mut state: State,
    now: Timestamp,
    full: bool,
) -> Result<(State, Vec<Point>)> {
    let (tx, mut requests) = mpsc::channel::<ReadRequest>(1);
    let set_for_run = set.clone();
    let job = tokio::task::spawn_blocking(move || {
        let outputs = analytics::run(
            &set_for_run,
            &mut state,
            now.as_second(),
            &analytics::Changes::new(),
            full,
            |i, p, after| {
                let (answer, rx) = oneshot::channel();
                let id = set_for_run.meters[i].id.clone();
                tx.blocking_send((readings_query(p, after), id, answer))
                    .map_err(|_| anyhow!("the worker stopped"))?;
                rx.blocking_recv().map_err(|_| anyhow!("the worker stopped"))?
            },
        )?;
        Ok::<_, anyhow::Error>((state, records::points(&outputs), outputs.len()))
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
    let (state, points, meters) = job.await.context("the meter analytics panicked")??;
    link.status(format!(
        "{} run at {now}: {meters} meters, {} points",
        if full { "full" } else { "incremental" },
        points.len()
    ));
    Ok((state, points))
}

/// Sends the points in batches, the checkpoint with the last (without the state if it is too
/// large to travel: the next start is then a full run).
async fn deliver(link: &Link, points: Vec<Point>, cp: &Checkpoint, full: bool) -> Result<()> {
    let mut value = serde_json::to_value(cp)?;
    if serde_json::to_vec(&value)?.len() > MAX_CHECKPOINT_BYTES {
        value["state"] = serde_json::Value::Null;
        if full {
            link.status("the meter state is too large to checkpoint: a restart runs in full");
        }
    }
    let mut batches: Vec<Vec<Point>> = Vec::new();
    let mut rest = points.into_iter().peekable();
    while rest.peek().is_some() {
        batches.push(rest.by_ref().take(BATCH).collect());
    }
    let last = batches.pop().unwrap_or_default();
    for batch in batches {
        link.send_points(batch, None).await?;
    }
    if last.is_empty() {
        link.save_state(value).await
    } else {
        link.send_points(last, Some(value)).await
    }
}
