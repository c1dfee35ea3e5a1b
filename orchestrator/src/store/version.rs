//! The store's format version: the schema's in SQLite's `user_version`, the layout of the
//! encoded fields (see `fields`) in `store_meta`. Opening migrates an older store forward in one
//! transaction and refuses a newer one, which this binary would misread.

use std::path::Path;

use anyhow::{bail, Context, Result};
use rusqlite::{Connection, OptionalExtension};

/// The schema this binary writes. 0 is a store from before versioning (same tables as 1).
pub const SCHEMA_VERSION: i64 = 1;
/// The encoding of `points.fields` this binary reads and writes.
pub const FIELDS_FORMAT: i64 = 1;

/// Brings the store at `path` to [`SCHEMA_VERSION`], creating it if empty; `schema` creates the
/// tables of version 1 (idempotent).
pub fn migrate(conn: &Connection, path: &Path, schema: &str) -> Result<()> {
    let (version, fields) = versions(conn)?;
    refuse_newer(version, fields, path)?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.unchecked_transaction()?;
    // 0 -> 1: the tables (already there in an unversioned store), and the version marks.
    tx.execute_batch(schema)?;
    tx.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
         INSERT OR REPLACE INTO store_meta (key, value) VALUES ('fields_format', {FIELDS_FORMAT});
         PRAGMA user_version = {SCHEMA_VERSION};"
    ))?;
    tx.commit()
        .with_context(|| format!("migrating {} to format {SCHEMA_VERSION}", path.display()))?;
    if version > 0 || has_points(conn)? {
        tracing::info!(
            "migrated the store {} from format {version} to {SCHEMA_VERSION}",
            path.display()
        );
    }
    Ok(())
}

/// For read-only connections: a store newer than this binary is refused.
pub fn check(conn: &Connection, path: &Path) -> Result<()> {
    let (version, fields) = versions(conn)?;
    refuse_newer(version, fields, path)
}

fn versions(conn: &Connection) -> Result<(i64, i64)> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let has_meta: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'store_meta'",
        [],
        |r| r.get(0),
    )?;
    let fields = if has_meta {
        conn.query_row(
            "SELECT value FROM store_meta WHERE key = 'fields_format'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(FIELDS_FORMAT)
    } else {
        FIELDS_FORMAT
    };
    Ok((version, fields))
}

fn has_points(conn: &Connection) -> Result<bool> {
    Ok(conn.query_row("SELECT EXISTS (SELECT 1 FROM points)", [], |r| r.get(0))?)
}

fn refuse_newer(version: i64, fields: i64, path: &Path) -> Result<()> {
    if version > SCHEMA_VERSION || fields > FIELDS_FORMAT {
        bail!(
            "the store {} has format {version} (fields {fields}), newer than this hemflux knows \
             ({SCHEMA_VERSION}, fields {FIELDS_FORMAT}): run the hemflux that wrote it, or a newer one; \
             nothing was changed",
            path.display()
        );
    }
    Ok(())
}
