//! The audit log: every change made through the web UI, the API or `hemflux user`, with who
//! made it, when, what, and the state before and after (JSON). Admins read it at `/admin/audit`.
//!
//! Handlers that change something call [`record`] with the caller's [`Principal`]:
//!
//! ```ignore
//! users::audit::record(&state.users, &principal, "restart house:villa1", None, None)?;
//! ```

use anyhow::Result;
use rusqlite::params;
use serde::Serialize;
use serde_json::Value;

use super::{now, Users};
use crate::auth::Principal;

/// One entry.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Unix seconds.
    pub at: i64,
    pub who: String,
    pub what: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Records a change made by `who`.
pub fn record(
    users: &Users,
    who: &Principal,
    what: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<()> {
    record_as(users, who.name(), what, before, after)
}

/// As [`record`], for a change with no principal: a registration, the `hemflux user` command.
pub fn record_as(
    users: &Users,
    who: &str,
    what: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<()> {
    let text = |v: Option<Value>| v.map(|v| v.to_string());
    users.db().execute(
        "INSERT INTO audit (at, who, what, before, after) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now(), who, what, text(before), text(after)],
    )?;
    tracing::info!(who, what, "audit");
    Ok(())
}

/// The newest `limit` entries, newest first.
pub fn recent(users: &Users, limit: usize) -> Result<Vec<Entry>> {
    let db = users.db();
    let mut stmt =
        db.prepare("SELECT at, who, what, before, after FROM audit ORDER BY id DESC LIMIT ?1")?;
    let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
    let rows = stmt.query_map([limit as i64], |r| {
        Ok(Entry {
            at: r.get(0)?,
            who: r.get(1)?,
            what: r.get(2)?,
            before: json(r.get(3)?),
            after: json(r.get(4)?),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::SessionSettings;

    #[test]
    fn entries_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::open(dir.path(), SessionSettings::default()).unwrap();
        record(&users, &Principal::ApiToken, "restart house:a", None, None).unwrap();
        record_as(
            &users,
            "cli",
            "role bob",
            Some(serde_json::json!({"role": "viewer"})),
            Some(serde_json::json!({"role": "user"})),
        )
        .unwrap();
        let log = recent(&users, 10).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(
            (log[0].who.as_str(), log[0].what.as_str()),
            ("cli", "role bob")
        );
        assert_eq!(log[0].after.as_ref().unwrap()["role"], "user");
        assert_eq!(log[1].who, "api-token");
        assert!(log[1].before.is_none());
    }
}
