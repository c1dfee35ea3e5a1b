//! `cargo bench -p hemflux --bench users`: what signing in and being signed in cost.
//!
//! 1. argon2id (19 MiB, 2 passes): one hash (a new password) and one sign-in check;
//! 2. the session lookup every request with a cookie pays (SQLite, with the assignments);
//! 3. one audit-log entry (a committed SQLite transaction);
//! 4. the sign-in limiter's check, and a failed sign-in counted and kept in `users.sqlite`.

use std::time::{Duration, Instant, SystemTime};

use hemflux::users::{audit, ratelimit::LoginLimiter, Role, SessionSettings, Users};

fn time<T>(label: &str, n: u32, mut f: impl FnMut() -> T) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(f());
    }
    let each = start.elapsed() / n;
    println!("{label:<48} {each:>12.2?} each ({n} runs)");
    each
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let users = Users::open(dir.path(), SessionSettings::default()).unwrap();
    users
        .add_user("ann", "a long enough password", Role::User, "")
        .unwrap();
    let entities: Vec<String> = (0..50).map(|i| format!("house:villa{i}")).collect();
    users.assign("ann", &entities).unwrap();

    time("argon2id hash (new password)", 10, || {
        hemflux::users::password::hash("a long enough password").unwrap()
    });
    time("sign-in check (argon2id verify)", 10, || {
        users.check_login("ann", "a long enough password").unwrap()
    });
    let id = users.create_session("ann").unwrap();
    time(
        "session lookup per request (50 assignments)",
        10_000,
        || users.session_user(&id).unwrap().unwrap(),
    );
    time("audit entry (committed)", 200, || {
        audit::record_as(&users, "bench", "assign ann", None, None).unwrap()
    });
    let limiter = LoginLimiter::default();
    let addr = Some("192.0.2.1".parse().unwrap());
    time("sign-in limiter check", 100_000, || {
        limiter.check("ann", addr, SystemTime::now())
    });
    // Each bench name its own, so that the counts stay below the limits.
    let mut n = 0;
    time("failed sign-in counted and kept (committed)", 200, || {
        n += 1;
        users.login_failed(&format!("guess{n}"), None)
    });
}
