//! The pipes of one running worker: its stdin writer, its stdout protocol reader (points go to
//! the store and are acknowledged once durable), and its stderr, logged line by line.

use hemflux_shared::lines::{read_bounded_line, Line};
use hemflux_shared::protocol::{FromWorker, ToWorker, MAX_LINE_BYTES};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

use super::process::Spawned;
use super::reads::Reads;
use crate::store::Store;

/// What the supervisor hears from a worker's stdout (besides points, which go to the store here).
#[derive(Debug)]
pub enum Heard {
    Message(FromWorker),
    /// A batch is durable: how many points, and the newest point time (ns).
    Stored {
        points: usize,
        newest: Option<i64>,
    },
    /// A batch or state could not be stored.
    StoreFailed(String),
    /// A line that is not a protocol message, or too long.
    BadLine(String),
}

/// The orchestrator's end of a worker's stdin. Dropping `close` (or calling [`Stdin::close`])
/// closes the pipe even while acknowledgements are in flight: that is the worker's signal to exit.
pub struct Stdin {
    lines: mpsc::UnboundedSender<String>,
    close: Option<oneshot::Sender<()>>,
}

/// A send-only handle on a worker's stdin, for answers that arrive after the supervisor's turn.
#[derive(Clone)]
pub struct Lines(mpsc::UnboundedSender<String>);

impl Lines {
    pub fn send(&self, msg: &ToWorker) {
        let _ = self.0.send(msg.to_line());
    }
}

impl Stdin {
    pub fn send(&self, msg: &ToWorker) {
        let _ = self.lines.send(msg.to_line());
    }

    pub fn lines(&self) -> Lines {
        Lines(self.lines.clone())
    }

    pub fn close(&mut self) {
        self.close.take();
    }
}

/// Wires up a freshly spawned worker. Everything it says arrives on `heard` tagged with its pid.
pub fn attach(
    spawned: Spawned,
    worker_id: String,
    kind: &'static str,
    store: Store,
    reads: Reads,
    heard: mpsc::UnboundedSender<(i32, Heard)>,
) -> Stdin {
    let pid = spawned.pid;
    let (lines_tx, lines_rx) = mpsc::unbounded_channel();
    let (close_tx, close_rx) = oneshot::channel();
    tokio::spawn(write_stdin(spawned.stdin, lines_rx, close_rx));
    tokio::spawn(log_stderr(spawned.stderr, worker_id.clone(), kind));
    let route = Route {
        pid,
        worker_id,
        store,
        reads: std::sync::Arc::new(reads),
        stdin: lines_tx.clone(),
        heard,
    };
    tokio::spawn(read_stdout(spawned.stdout, route));
    Stdin {
        lines: lines_tx,
        close: Some(close_tx),
    }
}

async fn write_stdin(
    mut stdin: tokio::process::ChildStdin,
    mut lines: mpsc::UnboundedReceiver<String>,
    mut close: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            biased;
            _ = &mut close => return,
            line = lines.recv() => {
                let Some(line) = line else { return };
                if stdin.write_all(line.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A batch the store could not write is tried again after this, doubling up to `RETRY_MAX`.
const RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(200);
const RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(2);

/// Where a worker's batches go and where the answers go back: shared by its reader's store tasks.
#[derive(Clone)]
struct Route {
    pid: i32,
    worker_id: String,
    store: Store,
    reads: std::sync::Arc<Reads>,
    stdin: mpsc::UnboundedSender<String>,
    heard: mpsc::UnboundedSender<(i32, Heard)>,
}

async fn read_stdout(stdout: tokio::process::ChildStdout, route: Route) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        match read_bounded_line(&mut reader, &mut line, MAX_LINE_BYTES).await {
            Ok(Line::Eof) | Err(_) => return,
            Ok(Line::TooLong(n)) => {
                route.tell(Heard::BadLine(format!(
                    "a line of {n} bytes or more (limit {MAX_LINE_BYTES})"
                )));
                continue;
            }
            Ok(Line::Complete) => {}
        }
        let msg = match FromWorker::from_slice(&line) {
            Ok(m) => m,
            Err(e) => {
                let shown = String::from_utf8_lossy(&line[..line.len().min(120)]).into_owned();
                route.tell(Heard::BadLine(format!("{e}: {shown:?}")));
                continue;
            }
        };
        match msg {
            FromWorker::Points { seq, points, state } => route.store_then_ack(seq, points, state),
            FromWorker::State { seq, state } => route.store_then_ack(seq, Vec::new(), Some(state)),
            FromWorker::Query { id, query } => route.answer_query(id, query),
            other => route.tell(Heard::Message(other)),
        }
    }
}

impl Route {
    fn tell(&self, heard: Heard) {
        let _ = self.heard.send((self.pid, heard));
    }

    /// Reads in the background (heartbeats keep flowing) and sends the page back.
    fn answer_query(&self, id: u64, query: hemflux_shared::read::ReadQuery) {
        let route = self.clone();
        tokio::spawn(async move {
            let answer = route.reads.answer(id, query).await;
            let _ = route.stdin.send(answer.to_line());
        });
    }

    /// Stores in the background (so heartbeats keep flowing meanwhile) and answers `ack` or `nack`.
    fn store_then_ack(
        &self,
        seq: u64,
        points: Vec<hemflux_shared::Point>,
        state: Option<serde_json::Value>,
    ) {
        let route = self.clone();
        tokio::spawn(async move {
            let done = Heard::Stored {
                points: points.len(),
                newest: points.iter().map(|p| p.time).max(),
            };
            // While the store cannot write (a full disk), the batch waits unacknowledged and is
            // written again: the worker keeps running and loses nothing.
            let mut retry = RETRY_FIRST;
            let written = loop {
                match route
                    .store
                    .write_slice(&route.worker_id, &points, state.clone())
                    .await
                {
                    Err(e) if e.is_retryable() && !route.stdin.is_closed() => {
                        tokio::time::sleep(retry).await;
                        retry = (retry * 2).min(RETRY_MAX);
                    }
                    other => break other,
                }
            };
            match written {
                Ok(()) => {
                    let _ = route.stdin.send(ToWorker::Ack { seq }.to_line());
                    route.tell(done);
                }
                Err(e) => {
                    let error = format!("{e:#}");
                    let _ = route.stdin.send(
                        ToWorker::Nack {
                            seq,
                            error: error.clone(),
                        }
                        .to_line(),
                    );
                    route.tell(Heard::StoreFailed(error));
                }
            }
        });
    }
}

async fn log_stderr(stderr: tokio::process::ChildStderr, worker: String, kind: &'static str) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        match read_bounded_line(&mut reader, &mut line, 64 * 1024).await {
            Ok(Line::Eof) | Err(_) => return,
            Ok(Line::TooLong(n)) => {
                tracing::warn!(worker = %worker, kind, "skipped a log line of {n} bytes or more");
            }
            Ok(Line::Complete) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim();
                // The worker's own level prefix (" INFO", "ERROR", ...) decides ours.
                let (level, msg) = text.split_once(' ').unwrap_or(("", text));
                match level.trim() {
                    "ERROR" => tracing::error!(worker = %worker, kind, "{msg}"),
                    "WARN" => tracing::warn!(worker = %worker, kind, "{msg}"),
                    "DEBUG" | "TRACE" => tracing::debug!(worker = %worker, kind, "{msg}"),
                    "INFO" => tracing::info!(worker = %worker, kind, "{msg}"),
                    _ => tracing::info!(worker = %worker, kind, "{text}"),
                }
            }
        }
    }
}
