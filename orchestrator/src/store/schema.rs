//! The database file, its schema and how connections to it are opened.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags};

use super::fields;

pub const FILE_NAME: &str = "hemflux.db";

/// Readers wait this long for a writer's lock instead of failing at once.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

// `points` is clustered on (series_id, time): a range query over one series reads one contiguous
// stretch of the file. `seq` grows with every write (an overwrite gets a new one) so each sink
// can forward `seq > cursor` in order; its index is append-only.
// `commits` maps seq to wall-clock time, one row per transaction, for a sink's "oldest unsent age".
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    measurement TEXT NOT NULL,
    tags TEXT NOT NULL,
    UNIQUE (measurement, tags)
);
CREATE TABLE IF NOT EXISTS points (
    series_id INTEGER NOT NULL,
    time INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    fields BLOB NOT NULL,
    PRIMARY KEY (series_id, time)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS points_by_seq ON points (seq);
CREATE TABLE IF NOT EXISTS worker_state (
    worker_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS commits (
    last_seq INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sink_cursors (
    sink TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected_batches (
    id INTEGER PRIMARY KEY,
    sink TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    points INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    error TEXT NOT NULL,
    line_protocol TEXT NOT NULL
);
";

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// The writer's connection: creates the file and schema, WAL, fsync on every commit.
pub fn open_writer(data_dir: &Path) -> Result<Connection> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data folder {}", data_dir.display()))?;
    let path = db_path(data_dir);
    let conn =
        Connection::open(&path).with_context(|| format!("cannot open store {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("store {} cannot use WAL mode (got {mode})", path.display());
    }
    // FULL: a commit returns only after the WAL is fsync'd, so an acknowledged batch survives
    // power loss, not only a process crash.
    conn.execute_batch(
        "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF; PRAGMA cache_size=-65536;
         PRAGMA wal_autocheckpoint=4000;",
    )?;
    super::version::migrate(&conn, &path, SCHEMA)
        .with_context(|| format!("cannot set up the schema in {}", path.display()))?;
    register_functions(&conn)?;
    Ok(conn)
}

/// A read-only connection; works while `hemflux run` writes the same file.
pub fn open_reader(data_dir: &Path) -> Result<Connection> {
    let path = db_path(data_dir);
    if !path.exists() {
        bail!(
            "no store at {} (is --data the folder `hemflux run` uses?)",
            path.display()
        );
    }
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open store {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch("PRAGMA cache_size=-32768;")?;
    super::version::check(&conn, &path)?;
    Ok(conn)
}

fn register_functions(conn: &Connection) -> Result<()> {
    conn.create_scalar_function(
        "hf_merge_fields",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let old = ctx.get_raw(0).as_blob()?;
            let new = ctx.get_raw(1).as_blob()?;
            fields::merge(old, new).map_err(|e| rusqlite::Error::UserFunctionError(e.into()))
        },
    )?;
    Ok(())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
