//! The worker's side of the protocol: reads `init` and commands from stdin, writes messages to
//! stdout, sends heartbeats, and exits when stdin reaches EOF (the orchestrator is gone or stops
//! the worker), unless the kind asked to finish first ([`Link::on_stop`]).

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
type Answers = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<String, String>>>>>;

/// A kind that finishes its work when stopped gets this long; then the process exits anyway
/// (the orchestrator's SIGKILL comes after two stop graces, at most 7 s).
const STOP_DEADLINE: Duration = Duration::from_secs(6);
/// How often a worker looks whether its orchestrator is still its parent.
const PARENT_CHECK: Duration = Duration::from_millis(500);

/// What happens when the orchestrator stops the worker or goes away.
enum OnStop {
    Exit,
    Notify(oneshot::Sender<()>),
    Stopping,
}

/// The worker's end: what is waiting for the orchestrator, and what to do when it is gone.
#[derive(Clone)]
struct Shared {
    pending: Pending,
    answers: Answers,
    queries: Queries,
    changes: ChangeAnswers,
    on_stop: Arc<Mutex<OnStop>>,
}

impl Shared {
    /// Exits, or tells the kind to finish (once) and exits after [`STOP_DEADLINE`]. Nothing sent
    /// to the orchestrator is answered any more: whatever waits for an answer gets an error.
    fn stop_or_exit(&self, why: &str) {
        arm_kill_deadline();
        let notify = {
            let mut on_stop = self.on_stop.lock().expect("stop lock");
            match std::mem::replace(&mut *on_stop, OnStop::Stopping) {
                OnStop::Exit => {
                    tracing::info!("{why}: exiting");
                    exit_now();
                }
                OnStop::Notify(tx) => tx,
                OnStop::Stopping => return,
            }
        };
        std::thread::spawn(|| {
            std::thread::sleep(STOP_DEADLINE);
            tracing::warn!("still not finished {STOP_DEADLINE:?} after the stop: exiting");
            exit_now();
        });
        tracing::info!("{why}: finishing, then exiting");
        self.pending.lock().expect("pending lock").clear();
        self.answers.lock().expect("answers lock").clear();
        self.queries.lock().expect("queries lock").clear();
        self.changes.lock().expect("changes lock").clear();
        let _ = notify.send(());
    }
}

/// The kernel ends the process (SIGALRM, whose default action is to terminate) this long after
/// the first stop, if nothing of ours has: every exit of ours first writes a log line to stderr,
/// and a write to a full pipe that someone still holds open blocks, with the stderr lock held,
/// every other thread that logs, the deadline thread included.
const KILL_DEADLINE_SECS: u32 = STOP_DEADLINE.as_secs() as u32 + 2;

/// Arms [`KILL_DEADLINE_SECS`] once: a later stop must not push it back.
fn arm_kill_deadline() {
    static ARMED: std::sync::Once = std::sync::Once::new();
    // SAFETY: `alarm` only sets the process's real-time timer; no SIGALRM handler is installed
    // anywhere in the worker, so it terminates the process.
    ARMED.call_once(|| unsafe {
        libc::alarm(KILL_DEADLINE_SECS);
    });
}

/// Ends the process at once. `_exit`, not `exit`: this may run on any thread while the main
/// thread returns from `main`, and two concurrent `exit`s can deadlock in libc's exit handlers,
/// leaving the worker alive after its orchestrator. Every line sent is already written (stdout
/// is written line by line), so nothing an exit handler would flush is lost.
fn exit_now() -> ! {
    // SAFETY: `_exit` ends the process at once; it touches no state of ours.
    unsafe { libc::_exit(0) }
}

/// Stops the worker once its parent, the orchestrator, is gone, from a thread of its own: stdin's
/// EOF and the death signal are both handled on the single-threaded runtime, and a worker whose
/// runtime is stuck in a blocking call must still not outlive its orchestrator.
fn watch_parent(shared: Shared) {
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || loop {
        std::thread::sleep(PARENT_CHECK);
        if std::os::unix::process::parent_id() != parent {
            shared.stop_or_exit("the orchestrator is gone");
            return;
        }
    });
}

/// One page of a `query`'s answer: points and the next page's cursor, or the refusal.
type Page = Result<(Vec<Point>, Option<PageCursor>), String>;
type Queries = Arc<Mutex<HashMap<u64, oneshot::Sender<Page>>>>;
/// A `changes` answer: the store's write position and each query's earliest changed time.
pub type Changed = (u64, Vec<Option<i64>>);
type ChangeAnswers = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Changed, String>>>>>;

/// The handle a worker kind uses to talk to the orchestrator. Cheap to share.
pub struct Link {
    out: mpsc::UnboundedSender<String>,
    shared: Shared,
    next_seq: AtomicU64,
    next_ask: AtomicU64,
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

    let shared = Shared {
        pending: Pending::default(),
        answers: Answers::default(),
        queries: Queries::default(),
        changes: ChangeAnswers::default(),
        on_stop: Arc::new(Mutex::new(OnStop::Exit)),
    };
    let (out, out_rx) = mpsc::unbounded_channel();
    tokio::spawn(write_stdout(out_rx, shared.clone()));
    let (cmd_tx, commands) = mpsc::channel(16);
    tokio::spawn(read_stdin(stdin, shared.clone(), cmd_tx));
    watch_parent(shared.clone());

    let link = Arc::new(Link {
        out,
        shared,
        next_seq: AtomicU64::new(1),
        next_ask: AtomicU64::new(1),
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

async fn write_stdout(mut rx: mpsc::UnboundedReceiver<String>, shared: Shared) {
    let mut stdout = tokio::io::stdout();
    while let Some(line) = rx.recv().await {
        if stdout.write_all(line.as_bytes()).await.is_err() || stdout.flush().await.is_err() {
            // The orchestrator is gone: nothing left to work for.
            shared.stop_or_exit("stdout closed");
            return;
        }
    }
}

async fn read_stdin(
    mut stdin: BufReader<tokio::io::Stdin>,
    shared: Shared,
    commands: mpsc::Sender<Command>,
) {
    let mut line = Vec::new();
    loop {
        match read_bounded_line(&mut stdin, &mut line, MAX_LINE_BYTES).await {
            Ok(Line::Eof) | Err(_) => {
                shared.stop_or_exit("stdin closed");
                return;
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
            ToWorker::Ack { seq } => resolve(&shared.pending, seq, Ok(())),
            ToWorker::Nack { seq, error } => resolve(&shared.pending, seq, Err(error)),
            ToWorker::Answer { id, ok, message } => {
                let waiting = shared.answers.lock().expect("answers lock").remove(&id);
                if let Some(tx) = waiting {
                    let _ = tx.send(if ok { Ok(message) } else { Err(message) });
                }
            }
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
                shared.stop_or_exit("shutdown requested");
                return;
            }
            ToWorker::Init(_) => tracing::warn!("a second init is ignored"),
            ToWorker::QueryResult {
                id,
                points,
                next,
                error,
            } => {
                let tx = shared.queries.lock().expect("queries lock").remove(&id);
                if let Some(tx) = tx {
                    let _ = tx.send(error.map_or(Ok((points, next)), Err));
                }
            }
            ToWorker::ChangesResult {
                id,
                seq,
                earliest,
                error,
            } => {
                let tx = shared.changes.lock().expect("changes lock").remove(&id);
                if let Some(tx) = tx {
                    let _ = tx.send(error.map_or(Ok((seq, earliest)), Err));
                }
            }
        }
    }
}

fn resolve<T>(
    pending: &Mutex<HashMap<u64, oneshot::Sender<Result<T, String>>>>,
    seq: u64,
    result: Result<T, String>,
) {
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
        self.shared
            .pending
            .lock()
            .expect("pending lock")
            .insert(seq, tx);
        self.send(&msg(seq));
        rx.await
            .map_err(|_| anyhow!("the orchestrator went away before acknowledging"))?
            .map_err(|e| anyhow!("the orchestrator refused the batch: {e}"))
    }

    /// Sends command `name` to another worker through the orchestrator and returns its reply
    /// (`Err` with its message when it refuses, or when no answer comes within `timeout`).
    pub async fn ask(
        &self,
        worker: &str,
        name: &str,
        args: Value,
        timeout: Duration,
    ) -> Result<String> {
        let id = self.next_ask.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.shared
            .answers
            .lock()
            .expect("answers lock")
            .insert(id, tx);
        self.send(&FromWorker::Ask {
            id,
            worker: worker.to_string(),
            name: name.to_string(),
            args,
        });
        let answer = tokio::time::timeout(timeout, rx).await;
        self.shared
            .answers
            .lock()
            .expect("answers lock")
            .remove(&id);
        match answer {
            Err(_) => bail!("{worker} did not answer {name} within {timeout:?}"),
            Ok(Err(_)) => bail!("the orchestrator went away before {worker} answered {name}"),
            Ok(Ok(Err(message))) => bail!("{worker} refused {name}: {message}"),
            Ok(Ok(Ok(message))) => Ok(message),
        }
    }

    /// From now on, a stop (stdin closed, `shutdown`, stdout gone) does not exit at once: the
    /// returned receiver fires and the kind finishes (within [`STOP_DEADLINE`]; the orchestrator
    /// answers nothing any more). SIGTERM (after a stop, or when the orchestrator dies) is a stop.
    pub fn on_stop(&self) -> Result<oneshot::Receiver<()>> {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("handling SIGTERM")?;
        let shared = self.shared.clone();
        tokio::spawn(async move {
            // The orchestrator's SIGTERM after a stop, or the death signal when it died.
            while term.recv().await.is_some() {
                shared.stop_or_exit("SIGTERM");
            }
        });
        let (tx, rx) = oneshot::channel();
        *self.shared.on_stop.lock().expect("stop lock") = OnStop::Notify(tx);
        Ok(rx)
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
        self.shared
            .queries
            .lock()
            .expect("queries lock")
            .insert(id, tx);
        self.send(&FromWorker::Query {
            id,
            query: query.clone(),
        });
        rx.await
            .map_err(|_| anyhow!("the orchestrator went away before answering a query"))?
            .map_err(|e| anyhow!("query of {} refused: {e}", query.measurement))
    }

    /// The store's write position now and, per query, the earliest time of its points written
    /// after `written_after` (`None`: only the position); see `docs/protocol.md`.
    pub async fn changes(
        &self,
        queries: Vec<ReadQuery>,
        written_after: Option<u64>,
    ) -> Result<Changed> {
        let id = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.shared
            .changes
            .lock()
            .expect("changes lock")
            .insert(id, tx);
        self.send(&FromWorker::Changes {
            id,
            queries,
            written_after,
        });
        rx.await
            .map_err(|_| anyhow!("the orchestrator went away before answering a changes request"))?
            .map_err(|e| anyhow!("changes request refused: {e}"))
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
