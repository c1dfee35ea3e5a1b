//! The one writer thread: group commit.
//!
//! Every change to the store goes through here. The thread takes all the jobs that queued up while
//! the previous commit was being fsync'd, applies each in its own savepoint (one failing job does
//! not sink the others), commits once, and only then answers every job. So N workers writing at
//! once cost one fsync, not N.

use super::health::{is_io, Health, WriteError};
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hemflux_shared::Point;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::Value;
use tokio::sync::{oneshot, watch};

use super::{fields, schema};

/// Stop gathering more jobs into one transaction past this many points.
const MAX_GROUP_POINTS: usize = 100_000;
/// How often retention runs.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(3600);

pub type Answer = oneshot::Sender<Result<u64, WriteError>>;

/// A change run inside the writer's transaction; returns a count for the caller.
pub type Change = Box<dyn FnOnce(&Connection) -> rusqlite::Result<u64> + Send>;

/// A batch encoded on the caller's thread (series keys, field bytes), so that the one writer
/// thread only inserts, and the points are freed elsewhere.
pub struct Encoded {
    /// The batch's distinct series: measurement and canonical tags (JSON, keys sorted).
    series: Vec<(String, String)>,
    /// Per point: index into `series`, time, and where its fields end in `fields`.
    rows: Vec<(usize, i64, usize)>,
    fields: Vec<u8>,
}

impl Encoded {
    pub fn new(points: &[Point]) -> Result<Encoded> {
        let mut index: HashMap<(&str, &BTreeMap<String, String>), usize> = HashMap::new();
        let mut series = Vec::new();
        let mut rows = Vec::with_capacity(points.len());
        let mut bytes = Vec::with_capacity(points.len() * 16);
        let mut previous: Option<(&Point, usize)> = None;
        for (i, p) in points.iter().enumerate() {
            // Consecutive points of one series are the common case: skip the hash then.
            let idx = match previous {
                Some((q, idx)) if q.measurement == p.measurement && q.tags == p.tags => idx,
                _ => *index.entry((&p.measurement, &p.tags)).or_insert_with(|| {
                    let tags = serde_json::to_string(&p.tags).expect("string map to JSON");
                    series.push((p.measurement.clone(), tags));
                    series.len() - 1
                }),
            };
            previous = Some((p, idx));
            fields::encode(&p.fields, &mut bytes).with_context(|| format!("point {i}"))?;
            rows.push((idx, p.time, bytes.len()));
        }
        Ok(Encoded {
            series,
            rows,
            fields: bytes,
        })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }
}

pub enum Job {
    Write {
        worker_id: String,
        points: Encoded,
        state: Option<Value>,
        answer: Answer,
    },
    Change {
        change: Change,
        answer: Answer,
    },
}

impl Job {
    fn weight(&self) -> usize {
        match self {
            Job::Write { points, .. } => points.len().max(1),
            Job::Change { .. } => 1,
        }
    }
}

pub struct Writer {
    conn: Connection,
    /// The last seq handed out; every point written gets the next one.
    seq: u64,
    /// Series ids by measurement, then canonical tags.
    series: HashMap<String, HashMap<String, i64>>,
    retention_days: Option<u32>,
    commit_window: Duration,
    /// `PRAGMA data_version` when this writer last looked: it changes when another process
    /// (`hemflux import`, `hemflux remove`) commits to the file, and then `seq` and `series`
    /// may be stale.
    data_version: i64,
    /// Tells readers (the sinks) the last committed seq.
    committed: watch::Sender<u64>,
    health: Health,
}

impl Writer {
    pub fn new(
        conn: Connection,
        config: &super::StoreConfig,
        committed: watch::Sender<u64>,
        health: Health,
    ) -> Result<Writer> {
        let seq = last_seq(&conn)?;
        committed.send_replace(seq);
        Ok(Writer {
            data_version: data_version(&conn)?,
            conn,
            seq,
            series: HashMap::new(),
            retention_days: config.retention_days,
            commit_window: Duration::from_millis(config.commit_window_ms),
            committed,
            health,
        })
    }

    /// Runs until every sender is gone.
    pub fn run(mut self, jobs: Receiver<Job>) {
        let mut next_maintenance = Instant::now();
        loop {
            if Instant::now() >= next_maintenance {
                if let Err(e) = self.maintain() {
                    tracing::error!("store maintenance failed: {e:#}");
                }
                next_maintenance = Instant::now() + MAINTENANCE_EVERY;
            }
            let first = match jobs.recv_timeout(MAINTENANCE_EVERY) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let gather_until = Instant::now() + self.commit_window;
            let mut group = vec![first];
            let mut weight = group[0].weight();
            while weight < MAX_GROUP_POINTS {
                match jobs.recv_timeout(gather_until.saturating_duration_since(Instant::now())) {
                    Ok(job) => {
                        weight += job.weight();
                        group.push(job);
                    }
                    Err(_) => break,
                }
            }
            self.commit_group(group);
        }
        // Leave a compact file behind: fold the WAL into the database.
        let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
    }

    fn commit_group(&mut self, group: Vec<Job>) {
        let seq_before = self.seq;
        let mut outcomes = Vec::with_capacity(group.len());
        let result = (|| -> Result<()> {
            let mut tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // Holding the write lock now: another process's commits are all visible.
            let version = data_version(&tx)?;
            if version != self.data_version {
                self.data_version = version;
                self.series.clear();
                self.seq = self.seq.max(last_seq(&tx)?);
            }
            for job in group {
                let (outcome, answer) = {
                    let mut sp = tx.savepoint()?;
                    let (outcome, answer) = match job {
                        Job::Write {
                            worker_id,
                            points,
                            state,
                            answer,
                        } => (
                            write_points(
                                &sp,
                                &mut self.seq,
                                &mut self.series,
                                &worker_id,
                                &points,
                                state.as_ref(),
                            ),
                            answer,
                        ),
                        Job::Change { change, answer } => (change(&sp), answer),
                    };
                    match &outcome {
                        Ok(_) => sp.commit()?,
                        Err(_) => {
                            sp.rollback()?;
                            // An id cached during the rolled-back job may not exist: forget them all.
                            self.series.clear();
                        }
                    }
                    (outcome, answer)
                };
                outcomes.push((outcome, answer));
            }
            if self.seq > seq_before {
                tx.execute(
                    "INSERT OR REPLACE INTO commits (last_seq, at_ms) VALUES (?1, ?2)",
                    params![self.seq as i64, schema::now_ms()],
                )?;
            }
            tx.commit()?;
            Ok(())
        })();
        match result {
            Ok(()) => {
                self.committed.send_replace(self.seq);
                self.health.wrote();
                for (outcome, answer) in outcomes {
                    // A job that failed on the disk, not on its data, is worth retrying.
                    let outcome = outcome.map_err(|e| {
                        if is_io(&e) {
                            self.health.failed(&e.to_string());
                            WriteError::Unavailable(e.to_string())
                        } else {
                            WriteError::Refused(e.into())
                        }
                    });
                    let _ = answer.send(outcome);
                }
            }
            Err(e) => {
                self.series.clear();
                self.seq = seq_before;
                let message = format!("store transaction failed: {e:#}");
                self.health.failed(&message);
                for (_, answer) in outcomes {
                    let _ = answer.send(Err(WriteError::Unavailable(message.clone())));
                }
            }
        }
    }

    /// Retention, and thinning of the `commits` table.
    fn maintain(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        thin_commits(&tx, schema::now_ms())?;
        if let Some(days) = self.retention_days {
            let cutoff =
                (schema::now_ms() - i64::from(days) * 86_400_000).saturating_mul(1_000_000);
            let deleted = delete_before(&tx, cutoff)?;
            if deleted > 0 {
                tracing::info!("retention: deleted {deleted} points older than {days} days");
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// The last seq handed out by any writer of the file.
fn last_seq(conn: &Connection) -> Result<u64> {
    let seq: i64 = conn.query_row(
        "SELECT max(coalesce((SELECT max(seq) FROM points), 0),
                    coalesce((SELECT max(last_seq) FROM commits), 0))",
        [],
        |r| r.get(0),
    )?;
    Ok(seq as u64)
}

fn data_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
}

/// Keeps every `commits` row of the last day and one per hour before (the hour's last), so the
/// table stays small and a sink's "oldest unsent age" is exact for a day, then to the hour.
pub fn thin_commits(tx: &Connection, now_ms: i64) -> Result<u64> {
    Ok(tx.execute(
        "DELETE FROM commits WHERE at_ms < ?1 AND last_seq NOT IN
           (SELECT max(last_seq) FROM commits WHERE at_ms < ?1 GROUP BY at_ms / 3600000)",
        [now_ms - 86_400_000],
    )? as u64)
}

/// Deletes every point before `cutoff_ns`, series by series so each delete uses the primary key.
pub fn delete_before(tx: &Connection, cutoff_ns: i64) -> rusqlite::Result<u64> {
    let ids: Vec<i64> = tx
        .prepare("SELECT id FROM series")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut delete = tx.prepare("DELETE FROM points WHERE series_id = ?1 AND time < ?2")?;
    let mut deleted = 0;
    for id in ids {
        deleted += delete.execute(params![id, cutoff_ns])? as u64;
    }
    Ok(deleted)
}

fn write_points(
    tx: &Connection,
    seq: &mut u64,
    cache: &mut HashMap<String, HashMap<String, i64>>,
    worker_id: &str,
    batch: &Encoded,
    state: Option<&Value>,
) -> rusqlite::Result<u64> {
    let ids = batch
        .series
        .iter()
        .map(|(measurement, tags)| series_id(tx, cache, measurement, tags))
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO points (series_id, time, seq, fields) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (series_id, time) DO UPDATE
         SET seq = excluded.seq, fields = hf_merge_fields(points.fields, excluded.fields)",
    )?;
    let mut start = 0;
    for &(series, time, end) in &batch.rows {
        *seq += 1;
        insert.execute(params![
            ids[series],
            time,
            *seq as i64,
            &batch.fields[start..end]
        ])?;
        start = end;
    }
    if let Some(state) = state {
        tx.prepare_cached(
            "INSERT INTO worker_state (worker_id, state, updated_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (worker_id) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms",
        )?
        .execute(params![worker_id, state.to_string(), schema::now_ms()])?;
    }
    Ok(batch.len() as u64)
}

fn series_id(
    tx: &Connection,
    cache: &mut HashMap<String, HashMap<String, i64>>,
    measurement: &str,
    tags: &str,
) -> rusqlite::Result<i64> {
    if let Some(id) = cache.get(measurement).and_then(|m| m.get(tags)) {
        return Ok(*id);
    }
    let existing: Option<i64> = tx
        .prepare_cached("SELECT id FROM series WHERE measurement = ?1 AND tags = ?2")?
        .query_row(params![measurement, tags], |r| r.get(0))
        .optional()?;
    let id = match existing {
        Some(id) => id,
        None => {
            tx.prepare_cached("INSERT INTO series (measurement, tags) VALUES (?1, ?2)")?
                .execute(params![measurement, tags])?;
            tx.last_insert_rowid()
        }
    };
    cache
        .entry(measurement.to_string())
        .or_default()
        .insert(tags.to_string(), id);
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_older_than_a_day_are_thinned_to_one_per_hour() {
        let dir = tempfile::tempdir().unwrap();
        let conn = schema::open_writer(dir.path()).unwrap();
        let now = 1_000 * 86_400_000;
        let hour = 3_600_000;
        // Every 10 minutes for 3 days.
        for i in 0..(3 * 24 * 6) {
            conn.execute(
                "INSERT INTO commits (last_seq, at_ms) VALUES (?1, ?2)",
                params![i + 1, now - 3 * 24 * hour + i * 600_000],
            )
            .unwrap();
        }
        thin_commits(&conn, now).unwrap();
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        let cutoff = now - 24 * hour;
        assert_eq!(
            count(&format!(
                "SELECT count(*) FROM commits WHERE at_ms >= {cutoff}"
            )),
            144
        );
        assert_eq!(
            count(&format!(
                "SELECT count(*) FROM commits WHERE at_ms < {cutoff}"
            )),
            48
        );
        // The row kept for an hour is its last: the oldest age is never over-stated.
        assert_eq!(count("SELECT min(last_seq) FROM commits"), 6);
    }
}
