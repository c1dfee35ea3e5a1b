//! Sign-in rate limiting: failed attempts are counted per user name and per client address in
//! a sliding window; past the limit, attempts are refused (429) without checking the password
//! until the oldest failure leaves the window. A success clears the name's count. In memory:
//! a restart forgets, which costs an attacker a restart of the server they cannot cause.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures per user name within [`WINDOW`].
pub const PER_NAME: usize = 5;
/// Failures per client address within [`WINDOW`] (several people behind one NAT).
pub const PER_ADDRESS: usize = 20;
/// Registrations per client address within [`WINDOW`].
pub const REGISTRATIONS_PER_ADDRESS: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    /// `Err(wait)` when the name or the address has used up its attempts.
    pub fn check(&self, name: &str, addr: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = None;
        for (key, limit) in keys(name, addr) {
            if let Some(w) = blocked(&mut map, &key, limit, now) {
                wait = Some(wait.map_or(w, |x: Duration| x.max(w)));
            }
        }
        wait.map_or(Ok(()), Err)
    }

    pub fn failed(&self, name: &str, addr: Option<IpAddr>, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for (key, _) in keys(name, addr) {
            map.entry(key).or_default().push_back(now);
        }
    }

    pub fn succeeded(&self, name: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&name_key(name));
    }

    /// Counts a registration from `addr`; `Err(wait)` past the limit.
    pub fn register(&self, addr: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let key = format!("register:{}", addr.map_or("?".into(), |a| a.to_string()));
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = blocked(&mut map, &key, REGISTRATIONS_PER_ADDRESS, now) {
            return Err(w);
        }
        map.entry(key).or_default().push_back(now);
        Ok(())
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
    map: &mut HashMap<String, VecDeque<Instant>>,
    key: &str,
    limit: usize,
    now: Instant,
) -> Option<Duration> {
    let times = map.get_mut(key)?;
    while times
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
    {
        times.pop_front();
    }
    if times.is_empty() {
        map.remove(key);
        return None;
    }
    (times.len() >= limit).then(|| WINDOW - now.saturating_duration_since(times[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_name_limit_slides() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
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
        let t0 = Instant::now();
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
        let t0 = Instant::now();
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
        let t0 = Instant::now();
        let addr: IpAddr = "192.0.2.9".parse().unwrap();
        for _ in 0..REGISTRATIONS_PER_ADDRESS {
            assert!(l.register(Some(addr), t0).is_ok());
        }
        assert!(l.register(Some(addr), t0).is_err());
        assert!(l.register(Some(addr), t0 + WINDOW).is_ok());
    }
}
