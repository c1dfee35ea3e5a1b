//! The worker's side of the protocol: reads `init` and commands from stdin, writes messages to
//! stdout, sends heartbeats, and exits when stdin reaches EOF (the orchestrator is gone).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use hemflux_shared::lines::{read_bounded_line, Line};
use hemflux_shared::protocol::{FromWorker, Init, ToWorker, MAX_LINE_BYTES, PROTOCOL_VERSION};
use hemflux_shared::read::{PageCursor, ReadQuery};
use hemflux_shared::Point;
use jiff::Timestamp;
use serde_json::Value;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

/// A request from the orchestrator that the kind's loop handles.
#[derive(Debug)]
pub enum Command {
    /// Fetch this range again; answer with [`Link::reply`].
    Sync {
        id: u64,
        from: Timestamp,
        to: Timestamp,
    },
    /// A kind-specific command; answer with [`Link::reply`].
    Custom { id: u64, name: String, args: Value },
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<(), String>>>>>;
/// One page of a `query`'s answer: points and the next page's cursor, or the refusal.
type Page = Result<(Vec<Point>, Option<PageCursor>), String>;
type Queries = Arc<Mutex<HashMap<u64, oneshot::Sender<Page>>>>;

/// The handle a worker kind uses to talk to the orchestrator. Cheap to share.
pub struct Link {
    out: mpsc::UnboundedSender<String>,
    pending: Pending,
    queries: Queries,
    next_seq: AtomicU64,
    silent: Arc<AtomicBool>,
}

/// A started worker: its init, its link, and the commands addressed to it.
pub struct Worker {
    pub init: Init,
    pub link: Arc<Link>,
    pub commands: mpsc::Receiver<Command>,
}

/// Reads `init` from stdin, starts the reader, writer and heartbeat tasks, and sends `ready`.
pub async fn start() -> Result<Worker> {
    let mut stdin = BufReader::with_capacity(64 * 1024, tokio::io::stdin());
    let mut first = Vec::new();
    match read_bounded_line(&mut stdin, &mut first, MAX_LINE_BYTES)
        .await
        .context("reading init from stdin")?
    {
        Line::Complete => {}
        Line::TooLong(n) => bail!("the first line has {n} bytes, more than an init may"),
        Line::Eof => bail!("stdin closed before init"),
    }
    // The version first: a peer of another version may shape the rest differently.
    #[derive(serde::Deserialize)]
    struct Versioned {
        version: u32,
    }
    if let Ok(Versioned { version }) = serde_json::from_slice(&first) {
        if version != PROTOCOL_VERSION {
            bail!("protocol version {version} is not {PROTOCOL_VERSION}");
        }
    }
    let init = match serde_json::from_slice::<ToWorker>(&first).context("parsing init")? {
        ToWorker::Init(init) => *init,
        other => bail!("expected init as the first message, got {other:?}"),
    };

    let (out, out_rx) = mpsc::unbounded_channel();
    tokio::spawn(write_stdout(out_rx));
    let pending: Pending = Arc::default();
    let queries: Queries = Arc::default();
    let (cmd_tx, commands) = mpsc::channel(16);
    tokio::spawn(read_stdin(stdin, pending.clone(), queries.clone(), cmd_tx));

    let link = Arc::new(Link {
        out,
        pending,
        queries,
        next_seq: AtomicU64::new(1),
        silent: Arc::default(),
    });
    let heartbeat = Duration::from_millis(init.heartbeat_ms.max(10));
    let hb = link.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(heartbeat);
        loop {
            tick.tick().await;
            hb.send(&FromWorker::Heartbeat);
        }
    });
    link.send(&FromWorker::Ready {
        version: PROTOCOL_VERSION,
    });
    Ok(Worker {
        init,
        link,
        commands,
    })
}

async fn write_stdout(mut rx: mpsc::UnboundedReceiver<String>) {
    let mut stdout = tokio::io::stdout();
    while let Some(line) = rx.recv().await {
        if stdout.write_all(line.as_bytes()).await.is_err() || stdout.flush().await.is_err() {
            // The orchestrator is gone: nothing left to work for.
            std::process::exit(0);
        }
    }
}

async fn read_stdin(
    mut stdin: BufReader<tokio::io::Stdin>,
    pending: Pending,
    queries: Queries,
    commands: mpsc::Sender<Command>,
) {
    let mut line = Vec::new();
    loop {
        match read_bounded_line(&mut stdin, &mut line, MAX_LINE_BYTES).await {
            Ok(Line::Eof) | Err(_) => {
                tracing::info!("stdin closed: exiting");
                std::process::exit(0);
            }
            Ok(Line::TooLong(n)) => {
                tracing::warn!(
                    bytes = n,
                    "skipping an over-long line from the orchestrator"
                );
                continue;
            }
            Ok(Line::Complete) => {}
        }
        let msg = match serde_json::from_slice::<ToWorker>(&line) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("skipping a line from the orchestrator that is not a message: {e}");
                continue;
            }
        };
        match msg {
            ToWorker::Ack { seq } => resolve(&pending, seq, Ok(())),
            ToWorker::Nack { seq, error } => resolve(&pending, seq, Err(error)),
            ToWorker::Sync { id, from, to } => {
                let range = (from.parse::<Timestamp>(), to.parse::<Timestamp>());
                if let (Ok(from), Ok(to)) = range {
                    let _ = commands.send(Command::Sync { id, from, to }).await;
                } else {
                    tracing::warn!(%from, %to, "sync with a range that is not RFC 3339: ignored");
                }
            }
            ToWorker::Command { id, name, args } => {
                let _ = commands.send(Command::Custom { id, name, args }).await;
            }
            ToWorker::Shutdown => {
                tracing::info!("shutdown requested: exiting");
                std::process::exit(0);
            }
            ToWorker::Init(_) => tracing::warn!("a second init is ignored"),
            ToWorker::QueryResult {
                id,
                points,
                next,
                error,
            } => {
                let tx = queries.lock().expect("queries lock").remove(&id);
                if let Some(tx) = tx {
                    let _ = tx.send(error.map_or(Ok((points, next)), Err));
                }
            }
        }
    }
}

fn resolve(pending: &Pending, seq: u64, result: Result<(), String>) {
    if let Some(tx) = pending.lock().expect("pending lock").remove(&seq) {
        let _ = tx.send(result);
    }
}

impl Link {
    fn send(&self, msg: &FromWorker) {
        if !self.silent.load(Ordering::Relaxed) {
            let _ = self.out.send(msg.to_line());
        }
    }

    /// Sends raw text as a line, bypassing the protocol (fault injection only).
    pub fn send_raw(&self, line: String) {
        let _ = self.out.send(line);
    }

    /// Stops all output, heartbeats included, as a hung worker would (fault injection only).
    pub fn go_silent(&self) {
        self.silent.store(true, Ordering::Relaxed);
    }

    /// Delivers a batch and returns once the orchestrator has made it durable. `state`, if given,
    /// is stored in the same transaction: the checkpoint moves exactly with the data.
    pub async fn send_points(&self, points: Vec<Point>, state: Option<Value>) -> Result<()> {
        self.round_trip(|seq| FromWorker::Points { seq, points, state })
            .await
    }

    /// Persists state (a rotated token, a cursor) and returns once it is durable.
    pub async fn save_state(&self, state: Value) -> Result<()> {
        self.round_trip(|seq| FromWorker::State { seq, state })
            .await
    }

    async fn round_trip(&self, msg: impl FnOnce(u64) -> FromWorker) -> Result<()> {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending lock").insert(seq, tx);
        self.send(&msg(seq));
        rx.await
            .map_err(|_| anyhow!("the orchestrator went away before acknowledging"))?
            .map_err(|e| anyhow!("the orchestrator refused the batch: {e}"))
    }

    /// Reads every point of `query` from the store through the orchestrator, page by page
    /// (see `hemflux_shared::read`); an error if it is outside what this worker may read.
    pub async fn query(&self, query: ReadQuery) -> Result<Vec<Point>> {
        let mut all = Vec::new();
        self.query_pages(query, |page| all.extend(page)).await?;
        Ok(all)
    }

    /// Like [`Link::query`], handing over each page as it arrives (a long history is never
    /// held twice).
    pub async fn query_pages(
        &self,
        mut query: ReadQuery,
        mut each: impl FnMut(Vec<Point>),
    ) -> Result<()> {
        loop {
            let (points, next) = self.query_page(&query).await?;
            each(points);
            match next {
                Some(cursor) => query.after = Some(cursor),
                None => return Ok(()),
            }
        }
    }

    /// One page of `query`, and where the next starts (`None`: this was the last).
    pub async fn query_page(&self, query: &ReadQuery) -> Result<(Vec<Point>, Option<PageCursor>)> {
        let id = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.queries.lock().expect("queries lock").insert(id, tx);
        self.send(&FromWorker::Query {
            id,
            query: query.clone(),
        });
        rx.await
            .map_err(|_| anyhow!("the orchestrator went away before answering a query"))?
            .map_err(|e| anyhow!("query of {} refused: {e}", query.measurement))
    }

    pub fn status(&self, message: impl Into<String>) {
        self.send(&FromWorker::Status {
            message: message.into(),
        });
    }

    pub fn error(&self, message: impl Into<String>) {
        self.send(&FromWorker::Error {
            message: message.into(),
        });
    }

    pub fn reply(&self, id: u64, ok: bool, message: impl Into<String>) {
        self.send(&FromWorker::Reply {
            id,
            ok,
            message: message.into(),
        });
    }
}
