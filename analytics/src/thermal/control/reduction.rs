//! §7a: the reduction ahead of a warm spell, with the seed's decision rule. hemflux changes where
//! it is unsafe: the per-house target instead of a global 22, and the clamp in place of the seed's
//! floor of 20 °C (applied by the controller).

use serde::{Deserialize, Serialize};

use crate::thermal::curve::{curve_outdoor, HeatCurve, CURVE_POINTS};

/// What the seed decides from a 72 h forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReductionPlan {
    /// Added to each affected point, °C (negative).
    pub delta: f64,
    /// Affected points, 0-based.
    pub points: Vec<usize>,
    /// Last − first forecast outdoor temperature, °C.
    pub forecast_change: f64,
    pub confidence: f64,
}

/// `None` unless the forecast rises by at least 2 °C over its span and the room is within 0.5 °C
/// of the target (or above it). `forecast` holds the outdoor temperatures, first to last.
pub fn plan_reduction(forecast: &[f64], room: f64, target: f64) -> Option<ReductionPlan> {
    let (&first, &last) = (forecast.first()?, forecast.last()?);
    let change = last - first;
    if change <= 1.0 || change < 2.0 || room < target - 0.5 {
        return None;
    }
    let delta = -(0.5 * change).min(3.0);
    let (low, high) = (first - 2.5, first + change + 2.5);
    let points: Vec<usize> = (0..CURVE_POINTS)
        .filter(|&i| (low..=high).contains(&curve_outdoor(i)))
        .collect();
    if points.is_empty() {
        return None;
    }
    Some(ReductionPlan {
        delta,
        points,
        forecast_change: change,
        confidence: (change.abs() / 5.0).min(1.0),
    })
}

impl ReductionPlan {
    /// The baseline with the affected points lowered (before the clamp).
    pub fn apply(&self, baseline: &HeatCurve) -> HeatCurve {
        baseline.map(|i, v| {
            if self.points.contains(&i) {
                v + self.delta
            } else {
                v
            }
        })
    }
}
