//! Arrigo's tokens: a JWT-shaped auth token (AT) that expires, and a refresh token (RT) that is
//! spent by its one use. A refresh needs the AT it belongs to (expired is fine) and rotates both.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

pub struct Pair {
    pub auth: String,
    pub refresh: String,
}

struct Session {
    user: String,
    expires: Instant,
    /// The live RT of this session, if it has not been spent or revoked.
    refresh: Option<String>,
}

pub struct Auth {
    at_lifetime: Duration,
    rt_lifetime: Duration,
    sessions: HashMap<String, Session>,
    /// Live RT → (its AT, its expiry).
    refresh: HashMap<String, (String, Instant)>,
}

pub enum Bearer {
    Valid,
    Expired,
    Invalid,
}

/// The token of an `Authorization: Bearer <token>` header; any other scheme is no token.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", fastrand::u8(..)))
        .collect()
}

impl Auth {
    pub fn new(at_lifetime: Duration, rt_lifetime: Duration) -> Auth {
        Auth {
            at_lifetime,
            rt_lifetime,
            sessions: HashMap::new(),
            refresh: HashMap::new(),
        }
    }

    pub fn login(&mut self, user: &str) -> Pair {
        let now = Instant::now();
        let b64 = |s: String| URL_SAFE_NO_PAD.encode(s);
        let auth = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"HS256","typ":"JWT"}"#.into()),
            b64(format!(r#"{{"sub":"{user}","jti":"{}"}}"#, random_hex(16))),
            b64(random_hex(32))
        );
        let h = random_hex(16);
        let refresh = format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        );
        self.refresh
            .insert(refresh.clone(), (auth.clone(), now + self.rt_lifetime));
        self.sessions.insert(
            auth.clone(),
            Session {
                user: user.to_string(),
                expires: now + self.at_lifetime,
                refresh: Some(refresh.clone()),
            },
        );
        Pair { auth, refresh }
    }

    pub fn check(&self, at: Option<&str>) -> Bearer {
        match at.and_then(|t| self.sessions.get(t)) {
            None => Bearer::Invalid,
            Some(s) if Instant::now() >= s.expires => Bearer::Expired,
            Some(_) => Bearer::Valid,
        }
    }

    /// Ends an AT's life now (the `--expire-every` knob).
    pub fn expire(&mut self, at: &str) {
        if let Some(s) = self.sessions.get_mut(at) {
            s.expires = Instant::now();
        }
    }

    /// Forgets an AT and its RT (the `--revoke-every` knob): only a new login helps.
    pub fn revoke(&mut self, at: &str) {
        if let Some(rt) = self.sessions.remove(at).and_then(|s| s.refresh) {
            self.refresh.remove(&rt);
        }
    }

    /// A new pair for a known AT and its live RT; the RT is spent either way it is used.
    pub fn refresh(&mut self, at: Option<&str>, rt: &str) -> Option<Pair> {
        let at = at?;
        let (owner, expires) = self.refresh.get(rt)?.clone();
        if owner != at || Instant::now() >= expires {
            return None;
        }
        self.refresh.remove(rt);
        let session = self.sessions.get_mut(at)?;
        session.refresh = None;
        let user = session.user.clone();
        Some(self.login(&user))
    }

    /// Revokes the RT of the header's AT, or the RT in the body; the AT itself stays valid.
    pub fn logout(&mut self, at: Option<&str>, rt: Option<&str>) -> bool {
        let from_header = at
            .filter(|t| matches!(self.check(Some(t)), Bearer::Valid))
            .and_then(|t| self.sessions.get_mut(t))
            .and_then(|s| s.refresh.take());
        match from_header.as_deref().or(rt) {
            Some(r) => self.refresh.remove(r).is_some(),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_rotates_both_and_spends_the_old_refresh_token() {
        let mut a = Auth::new(Duration::from_secs(600), Duration::from_secs(3600));
        let p = a.login("u");
        let q = a.refresh(Some(&p.auth), &p.refresh).expect("first refresh");
        assert_ne!(p.auth, q.auth);
        assert_ne!(p.refresh, q.refresh);
        assert!(a.refresh(Some(&p.auth), &p.refresh).is_none(), "spent RT");
        assert!(
            a.refresh(Some(&p.auth), &q.refresh).is_none(),
            "RT of another AT"
        );
        assert!(a.refresh(None, &q.refresh).is_none(), "no AT");
        assert!(a.refresh(Some(&q.auth), &q.refresh).is_some());
    }

    #[test]
    fn expired_tokens_are_told_apart_from_unknown_ones() {
        let mut a = Auth::new(Duration::from_secs(600), Duration::from_secs(3600));
        let p = a.login("u");
        assert!(matches!(a.check(Some(&p.auth)), Bearer::Valid));
        a.expire(&p.auth);
        assert!(matches!(a.check(Some(&p.auth)), Bearer::Expired));
        assert!(matches!(a.check(Some("nope")), Bearer::Invalid));
        assert!(
            a.refresh(Some(&p.auth), &p.refresh).is_some(),
            "expired AT may refresh"
        );
    }
}
