//! Sign-in rate limiting: failed attempts are counted per user name and per client address in
//! a sliding window; past the limit, attempts are refused (429) without checking the password
//! until the oldest failure leaves the window. A success clears the name's count. Counted in
//! memory and kept in the user store (`login_failures`), so that a restart forgets nothing:
//! [`Users::open`] loads the failures still in the window. Times are the wall clock, the only
//! one that means something across a restart.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use rusqlite::params;

use super::Users;

/// Failures per user name within [`WINDOW`].
pub const PER_NAME: usize = 5;
/// Failures per client address within [`WINDOW`] (several people behind one NAT).
pub const PER_ADDRESS: usize = 20;
/// Registrations per client address within [`WINDOW`].
pub const REGISTRATIONS_PER_ADDRESS: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, VecDeque<SystemTime>>>,
}

impl LoginLimiter {
    /// `Err(wait)` when the name or the address has used up its attempts.
    pub fn check(&self, name: &str, addr: Option<IpAddr>, now: SystemTime) -> Result<(), Duration> {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = None;
        for (key, limit) in keys(name, addr) {
            if let Some(w) = blocked(&mut map, &key, limit, now) {
                wait = Some(wait.map_or(w, |x: Duration| x.max(w)));
            }
        }
        wait.map_or(Ok(()), Err)
    }

    /// Counts a failure; returns the keys it was counted under.
    pub fn failed(&self, name: &str, addr: Option<IpAddr>, now: SystemTime) -> Vec<String> {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        keys(name, addr)
            .into_iter()
            .map(|(key, _)| {
                map.entry(key.clone()).or_default().push_back(now);
                key
            })
            .collect()
    }

    /// Forgets the name's failures; returns its key.
    pub fn succeeded(&self, name: &str) -> String {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let key = name_key(name);
        map.remove(&key);
        key
    }

    /// Counts a registration from `addr`; its key, or `Err(wait)` past the limit.
    pub fn register(&self, addr: Option<IpAddr>, now: SystemTime) -> Result<String, Duration> {
        let key = format!("register:{}", addr.map_or("?".into(), |a| a.to_string()));
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = blocked(&mut map, &key, REGISTRATIONS_PER_ADDRESS, now) {
            return Err(w);
        }
        map.entry(key.clone()).or_default().push_back(now);
        Ok(key)
    }

    /// Counts a failure remembered from before a restart.
    fn load(&self, key: String, at: SystemTime) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let times = map.entry(key).or_default();
        times.push_back(at);
        times.make_contiguous().sort();
    }
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64
}

/// The limiter's counts, kept in the user store. A failure to keep one is logged: the limit
/// in memory still holds until a restart.
impl Users {
    /// Loads the failures of the last [`WINDOW`] into the limiter (at open).
    pub(super) fn load_login_failures(&self) -> Result<()> {
        let since = millis(SystemTime::now()) - WINDOW.as_millis() as i64;
        let db = self.db();
        db.execute("DELETE FROM login_failures WHERE at_ms < ?1", [since])?;
        let mut stmt = db.prepare("SELECT key, at_ms FROM login_failures")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (key, at) = row?;
            let at = UNIX_EPOCH + Duration::from_millis(at.max(0) as u64);
            self.limiter().load(key, at);
        }
        Ok(())
    }

    /// `Err(wait)` when the name or the address has used up its sign-in attempts.
    pub fn login_allowed(&self, name: &str, addr: Option<IpAddr>) -> Result<(), Duration> {
        self.limiter().check(name, addr, SystemTime::now())
    }

    pub fn login_failed(&self, name: &str, addr: Option<IpAddr>) {
        let now = SystemTime::now();
        let keys = self.limiter().failed(name, addr, now);
        self.keep(|db| {
            // Older rows count for nothing any more.
            let since = millis(now) - WINDOW.as_millis() as i64;
            db.execute("DELETE FROM login_failures WHERE at_ms < ?1", [since])?;
            for key in &keys {
                db.execute(
                    "INSERT INTO login_failures (key, at_ms) VALUES (?1, ?2)",
                    params![key, millis(now)],
                )?;
            }
            Ok(())
        });
    }

    pub fn login_succeeded(&self, name: &str) {
        let key = self.limiter().succeeded(name);
        self.keep(|db| {
            db.execute("DELETE FROM login_failures WHERE key = ?1", [&key])?;
            Ok(())
        });
    }

    /// Counts a registration from `addr`; `Err(wait)` past the limit.
    pub fn registration_allowed(&self, addr: Option<IpAddr>) -> Result<(), Duration> {
        let now = SystemTime::now();
        let key = self.limiter().register(addr, now)?;
        self.keep(|db| {
            db.execute(
                "INSERT INTO login_failures (key, at_ms) VALUES (?1, ?2)",
                params![key, millis(now)],
            )?;
            Ok(())
        });
        Ok(())
    }

    fn keep(&self, write: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<()>) {
        if let Err(e) = write(&self.db()) {
            tracing::warn!("keeping a sign-in count in the user store failed: {e}");
        }
    }
}

fn name_key(name: &str) -> String {
    format!("name:{}", name.to_lowercase())
}

fn keys(name: &str, addr: Option<IpAddr>) -> Vec<(String, usize)> {
    let mut keys = vec![(name_key(name), PER_NAME)];
    if let Some(a) = addr {
        keys.push((format!("addr:{a}"), PER_ADDRESS));
    }
    keys
}

/// Forgets failures older than the window; the wait until the next attempt if over the limit.
fn blocked(
    map: &mut HashMap<String, VecDeque<SystemTime>>,
    key: &str,
    limit: usize,
    now: SystemTime,
) -> Option<Duration> {
    let times = map.get_mut(key)?;
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t).unwrap_or_default() >= WINDOW)
    {
        times.pop_front();
    }
    if times.is_empty() {
        map.remove(key);
        return None;
    }
    (times.len() >= limit)
        .then(|| WINDOW.saturating_sub(now.duration_since(times[0]).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_name_limit_slides() {
        let l = LoginLimiter::default();
        let t0 = SystemTime::now();
        let addr: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..PER_NAME {
            assert!(l.check("Alice", Some(addr), t0).is_ok(), "attempt {i}");
            l.failed("Alice", Some(addr), t0);
        }
        let wait = l.check("alice", Some(addr), t0).unwrap_err();
        assert_eq!(wait, WINDOW);
        // Another name from the same address is still allowed.
        assert!(l.check("bob", Some(addr), t0).is_ok());
        // Still blocked just before the window ends, free after.
        let later = t0 + WINDOW - Duration::from_secs(1);
        assert_eq!(
            l.check("alice", None, later).unwrap_err(),
            Duration::from_secs(1)
        );
        assert!(l.check("alice", None, t0 + WINDOW).is_ok());
    }

    #[test]
    fn per_address_limit_across_names() {
        let l = LoginLimiter::default();
        let t0 = SystemTime::now();
        let addr: IpAddr = "192.0.2.7".parse().unwrap();
        for i in 0..PER_ADDRESS {
            let name = format!("guess{i}");
            assert!(l.check(&name, Some(addr), t0).is_ok(), "attempt {i}");
            l.failed(&name, Some(addr), t0);
        }
        assert!(l.check("fresh", Some(addr), t0).is_err());
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert!(l.check("fresh", Some(other), t0).is_ok());
    }

    #[test]
    fn success_clears_the_name() {
        let l = LoginLimiter::default();
        let t0 = SystemTime::now();
        for _ in 0..PER_NAME - 1 {
            l.failed("carol", None, t0);
        }
        l.succeeded("carol");
        l.failed("carol", None, t0);
        assert!(l.check("carol", None, t0).is_ok());
    }

    #[test]
    fn registrations_per_address() {
        let l = LoginLimiter::default();
        let t0 = SystemTime::now();
        let addr: IpAddr = "192.0.2.9".parse().unwrap();
        for _ in 0..REGISTRATIONS_PER_ADDRESS {
            assert!(l.register(Some(addr), t0).is_ok());
        }
        assert!(l.register(Some(addr), t0).is_err());
        assert!(l.register(Some(addr), t0 + WINDOW).is_ok());
    }

    #[test]
    fn counts_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let open = || Users::open(dir.path(), super::super::SessionSettings::default()).unwrap();
        let addr: IpAddr = "192.0.2.10".parse().unwrap();
        let users = open();
        for _ in 0..PER_NAME {
            assert!(users.login_allowed("dora", Some(addr)).is_ok());
            users.login_failed("dora", Some(addr));
        }
        for _ in 0..REGISTRATIONS_PER_ADDRESS {
            assert!(users.registration_allowed(Some(addr)).is_ok());
        }
        drop(users);
        let users = open();
        let wait = users.login_allowed("dora", None).unwrap_err();
        assert!(wait > WINDOW - Duration::from_secs(60), "{wait:?}");
        assert!(users.login_allowed("eve", Some(addr)).is_ok());
        assert!(users.registration_allowed(Some(addr)).is_err());
        // A success clears the name for good, restart or not.
        users.login_succeeded("dora");
        drop(users);
        assert!(open().login_allowed("dora", None).is_ok());
    }
}
