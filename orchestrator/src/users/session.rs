//! Sessions: a random 256-bit id in an HttpOnly, SameSite=Lax cookie; the store keeps only its
//! SHA-256, so that a copy of `users.sqlite` signs nobody in. Each session has its own CSRF
//! token. A session ends after `session_idle_minutes` without a request, or
//! `session_max_hours` after sign-in whatever the activity, or at sign-out, a password change
//! or the account's removal.

use std::collections::BTreeSet;

use anyhow::Result;
use rusqlite::{params, OptionalExtension};

use super::{now, random_hex, Role, Users};
use crate::auth::{HttpSettings, SessionUser};

pub const COOKIE: &str = "hemflux_session";

/// The session part of `[http]`.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub idle_secs: i64,
    pub max_secs: i64,
    /// Always mark the cookie `Secure` (TLS ends in front of hemflux without saying so).
    pub secure_cookies: bool,
    /// Believe `X-Forwarded-Proto` and `X-Forwarded-For` from the proxy in front.
    pub trust_forwarded: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings::from(&HttpSettings::default())
    }
}

impl From<&HttpSettings> for SessionSettings {
    fn from(h: &HttpSettings) -> Self {
        SessionSettings {
            idle_secs: i64::from(h.session_idle_minutes) * 60,
            max_secs: i64::from(h.session_max_hours) * 3600,
            secure_cookies: h.secure_cookies,
            trust_forwarded: h.trust_forwarded,
        }
    }
}

/// Whether a session created at `created` and last used at `last_seen` has ended at `now`.
pub fn expired(s: &SessionSettings, created: i64, last_seen: i64, now: i64) -> bool {
    now - last_seen >= s.idle_secs || now - created >= s.max_secs
}

/// Updating `last_seen` on every request would write per request; a minute is precise enough.
const TOUCH_EVERY_SECS: i64 = 60;

fn digest(id: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, id.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Users {
    /// Starts a session for `name`; the id for the cookie.
    pub fn create_session(&self, name: &str) -> Result<String> {
        let id = random_hex(32)?;
        let csrf = random_hex(32)?;
        let t = now();
        self.db().execute(
            "INSERT INTO sessions (id_hash, user, csrf, created, last_seen) VALUES (?1, ?2, ?3, ?4, ?4)",
            params![digest(&id), name, csrf, t],
        )?;
        Ok(id)
    }

    /// The signed-in user of a session id, if the session is live (an expired one is deleted).
    pub fn session_user(&self, id: &str) -> Result<Option<SessionUser>> {
        self.session_user_at(id, now())
    }

    pub(crate) fn session_user_at(&self, id: &str, t: i64) -> Result<Option<SessionUser>> {
        let key = digest(id);
        let db = self.db();
        let row = db
            .query_row(
                "SELECT s.user, s.csrf, s.created, s.last_seen, u.role, u.pending
                 FROM sessions s JOIN users u ON u.name = s.user WHERE s.id_hash = ?1",
                [&key],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, bool>(5)?,
                    ))
                },
            )
            .optional()?;
        let Some((name, csrf, created, last_seen, role, pending)) = row else {
            return Ok(None);
        };
        if pending || expired(self.settings(), created, last_seen, t) {
            db.execute("DELETE FROM sessions WHERE id_hash = ?1", [&key])?;
            return Ok(None);
        }
        if t - last_seen >= TOUCH_EVERY_SECS {
            db.execute(
                "UPDATE sessions SET last_seen = ?1 WHERE id_hash = ?2",
                params![t, key],
            )?;
        }
        let entities: BTreeSet<String> = db
            .prepare_cached("SELECT entity FROM assignments WHERE user = ?1")?
            .query_map([&name], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Some(SessionUser {
            name,
            role: Role::parse(&role)?,
            csrf,
            entities,
        }))
    }

    pub fn end_session(&self, id: &str) -> Result<()> {
        self.db()
            .execute("DELETE FROM sessions WHERE id_hash = ?1", [digest(id)])?;
        Ok(())
    }

    /// Ends every session of `name` (password changed, account removed or rejected).
    pub fn end_sessions_of(&self, name: &str) -> Result<()> {
        self.db()
            .execute("DELETE FROM sessions WHERE user = ?1", [name])?;
        Ok(())
    }

    /// Deletes sessions that have ended, so that the table does not grow.
    pub fn sweep_sessions(&self) -> Result<usize> {
        let s = self.settings();
        let t = now();
        Ok(self.db().execute(
            "DELETE FROM sessions WHERE ?1 - last_seen >= ?2 OR ?1 - created >= ?3",
            params![t, s.idle_secs, s.max_secs],
        )?)
    }
}

/// The `Set-Cookie` value that starts a session.
pub fn cookie(id: &str, s: &SessionSettings, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        s.max_secs,
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes it.
pub fn clearing_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SessionSettings {
        SessionSettings {
            idle_secs: 3600,
            max_secs: 8 * 3600,
            secure_cookies: false,
            trust_forwarded: false,
        }
    }

    #[test]
    fn idle_and_absolute_expiry() {
        let s = settings();
        assert!(!expired(&s, 0, 0, 3599));
        assert!(expired(&s, 0, 0, 3600), "idle an hour");
        // Active all the time, still ends 8 h after sign-in.
        assert!(!expired(&s, 0, 8 * 3600 - 10, 8 * 3600 - 1));
        assert!(expired(&s, 0, 8 * 3600 - 10, 8 * 3600));
    }

    #[test]
    fn sessions_live_and_end_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::open(dir.path(), settings()).unwrap();
        users
            .add_user("ann", "long enough pw", Role::Viewer, "")
            .unwrap();
        users.assign("ann", &["house:villa1".into()]).unwrap();
        let id = users.create_session("ann").unwrap();
        let t = now();
        let u = users.session_user_at(&id, t + 10).unwrap().unwrap();
        assert_eq!((u.name.as_str(), u.role), ("ann", Role::Viewer));
        assert_eq!(u.csrf.len(), 64);
        assert!(u.entities.contains("house:villa1"));
        // Used after 50 minutes: still live, and the idle clock restarts.
        assert!(users.session_user_at(&id, t + 3000).unwrap().is_some());
        assert!(users.session_user_at(&id, t + 6500).unwrap().is_some());
        // An hour idle: gone for good.
        assert!(users
            .session_user_at(&id, t + 6500 + 3600)
            .unwrap()
            .is_none());
        assert!(users.session_user_at(&id, t + 6500).unwrap().is_none());
        // A forged id is nobody; the stored key is not the cookie's value.
        let other = users.create_session("ann").unwrap();
        assert!(users.session_user(&format!("{other}0")).unwrap().is_none());
        let stored: String = users
            .db()
            .query_row("SELECT id_hash FROM sessions", [], |r| r.get(0))
            .unwrap();
        assert_ne!(stored, other);
        users.end_sessions_of("ann").unwrap();
        assert!(users.session_user(&other).unwrap().is_none());
    }

    #[test]
    fn cookie_attributes() {
        let c = cookie("abc", &settings(), false);
        assert_eq!(
            c,
            "hemflux_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=28800"
        );
        assert!(cookie("abc", &settings(), true).ends_with("; Secure"));
        assert!(clearing_cookie(false).contains("Max-Age=0"));
    }
}
