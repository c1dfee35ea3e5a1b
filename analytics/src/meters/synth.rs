//! Deterministic readings for tests and benchmarks: a register that rises with the season and
//! some noise, read every `step` seconds, with gaps and resets where asked.

use super::calendar::Ts;
use super::register::Reading;

/// The shape of a generated meter.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// Mean use per day.
    pub per_day: f64,
    /// Share of the year per month (percent, January first); `None`: even.
    pub seasonal: Option<[f64; 12]>,
    /// Seconds between readings.
    pub step: i64,
    /// Leave out this many stretches of 1–10 days.
    pub gaps: usize,
    /// Restart the raw register from zero this many times.
    pub resets: usize,
    /// The register at the first reading.
    pub start_value: f64,
}

/// A small xorshift generator: the same seed gives the same readings everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Readings from `from` to `to` (exclusive) of a meter shaped by `profile`.
pub fn readings(seed: u64, from: Ts, to: Ts, profile: &Profile) -> Vec<Reading> {
    let mut rng = Rng::new(seed);
    let span = (to - from).max(1);
    let gaps: Vec<(Ts, Ts)> = (0..profile.gaps)
        .map(|_| {
            let start = from + (rng.uniform() * span as f64) as Ts;
            (
                start,
                start + ((1.0 + 9.0 * rng.uniform()) * 86_400.0) as Ts,
            )
        })
        .collect();
    let mut resets: Vec<Ts> = (0..profile.resets)
        .map(|_| from + (rng.uniform() * span as f64) as Ts)
        .collect();
    resets.sort_unstable();
    let per_step = profile.per_day * profile.step as f64 / 86_400.0;
    let mut out = Vec::with_capacity((span / profile.step.max(1)) as usize + 1);
    let mut value = profile.start_value;
    let mut reset = resets.iter().peekable();
    let mut t = from;
    while t < to {
        // The month, near enough for a generator: days since 1970 over the mean month length.
        let month = ((t as f64 / 86_400.0 / 30.436_875) as i64).rem_euclid(12) as usize;
        let season = profile.seasonal.map_or(1.0, |s| s[month] * 12.0 / 100.0);
        value += per_step * season * (0.5 + rng.uniform());
        if reset.next_if(|&&r| r <= t).is_some() {
            value = per_step;
        }
        if !gaps.iter().any(|&(a, b)| t >= a && t < b) {
            out.push(Reading { t, value });
        }
        t += profile.step;
    }
    out
}
