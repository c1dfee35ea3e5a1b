//! The one poll loop every polling kind runs in: the first poll at the worker's offset, then
//! whenever the kind says; `sync` and kind-specific commands between polls, answered by the
//! kind; a poll's status and errors reported the same way for every kind.
//!
//! A kind implements [`Source`] and ends its `run` with `runtime::drive(worker, source)`.

use std::time::Duration;

use anyhow::{anyhow, Result};
use jiff::Timestamp;
use serde_json::Value;
use tokio::time::{sleep_until, Instant};

use crate::link::{Command, Worker};

/// How a request is answered: now, with this message, or later by the kind itself (a long
/// backfill replies with [`crate::link::Link::reply`] when it is done).
pub enum Reply {
    Now(String),
    Later,
}

/// One kind's source, as [`drive`] runs it.
pub trait Source {
    /// Why a poll failed; the kind's [`Source::next_delay`] tells its variants apart.
    type Error: Into<anyhow::Error>;

    /// One poll: fetch, send the points (durable once sent), and say what it did in a status
    /// line (empty: no status).
    async fn poll(&mut self) -> Result<String, Self::Error>;

    /// How long after this poll the next one comes.
    fn next_delay(&mut self, outcome: &Result<String, Self::Error>) -> Duration;

    /// Logs a failed poll and gives the worker's error line, or `None` to say nothing (the
    /// same problem again).
    fn report(&mut self, error: &anyhow::Error, _next: Duration) -> Option<String> {
        tracing::error!("{error:#}");
        Some(format!("{error:#}"))
    }

    /// Fetch `[from, to)` again.
    async fn sync(&mut self, _id: u64, _from: Timestamp, _to: Timestamp) -> Result<Reply> {
        Err(anyhow!("this source has nothing to sync"))
    }

    /// A kind-specific command.
    async fn command(&mut self, name: &str, _args: Value) -> Result<Reply> {
        Err(anyhow!("this source has no command {name:?}"))
    }

    /// Whether a stop (stdin closed, `shutdown`, the orchestrator gone) runs [`Source::stop`]
    /// before the worker exits, rather than exiting at once.
    fn finishes_on_stop(&self) -> bool {
        false
    }

    /// The last work when stopped (within the link's stop deadline; the orchestrator answers
    /// nothing any more).
    async fn stop(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Polls `source` and answers the worker's commands, until the worker exits (stdin closes).
pub async fn drive(mut worker: Worker, mut source: impl Source) -> Result<()> {
    let link = worker.link.clone();
    let mut stopped = match source.finishes_on_stop() {
        true => Some(link.on_stop()?),
        false => None,
    };
    let mut next = Instant::now() + Duration::from_millis(worker.init.poll_offset_ms);
    loop {
        tokio::select! {
            _ = async {
                match stopped.as_mut() {
                    Some(rx) => { let _ = rx.await; }
                    None => std::future::pending().await,
                }
            } => return source.stop().await,
            _ = sleep_until(next) => {
                let outcome = source.poll().await;
                let delay = source.next_delay(&outcome);
                next = Instant::now() + delay;
                match outcome {
                    Ok(status) if status.is_empty() => {}
                    Ok(status) => link.status(status),
                    Err(e) => {
                        if let Some(message) = source.report(&e.into(), delay) {
                            link.error(message);
                        }
                    }
                }
            }
            Some(cmd) = worker.commands.recv() => {
                let (id, answer) = match cmd {
                    Command::Sync { id, from, to } => (id, source.sync(id, from, to).await),
                    Command::Custom { id, name, args } => (id, source.command(&name, args).await),
                };
                match answer {
                    Ok(Reply::Now(message)) => link.reply(id, true, message),
                    Ok(Reply::Later) => {}
                    Err(e) => link.reply(id, false, format!("{e:#}")),
                }
            }
        }
    }
}
