//! The embedded store (SQLite, WAL): the system of record on this machine.
//!
//! One file, `<data_dir>/hemflux.db`. All writes go through one writer thread that commits
//! concurrent batches together (group commit, fsync'd); reads use their own read-only connections.

mod fields;
mod health;
mod read;
mod schema;
mod version;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use anyhow::{anyhow, Context, Result};
use hemflux_shared::Point;
use rusqlite::params;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{oneshot, watch};

pub use fields::{Fields, RawValue};
pub use health::{WriteError, WriteProblem};
pub use read::{Batch, RangeQuery, Reader, RejectedBatch, Series};
pub use schema::FILE_NAME;
use writer::{Change, Encoded, Job, Writer};

/// `[store]` in hemflux.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Keep this many days of points; default: everything.
    pub retention_days: Option<u32>,
    /// How long the writer gathers more batches after the first one before it commits them
    /// together (one fsync). Workers get their acknowledgement this much later; in return 200
    /// workers writing every second cost a fraction of the CPU and disk writes. 0 commits each
    /// batch as soon as the previous commit is done.
    pub commit_window_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            retention_days: None,
            commit_window_ms: 50,
        }
    }
}

/// A cheap-to-clone handle to the store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    data_dir: PathBuf,
    jobs: mpsc::Sender<Job>,
    committed: watch::Receiver<u64>,
    reader: Mutex<Reader>,
    health: health::Health,
}

impl Store {
    /// Opens (creates) `<data_dir>/hemflux.db` and starts its writer thread.
    pub fn open(data_dir: &Path, config: &StoreConfig) -> Result<Store> {
        let conn = schema::open_writer(data_dir)?;
        let (committed_tx, committed) = watch::channel(0);
        let health = health::Health::default();
        let writer = Writer::new(conn, config, committed_tx, health.clone())?;
        let (jobs, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(receiver))
            .context("cannot start the store's writer thread")?;
        Ok(Store {
            inner: Arc::new(Inner {
                data_dir: data_dir.to_path_buf(),
                jobs,
                committed,
                reader: Mutex::new(Reader::open(data_dir)?),
                health,
            }),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Why the store cannot write right now, if it cannot.
    pub fn write_problem(&self) -> Option<WriteProblem> {
        self.inner.health.problem()
    }

    /// Write transactions that failed on the disk since start.
    pub fn write_failures_total(&self) -> u64 {
        self.inner.health.failures_total()
    }

    /// Stores a worker's batch, and its new state if given, in one durable transaction.
    /// Resolves only once the transaction is on disk (fsync'd). A batch with an invalid point is
    /// refused whole, with an error naming the point.
    pub async fn write(
        &self,
        worker_id: &str,
        points: Vec<Point>,
        state: Option<Value>,
    ) -> Result<(), WriteError> {
        self.write_slice(worker_id, &points, state).await
    }

    /// [`Store::write`] for a caller that keeps its points (to retry them): they are encoded
    /// from the slice, never copied.
    pub async fn write_slice(
        &self,
        worker_id: &str,
        points: &[Point],
        state: Option<Value>,
    ) -> Result<(), WriteError> {
        for (i, p) in points.iter().enumerate() {
            p.validate().map_err(|e| {
                WriteError::Refused(anyhow!(
                    "point {i} of {} ({:?} at {}) is invalid: {e}",
                    points.len(),
                    p.measurement,
                    p.time
                ))
            })?;
        }
        let points = Encoded::new(points).map_err(WriteError::Refused)?;
        let (answer, result) = oneshot::channel();
        self.submit(Job::Write {
            worker_id: worker_id.to_string(),
            points,
            state,
            answer,
        })?;
        result.await.map_err(|_| WriteError::Stopped)?.map(|_| ())
    }

    /// Runs `change` in the writer's next transaction; resolves once it is durable.
    async fn change(&self, change: Change) -> Result<u64> {
        let (answer, result) = oneshot::channel();
        self.submit(Job::Change { change, answer })?;
        Ok(result.await.map_err(|_| WriteError::Stopped)??)
    }

    fn submit(&self, job: Job) -> Result<(), WriteError> {
        self.inner.jobs.send(job).map_err(|_| WriteError::Stopped)
    }

    fn with_reader<T>(&self, f: impl FnOnce(&mut Reader) -> Result<T>) -> Result<T> {
        let mut reader = self
            .inner
            .reader
            .lock()
            .map_err(|_| anyhow!("store reader poisoned"))?;
        f(&mut reader)
    }

    /// The state a worker last persisted.
    pub fn load_state(&self, worker_id: &str) -> Result<Option<Value>> {
        self.with_reader(|r| r.load_state(worker_id))
    }

    /// Points per measurement, for status pages and the demo summary.
    pub fn measurement_counts(&self) -> Result<Vec<(String, u64)>> {
        self.with_reader(|r| r.measurement_counts())
    }

    /// A new read-only connection, for a thread that reads a lot (a sink, the analytics).
    pub fn reader(&self) -> Result<Reader> {
        Reader::open(&self.inner.data_dir)
    }

    /// The seq of the last committed write; changes whenever a transaction commits.
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.inner.committed.clone()
    }

    /// Deletes every point of every series carrying tag `key=value` (offboarding); returns how many.
    pub async fn delete_by_tag(&self, key: &str, value: &str) -> Result<u64> {
        let ids: Vec<i64> = self.with_reader(|r| {
            Ok(r.all_series()?
                .into_iter()
                .filter(|s| s.tags.get(key).map(String::as_str) == Some(value))
                .map(|s| s.id)
                .collect())
        })?;
        self.change(Box::new(move |tx| {
            let mut deleted = 0;
            for id in ids {
                deleted += tx.execute("DELETE FROM points WHERE series_id = ?1", [id])? as u64;
                tx.execute("DELETE FROM series WHERE id = ?1", [id])?;
            }
            Ok(deleted)
        }))
        .await
    }

    /// Deletes every point older than `cutoff_ns` now (retention also runs by itself hourly).
    pub async fn delete_before(&self, cutoff_ns: i64) -> Result<u64> {
        self.change(Box::new(move |tx| writer::delete_before(tx, cutoff_ns)))
            .await
    }

    /// Durably records that `sink` has forwarded everything up to `seq`.
    pub async fn set_sink_cursor(&self, sink: &str, seq: u64) -> Result<()> {
        let sink = sink.to_string();
        self.change(Box::new(move |tx| {
            tx.execute(
                "INSERT INTO sink_cursors (sink, seq) VALUES (?1, ?2)
                 ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq",
                params![sink, seq as i64],
            )?;
            Ok(seq)
        }))
        .await
        .map(|_| ())
    }

    /// Keeps points `sink`'s server refused as bad data, with the server's message.
    pub async fn set_aside(&self, sink: &str, batch: RejectedBatch) -> Result<()> {
        let sink = sink.to_string();
        self.change(Box::new(move |tx| {
            tx.execute(
                "INSERT INTO rejected_batches (sink, first_seq, last_seq, points, at_ms, error, line_protocol)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    sink,
                    batch.first_seq as i64,
                    batch.last_seq as i64,
                    batch.points as i64,
                    batch.at_ms,
                    batch.error,
                    batch.line_protocol
                ],
            )?;
            Ok(0)
        }))
        .await
        .map(|_| ())
    }
}

pub(crate) fn now_ms() -> i64 {
    schema::now_ms()
}
