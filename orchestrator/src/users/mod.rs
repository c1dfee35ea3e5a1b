//! The people who use the web UI: accounts (argon2id passwords, roles, pending registrations),
//! sessions, per-user entity assignments, notification choices and the audit log, all in one
//! SQLite file `<data>/users.sqlite` (mode 0600), apart from the measurement store.
//!
//! The API token of [`crate::auth`] is not an account: it stays the CLI's way in.

pub mod accounts;
pub mod audit;
pub mod cli;
pub mod guard;
pub mod mail;
pub mod notify;
mod pages;
pub mod password;
pub mod ratelimit;
pub mod routes;
pub mod session;

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{bail, Context, Result};
use rusqlite::Connection;
use serde::Serialize;

pub use session::SessionSettings;

/// What a signed-in account may do. Pending registrations have no role and cannot sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees and changes everything, manages users, reads the audit log.
    Admin,
    /// Sees and changes the entities assigned to them.
    User,
    /// Sees the entities assigned to them; changes nothing but their own password and choices.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::User, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Result<Role> {
        match s {
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            "viewer" => Ok(Role::Viewer),
            other => bail!("unknown role {other:?}: expected admin, user or viewer"),
        }
    }
}

impl std::str::FromStr for Role {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Role> {
        Role::parse(s)
    }
}

/// The user store's file in a data folder.
pub fn db_path(data: &Path) -> PathBuf {
    data.join("users.sqlite")
}

/// A cheap-to-clone handle to the user store, with the sign-in limiter and session settings.
#[derive(Clone)]
pub struct Users {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    limiter: ratelimit::LoginLimiter,
    settings: SessionSettings,
    notifier: Mutex<Option<notify::Notifier>>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    role TEXT NOT NULL,
    pending INTEGER NOT NULL DEFAULT 0,
    email TEXT NOT NULL DEFAULT '',
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS assignments (
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    entity TEXT NOT NULL,
    PRIMARY KEY (user, entity)
);
CREATE TABLE IF NOT EXISTS notifications (
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    event TEXT NOT NULL,
    PRIMARY KEY (user, event)
);
CREATE TABLE IF NOT EXISTS login_failures (
    key TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    who TEXT NOT NULL,
    what TEXT NOT NULL,
    before TEXT,
    after TEXT
);
";

/// The schema version in `user_version`; a newer file is refused rather than misread.
const VERSION: i64 = 1;

impl Users {
    /// Opens (creates, mode 0600) `<data>/users.sqlite`.
    pub fn open(data: &Path, settings: SessionSettings) -> Result<Users> {
        let path = db_path(data);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        let conn =
            Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > VERSION {
            bail!(
                "{} has user store version {version}; this hemflux knows up to {VERSION} (a newer hemflux wrote it)",
                path.display()
            );
        }
        conn.execute_batch(SCHEMA)
            .with_context(|| format!("creating the tables in {}", path.display()))?;
        conn.pragma_update(None, "user_version", VERSION)?;
        let users = Users {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                limiter: ratelimit::LoginLimiter::default(),
                settings,
                notifier: Mutex::new(None),
            }),
        };
        users
            .load_login_failures()
            .with_context(|| format!("loading the sign-in counts from {}", path.display()))?;
        Ok(users)
    }

    /// The connection; every use is one short statement or transaction.
    fn db(&self) -> MutexGuard<'_, Connection> {
        self.inner.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn settings(&self) -> &SessionSettings {
        &self.inner.settings
    }

    fn limiter(&self) -> &ratelimit::LoginLimiter {
        &self.inner.limiter
    }

    /// Sends the e-mail notifications from now on (when `[email]` is configured).
    pub fn set_notifier(&self, notifier: notify::Notifier) {
        *self
            .inner
            .notifier
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(notifier);
    }

    pub(crate) fn notifier(&self) -> Option<notify::Notifier> {
        self.inner
            .notifier
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// `n` bytes from the kernel's CSPRNG, as hex.
pub fn random_hex(n: usize) -> Result<String> {
    let mut bytes = vec![0u8; n];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| anyhow::anyhow!("asking the kernel for random bytes: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn file_is_private_and_versioned() {
        let dir = tempfile::tempdir().unwrap();
        Users::open(dir.path(), SessionSettings::default()).unwrap();
        let meta = std::fs::metadata(db_path(dir.path())).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        let conn = Connection::open(db_path(dir.path())).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let e = Users::open(dir.path(), SessionSettings::default())
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("version 99"), "{e:#}");
    }
}
