//! The loop around every sink: cursor, batches, retries, setting bad points aside, lag.

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use hemflux_shared::point::write_line_protocol;
use hemflux_shared::retry::RetryPolicy;
use tokio::sync::watch;

use super::{SendError, Sink, SinkStatus};
use crate::store::{Batch, Reader, RejectedBatch, Store};

/// Recount the exact lag this often (a count over a big backlog is not free), whatever the
/// sink is doing: a send that hangs or a long backoff must not freeze it.
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// How a sink batches and retries (`[[sinks]]`' `BatchSettings` over the kind's defaults).
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    /// At most this many points per request.
    pub size: usize,
    /// A partial batch waits at most this long for more points.
    pub interval: Duration,
    /// After a failed send or store read.
    pub retry: RetryPolicy,
}

impl Batching {
    /// 500 points or 200 ms; after a failure 0.5 s doubling to 30 s, plus up to a quarter so
    /// that sinks do not retry in step.
    pub const DEFAULT: Batching = Batching {
        size: 500,
        interval: Duration::from_millis(200),
        retry: RetryPolicy {
            initial: Duration::from_millis(500),
            factor: 2,
            cap: Duration::from_secs(30),
            jitter: 0.25,
        },
    };
}

pub struct Context {
    pub name: String,
    pub store: Store,
    pub batching: Batching,
    pub status: Arc<Mutex<SinkStatus>>,
    pub stop: watch::Receiver<bool>,
}

/// Raised when the orchestrator is shutting down.
struct Stopped;

impl Context {
    fn update(&self, f: impl FnOnce(&mut SinkStatus)) {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut status);
    }

    /// Sleeps, or returns early with `Stopped`.
    async fn sleep(&mut self, d: Duration) -> Result<(), Stopped> {
        if *self.stop.borrow() {
            return Err(Stopped);
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = self.stop.wait_for(|s| *s) => Err(Stopped),
        }
    }

    /// Retries `f` (a store operation) with backoff until it succeeds or we are stopped.
    async fn persist<T, F: std::future::Future<Output = Result<T>>>(
        &mut self,
        mut f: impl FnMut() -> F,
    ) -> Result<T, Stopped> {
        let mut backoff = self.batching.retry.backoff();
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    self.update(|s| s.failing(format!("store: {e:#}")));
                    self.sleep(backoff.next_delay()).await?;
                }
            }
        }
    }
}

/// A reader shared with blocking threads: SQLite calls must not run on the async executor.
#[derive(Clone)]
struct Feed(Arc<Mutex<Reader>>);

impl Feed {
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Reader) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let reader = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut reader = reader.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut reader)
        })
        .await?
    }
}

pub async fn run<S: Sink>(mut sink: S, mut ctx: Context) {
    let _ = forward(&mut sink, &mut ctx).await;
}

async fn forward<S: Sink>(sink: &mut S, ctx: &mut Context) -> Result<(), Stopped> {
    let store = ctx.store.clone();
    let feed = Feed(Arc::new(Mutex::new(
        ctx.persist(|| async { store.reader() }).await?,
    )));
    let name = ctx.name.clone();
    let mut cursor = ctx
        .persist(|| {
            let name = name.clone();
            feed.call(move |r| r.sink_cursor(&name))
        })
        .await?;
    let mut committed = ctx.store.committed();
    let mut lingered = false;
    refresh_status(ctx, &feed, cursor).await;
    let _lag = Lag(tokio::spawn(count_lag(
        ctx.status.clone(),
        feed.clone(),
        ctx.stop.clone(),
    )));
    loop {
        let size = ctx.batching.size;
        let batch = ctx
            .persist(|| feed.call(move |r| r.after(cursor, size)))
            .await?;
        if batch.is_empty() {
            refresh_status(ctx, &feed, cursor).await;
            // Wait for the next commit (or poll now and then, in case a signal was missed).
            tokio::select! {
                _ = committed.changed() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = ctx.stop.wait_for(|s| *s) => return Err(Stopped),
            }
            continue;
        }
        if batch.len() < size && !lingered {
            // A partial batch: give it up to one flush interval to fill.
            lingered = true;
            ctx.sleep(ctx.batching.interval).await?;
            continue;
        }
        lingered = false;
        deliver(sink, ctx, &batch).await?;
        cursor = batch.last_seq().unwrap_or(cursor);
        let (store, name) = (ctx.store.clone(), ctx.name.clone());
        ctx.persist(|| store.set_sink_cursor(&name, cursor)).await?;
        ctx.update(|s| {
            s.cursor = cursor;
            s.points_sent += batch.len() as u64;
            s.points_behind = s.points_behind.saturating_sub(batch.len() as u64);
        });
    }
}

async fn refresh_status(ctx: &Context, feed: &Feed, cursor: u64) {
    ctx.update(|s| s.cursor = cursor);
    count_once(&ctx.status, feed, cursor).await;
}

/// Counts the points after `cursor` and sets the lag, unless the cursor moved meanwhile (the
/// runner's own update is newer then).
async fn count_once(status: &Mutex<SinkStatus>, feed: &Feed, cursor: u64) {
    let lag = feed
        .call(move |r| Ok((r.count_after(cursor)?, r.committed_at_after(cursor)?)))
        .await;
    let mut s = status.lock().unwrap_or_else(|e| e.into_inner());
    match lag {
        Ok(_) if s.cursor != cursor => {}
        Ok((behind, oldest_ms)) => {
            s.points_behind = behind;
            s.oldest_unsent_age_secs = oldest_ms
                .filter(|_| behind > 0)
                .map(|ms| (crate::store::now_ms() - ms).max(0) as f64 / 1000.0);
        }
        Err(e) => s.failing(format!("store: {e:#}")),
    }
}

/// Keeps the lag current every [`STATUS_EVERY`], from the durable cursor the runner last set,
/// independently of the sends: during an outage the backlog keeps growing and so does the lag.
async fn count_lag(status: Arc<Mutex<SinkStatus>>, feed: Feed, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(STATUS_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let cursor = status.lock().unwrap_or_else(|e| e.into_inner()).cursor;
        count_once(&status, &feed, cursor).await;
    }
}

/// The lag counter, stopped with the runner.
struct Lag(tokio::task::JoinHandle<()>);

impl Drop for Lag {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sends `batch` until it has arrived, except points the server refuses as bad data: those are
/// found by halving the refused part until single points remain, and set aside.
async fn deliver<S: Sink>(sink: &mut S, ctx: &mut Context, batch: &Batch) -> Result<(), Stopped> {
    let points = &batch.points;
    // Ranges still to send, last one first, so the batch goes out in order.
    let mut todo: Vec<Range<usize>> = Vec::new();
    todo.push(0..batch.len());
    while let Some(range) = todo.pop() {
        let mut backoff = ctx.batching.retry.backoff();
        loop {
            if *ctx.stop.borrow() {
                return Err(Stopped);
            }
            match sink.send(&points[range.clone()]).await {
                Ok(()) => {
                    ctx.update(|s| s.error = None);
                    break;
                }
                Err(SendError::Rejected(message)) if range.len() > 1 => {
                    tracing::debug!(sink = %ctx.name, "batch refused, narrowing down: {message}");
                    let mid = range.start + range.len() / 2;
                    todo.push(mid..range.end);
                    todo.push(range.start..mid);
                    break;
                }
                Err(SendError::Rejected(message)) => {
                    let seq = batch.seqs[range.start];
                    tracing::warn!(sink = %ctx.name, seq, "point set aside: {message}");
                    let mut line = Vec::new();
                    write_line_protocol(&points[range.clone()], &mut line);
                    let rejected = RejectedBatch {
                        first_seq: seq,
                        last_seq: seq,
                        points: 1,
                        at_ms: crate::store::now_ms(),
                        error: message.clone(),
                        line_protocol: String::from_utf8_lossy(&line).into_owned(),
                    };
                    let (store, name) = (ctx.store.clone(), ctx.name.clone());
                    ctx.persist(|| store.set_aside(&name, rejected.clone()))
                        .await?;
                    ctx.update(|s| {
                        s.points_rejected += 1;
                        s.noted(format!("set aside: {message}"));
                    });
                    break;
                }
                Err(SendError::Failed(message)) => {
                    tracing::warn!(sink = %ctx.name, "send failed, retrying: {message}");
                    ctx.update(|s| s.failing(message));
                    ctx.sleep(backoff.next_delay()).await?;
                }
            }
        }
    }
    Ok(())
}
