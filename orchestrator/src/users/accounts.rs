//! Accounts: create, register (pending), approve, role, assignments, password, e-mail,
//! notification choices, remove. Callers record what they change in the audit log.

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{notify::Event, now, password, Role, Users};

/// One account as the admin page and `hemflux user list` show it.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub name: String,
    pub role: Role,
    /// Registered, waiting for an admin; cannot sign in.
    pub pending: bool,
    pub email: String,
    pub entities: Vec<String>,
    pub notify: Vec<Event>,
    /// Unix seconds.
    pub created: i64,
}

/// What a sign-in attempt found.
#[derive(Debug, PartialEq, Eq)]
pub enum Login {
    Ok(Role),
    /// The password is right but an admin has not approved the account yet.
    Pending,
    /// Unknown name or wrong password (not told apart).
    Refused,
}

/// User names: 1 to 64 letters, digits, `.`, `_`, `-`, `@`.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !ok {
        bail!("user name {name:?}: use 1 to 64 letters, digits, '.', '_', '-' or '@'");
    }
    Ok(())
}

/// An e-mail address: empty (none), or something with one `@` and no spaces or line breaks.
pub fn check_email(email: &str) -> Result<()> {
    let ok = email.is_empty()
        || (email.len() <= 254
            && email.matches('@').count() == 1
            && !email.starts_with('@')
            && !email.ends_with('@')
            && !email.chars().any(|c| c.is_whitespace() || c.is_control()));
    if !ok {
        bail!("e-mail address {email:?} is not valid");
    }
    Ok(())
}

impl Users {
    /// An active account (admins and the CLI create these).
    pub fn add_user(&self, name: &str, pw: &str, role: Role, email: &str) -> Result<()> {
        self.insert(name, pw, role, email, false)
    }

    /// A self-service registration: it waits as pending until an admin approves it.
    pub fn register(&self, name: &str, pw: &str, email: &str) -> Result<()> {
        self.insert(name, pw, Role::Viewer, email, true)
    }

    fn insert(&self, name: &str, pw: &str, role: Role, email: &str, pending: bool) -> Result<()> {
        check_name(name)?;
        check_email(email)?;
        password::check_strength(pw)?;
        let hash = password::hash(pw)?;
        let inserted = self.db().execute(
            "INSERT OR IGNORE INTO users (name, hash, role, pending, email, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![name, hash, role.as_str(), pending, email, now()],
        )?;
        if inserted == 0 {
            bail!("a user named {name:?} already exists");
        }
        Ok(())
    }

    /// Checks a sign-in (always spending one hash verification, known name or not).
    pub fn check_login(&self, name: &str, pw: &str) -> Result<Login> {
        let row: Option<(String, String, bool)> = self
            .db()
            .query_row(
                "SELECT hash, role, pending FROM users WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((hash, role, pending)) = row else {
            password::verify_nobody(pw);
            return Ok(Login::Refused);
        };
        Ok(match (password::verify(pw, &hash), pending) {
            (false, _) => Login::Refused,
            (true, true) => Login::Pending,
            (true, false) => Login::Ok(Role::parse(&role)?),
        })
    }

    pub fn account(&self, name: &str) -> Result<Option<Account>> {
        Ok(self.accounts()?.into_iter().find(|a| a.name == name))
    }

    /// Every account, by name.
    pub fn accounts(&self) -> Result<Vec<Account>> {
        let db = self.db();
        let mut accounts: Vec<Account> = db
            .prepare("SELECT name, role, pending, email, created FROM users ORDER BY name")?
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            })?
            .map(|row| {
                let (name, role, pending, email, created) = row?;
                Ok(Account {
                    name,
                    role: Role::parse(&role)?,
                    pending,
                    email,
                    entities: Vec::new(),
                    notify: Vec::new(),
                    created,
                })
            })
            .collect::<Result<_>>()?;
        for a in &mut accounts {
            a.entities = db
                .prepare_cached("SELECT entity FROM assignments WHERE user = ?1 ORDER BY entity")?
                .query_map([&a.name], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            a.notify = db
                .prepare_cached("SELECT event FROM notifications WHERE user = ?1")?
                .query_map([&a.name], |r| r.get::<_, String>(0))?
                .filter_map(|e| e.ok().and_then(|e| Event::parse(&e)))
                .collect();
        }
        Ok(accounts)
    }

    /// Whether any account exists (then the API's reads need a principal).
    pub fn any_accounts(&self) -> Result<bool> {
        Ok(self
            .db()
            .query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))?)
    }

    fn must_exist(&self, name: &str) -> Result<Account> {
        self.account(name)?
            .with_context(|| format!("no user named {name:?} (`hemflux user list` shows them)"))
    }

    pub fn remove(&self, name: &str) -> Result<Account> {
        let before = self.must_exist(name)?;
        if before.role == Role::Admin && !before.pending && self.active_admins()? <= 1 {
            bail!("{name:?} is the last admin: make another admin first");
        }
        self.db()
            .execute("DELETE FROM users WHERE name = ?1", [name])?;
        Ok(before)
    }

    /// Approves a pending registration with `role`.
    pub fn approve(&self, name: &str, role: Role) -> Result<Account> {
        let before = self.must_exist(name)?;
        if !before.pending {
            bail!("{name:?} is not waiting for approval");
        }
        self.db().execute(
            "UPDATE users SET pending = 0, role = ?2 WHERE name = ?1",
            params![name, role.as_str()],
        )?;
        Ok(before)
    }

    pub fn set_role(&self, name: &str, role: Role) -> Result<Account> {
        let before = self.must_exist(name)?;
        if before.role == Role::Admin && role != Role::Admin && self.active_admins()? <= 1 {
            bail!("{name:?} is the last admin: make another admin first");
        }
        self.db().execute(
            "UPDATE users SET role = ?2 WHERE name = ?1",
            params![name, role.as_str()],
        )?;
        Ok(before)
    }

    fn active_admins(&self) -> Result<i64> {
        Ok(self.db().query_row(
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND pending = 0",
            [],
            |r| r.get(0),
        )?)
    }

    /// Replaces the entities assigned to `name`.
    pub fn assign(&self, name: &str, entities: &[String]) -> Result<Account> {
        let before = self.must_exist(name)?;
        for e in entities {
            if e.is_empty() || e.len() > 200 || e.chars().any(|c| c.is_whitespace() || c == ',') {
                bail!("entity id {e:?}: expected an id such as house:villa1 or building:b1");
            }
        }
        let mut db = self.db();
        let tx = db.transaction()?;
        tx.execute("DELETE FROM assignments WHERE user = ?1", [name])?;
        for e in entities.iter().collect::<BTreeSet<_>>() {
            tx.execute(
                "INSERT INTO assignments (user, entity) VALUES (?1, ?2)",
                params![name, e],
            )?;
        }
        tx.commit()?;
        Ok(before)
    }

    /// Sets a new password and ends the account's sessions.
    pub fn set_password(&self, name: &str, pw: &str) -> Result<()> {
        self.must_exist(name)?;
        password::check_strength(pw)?;
        let hash = password::hash(pw)?;
        self.db().execute(
            "UPDATE users SET hash = ?2 WHERE name = ?1",
            params![name, hash],
        )?;
        self.end_sessions_of(name)
    }

    pub fn set_email(&self, name: &str, email: &str) -> Result<Account> {
        check_email(email)?;
        let before = self.must_exist(name)?;
        self.db().execute(
            "UPDATE users SET email = ?2 WHERE name = ?1",
            params![name, email],
        )?;
        Ok(before)
    }

    /// Replaces the events `name` is told about by e-mail.
    pub fn set_notifications(&self, name: &str, events: &[Event]) -> Result<Account> {
        let before = self.must_exist(name)?;
        let mut db = self.db();
        let tx = db.transaction()?;
        tx.execute("DELETE FROM notifications WHERE user = ?1", [name])?;
        for e in events {
            tx.execute(
                "INSERT OR IGNORE INTO notifications (user, event) VALUES (?1, ?2)",
                params![name, e.as_str()],
            )?;
        }
        tx.commit()?;
        Ok(before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::SessionSettings;

    #[test]
    fn register_approve_sign_in() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::open(dir.path(), SessionSettings::default()).unwrap();
        users.register("eve", "a fine password", "").unwrap();
        assert_eq!(
            users.check_login("eve", "a fine password").unwrap(),
            Login::Pending
        );
        assert_eq!(
            users.check_login("eve", "wrong password").unwrap(),
            Login::Refused
        );
        assert_eq!(
            users.check_login("nobody", "a fine password").unwrap(),
            Login::Refused
        );
        users.approve("eve", Role::User).unwrap();
        assert_eq!(
            users.check_login("eve", "a fine password").unwrap(),
            Login::Ok(Role::User)
        );
        let e = users.register("eve", "a fine password", "").unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        assert!(users.register("bad name", "a fine password", "").is_err());
        assert!(users.register("frank", "short", "").is_err());
    }

    #[test]
    fn the_last_admin_stays() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::open(dir.path(), SessionSettings::default()).unwrap();
        users
            .add_user("root", "a fine password", Role::Admin, "")
            .unwrap();
        assert!(users.set_role("root", Role::User).is_err());
        users
            .add_user("ops", "a fine password", Role::Admin, "")
            .unwrap();
        users.set_role("root", Role::User).unwrap();
    }
}
