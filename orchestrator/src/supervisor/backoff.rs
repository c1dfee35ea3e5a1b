//! When a crashed worker may start again: exponential backoff with jitter, reset after a stable
//! run, and the `failed` state after a crash loop. Pure (time is passed in), so it is tested alone.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hemflux_shared::retry::RetryPolicy;

use crate::settings::SupervisorSettings;

#[derive(Debug, Default)]
pub struct CrashHistory {
    recent: VecDeque<Instant>,
    /// Crashes since the last stable run; drives the delay.
    consecutive: u32,
}

#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Start again after this delay.
    Retry(Duration),
    /// Too many crashes in the window: `failed`, tried again after `failed_retry_ms`.
    Failed,
}

impl CrashHistory {
    /// Records a crash at `now` of a run that lasted `ran_for`, and decides what happens next.
    /// `jitter` in [0, 1) spreads restarts of many workers that crashed together.
    pub fn crashed(
        &mut self,
        now: Instant,
        ran_for: Duration,
        s: &SupervisorSettings,
        jitter: f64,
    ) -> Verdict {
        if ran_for >= Duration::from_millis(s.stable_after_ms) {
            self.consecutive = 0;
        }
        self.consecutive += 1;
        let window = Duration::from_millis(s.crash_window_ms);
        self.recent.push_back(now);
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= s.crash_limit {
            return Verdict::Failed;
        }
        // Up to +25% so that a fleet that crashed together does not restart in lockstep.
        let policy = RetryPolicy {
            initial: Duration::from_millis(s.backoff_initial_ms),
            factor: 2,
            cap: Duration::from_millis(s.backoff_max_ms),
            jitter: 0.25,
        };
        Verdict::Retry(policy.delay(self.consecutive - 1, jitter))
    }

    /// A fresh start (file changed, `hemflux restart`): forget the past.
    pub fn reset(&mut self) {
        self.recent.clear();
        self.consecutive = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// The default settings with a crash limit these tests never reach: the delays alone.
    fn delays_only() -> SupervisorSettings {
        SupervisorSettings {
            crash_limit: 100,
            ..Default::default()
        }
    }

    #[test]
    fn doubles_from_one_second_to_the_cap() {
        let s = delays_only();
        let mut h = CrashHistory::default();
        let t0 = Instant::now();
        let delays: Vec<_> = (0..12)
            .map(|i| match h.crashed(t0 + secs(i * 1000), secs(1), &s, 0.0) {
                Verdict::Retry(d) => d.as_secs(),
                Verdict::Failed => panic!("not failed"),
            })
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    }

    #[test]
    fn jitter_adds_at_most_a_quarter() {
        let s = SupervisorSettings::default();
        let mut h = CrashHistory::default();
        assert_eq!(
            h.crashed(Instant::now(), secs(1), &s, 0.999),
            Verdict::Retry(Duration::from_millis(1249))
        );
    }

    #[test]
    fn a_stable_run_resets_the_delay() {
        let s = delays_only();
        let mut h = CrashHistory::default();
        let t0 = Instant::now();
        for i in 0..4 {
            h.crashed(t0 + secs(i), secs(1), &s, 0.0);
        }
        assert_eq!(
            h.crashed(t0 + secs(2000), secs(601), &s, 0.0),
            Verdict::Retry(secs(1))
        );
    }

    /// `n` one-second runs that crash `every` seconds apart from `t0`, each one retried.
    fn crash_retried(h: &mut CrashHistory, t0: Instant, every: u64, n: u64) {
        let s = SupervisorSettings::default();
        for i in 0..n {
            assert!(matches!(
                h.crashed(t0 + secs(i * every), secs(1), &s, 0.0),
                Verdict::Retry(_)
            ));
        }
    }

    #[test]
    fn five_crashes_in_five_minutes_fail() {
        let mut h = CrashHistory::default();
        let t0 = Instant::now();
        crash_retried(&mut h, t0, 10, 4);
        let s = SupervisorSettings::default();
        assert_eq!(h.crashed(t0 + secs(50), secs(1), &s, 0.0), Verdict::Failed);
    }

    #[test]
    fn crashes_spread_wider_than_the_window_do_not_fail() {
        crash_retried(&mut CrashHistory::default(), Instant::now(), 100, 10);
    }
}
