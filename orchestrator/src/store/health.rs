//! Whether the store can write now. A full disk or an I/O error is the orchestrator's problem,
//! not the workers': their batches wait (unacknowledged) and are written again once the store
//! can write, while `/health`, `/metrics` and `hemflux status` say what is wrong.

use std::sync::{Arc, Mutex};

use rusqlite::ErrorCode;
use serde::Serialize;

/// Why the store did not take a write.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The store, not the batch (a full disk): the same batch will succeed later.
    #[error("the store cannot write: {0}")]
    Unavailable(String),
    /// The batch itself (an invalid point): writing it again cannot help.
    #[error(transparent)]
    Refused(anyhow::Error),
    #[error("the store's writer stopped")]
    Stopped,
}

impl WriteError {
    /// Whether the same write is worth trying again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, WriteError::Unavailable(_))
    }
}

/// SQLite errors that come from the disk rather than the data.
pub fn is_io(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code().is_some_and(|code| {
        matches!(
            code,
            ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
                | ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::OutOfMemory
        )
    })
}

/// What `/health` and `hemflux status` show while the store cannot write.
#[derive(Debug, Clone, Serialize)]
pub struct WriteProblem {
    pub error: String,
    /// When writes began to fail (RFC 3339).
    pub since: String,
}

#[derive(Default)]
struct State {
    problem: Option<WriteProblem>,
    failures_total: u64,
}

/// Shared by the writer thread (which records) and the HTTP side (which reports).
#[derive(Clone, Default)]
pub struct Health(Arc<Mutex<State>>);

impl Health {
    pub fn failed(&self, error: &str) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.failures_total += 1;
        if s.problem.is_none() {
            tracing::error!("the store cannot write: {error}; batches wait and are retried");
            s.problem = Some(WriteProblem {
                error: error.to_string(),
                since: jiff::Timestamp::now().to_string(),
            });
        }
    }

    pub fn wrote(&self) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = s.problem.take() {
            tracing::info!("the store writes again (it could not since {})", p.since);
        }
    }

    pub fn problem(&self) -> Option<WriteProblem> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .problem
            .clone()
    }

    /// Failed write transactions since start.
    pub fn failures_total(&self) -> u64 {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .failures_total
    }
}
