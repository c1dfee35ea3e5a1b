//! The seed's thermal analyzer (§3), kept exactly as the seed computes it: the benchmark's Model C
//! baseline weights its bias by this confidence. hemflux's own model is [`super::model`].

use jiff::Timestamp;

/// The seed's buffer cap (7 days at the 15-min steps it assumes; 56 h at 5-min polls).
pub const SEED_BUFFER_CAP: usize = 672;
const MIN_SAMPLES: usize = 24;
const MIN_PAIRS: usize = 5;

/// One poll in the seed's buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeedSample {
    pub time: Timestamp,
    pub room: f64,
    pub outdoor: f64,
    pub heater_on: bool,
}

/// What the seed stores in `profile.learned`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeedCoefficient {
    pub coefficient: f64,
    pub confidence: f64,
    /// Pairs kept.
    pub samples: usize,
    pub avg_indoor: f64,
}

/// The seed's coefficient: mean of Δin/(Δt·d) over consecutive pairs, `None` when too few.
pub fn seed_coefficient(buffer: &[SeedSample]) -> Option<SeedCoefficient> {
    if buffer.len() < MIN_SAMPLES {
        return None;
    }
    let avg_indoor = buffer.iter().map(|s| s.room).sum::<f64>() / buffer.len() as f64;
    let kept: Vec<f64> = buffer
        .windows(2)
        .filter_map(|pair| {
            let (prev, cur) = (pair[0], pair[1]);
            let dt_hours = (cur.time - prev.time).get_seconds() as f64 / 3600.0;
            if !(dt_hours > 0.0 && dt_hours < 2.0) || prev.heater_on || cur.heater_on {
                return None;
            }
            let d = (prev.outdoor + cur.outdoor) / 2.0 - avg_indoor;
            if d.abs() <= 2.0 {
                return None;
            }
            let c = (cur.room - prev.room) / (dt_hours * d);
            (c.abs() < 0.5).then_some(c)
        })
        .collect();
    if kept.len() < MIN_PAIRS {
        return None;
    }
    let n = kept.len() as f64;
    let mean = kept.iter().sum::<f64>() / n;
    let stdev = (kept.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    Some(SeedCoefficient {
        coefficient: mean.abs(),
        confidence: (1.0 - stdev / 0.1).clamp(0.0, 1.0),
        samples: kept.len(),
        avg_indoor,
    })
}

/// The seed's prediction: linear in hours, plus a flat 1.5 °C per 6 h when heating is on.
pub fn seed_predict(coefficient: f64, room: f64, outdoor: f64, hours: f64, heating: bool) -> f64 {
    let heat = if heating { 1.5 * hours / 6.0 } else { 0.0 };
    room + coefficient * (outdoor - room) * hours + heat
}
