//! One retry policy for everything that retries (worker restarts, sinks, vendor requests):
//! exponential backoff with a cap, and jitter so that many retriers do not act in step.
//!
//! Hand-written rather than `backon`: the callers need the delay itself (the supervisor
//! schedules restarts on its own clock, sinks sleep interruptibly), not a retry loop around a
//! future, and the whole policy is the one line of [`RetryPolicy::delay`].

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// The first delay.
    pub initial: Duration,
    /// Each delay is the previous one times this, up to `cap`.
    pub factor: u32,
    pub cap: Duration,
    /// Up to this fraction of the delay is added at random.
    pub jitter: f64,
}

impl RetryPolicy {
    /// The delay before retry `attempt` (0 for the first), with `unit` in [0, 1) picking the
    /// jitter.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let grown = self
            .initial
            .saturating_mul(self.factor.saturating_pow(attempt.min(30)));
        let d = grown.min(self.cap).mul_f64(1.0 + self.jitter * unit);
        // Whole milliseconds: finer than any timer here resolves.
        Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// A fresh sequence of delays under this policy.
    pub fn backoff(self) -> Backoff {
        Backoff {
            policy: self,
            attempt: 0,
        }
    }
}

/// The delays of one run of failures: call [`Backoff::next_delay`] after each failure.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RetryPolicy,
    attempt: u32,
}

impl Backoff {
    pub fn next_delay(&mut self) -> Duration {
        let d = self.policy.delay(self.attempt, fastrand::f64());
        self.attempt = self.attempt.saturating_add(1);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn delays_grow_by_the_factor_up_to_the_cap_and_jitter_only_adds() {
        let p = RetryPolicy {
            initial: SECOND,
            factor: 2,
            cap: 10 * SECOND,
            jitter: 0.25,
        };
        let plain: Vec<u64> = (0..6).map(|n| p.delay(n, 0.0).as_secs()).collect();
        assert_eq!(plain, [1, 2, 4, 8, 10, 10]);
        assert_eq!(p.delay(1, 0.999).as_millis(), 2499);
        assert_eq!(p.delay(u32::MAX, 0.0), 10 * SECOND, "no overflow");
        let mut b = p.backoff();
        let first = b.next_delay();
        assert!(first >= SECOND && first < SECOND.mul_f64(1.25), "{first:?}");
        assert!(b.next_delay() >= 2 * SECOND);
    }
}
