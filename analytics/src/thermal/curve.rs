//! The heat curve (§7): supply temperature against outdoor temperature, ten points at −30, −25, …,
//! +15 °C, linear between them and flat beyond both ends, as HomeSide's `CurveAdaptation_Y_1..10`.

use serde::{Deserialize, Serialize};

pub const CURVE_POINTS: usize = 10;

/// The outdoor temperature of curve point `i` (0-based): −30 + 5·i °C.
pub fn curve_outdoor(i: usize) -> f64 {
    -30.0 + 5.0 * i as f64
}

/// Supply temperatures (°C) at the ten outdoor points.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HeatCurve(pub [f64; CURVE_POINTS]);

impl HeatCurve {
    /// The supply temperature the curve asks for at `outdoor`.
    pub fn supply_at(&self, outdoor: f64) -> f64 {
        let x = ((outdoor + 30.0) / 5.0).clamp(0.0, (CURVE_POINTS - 1) as f64);
        let i = (x.floor() as usize).min(CURVE_POINTS - 2);
        let frac = x - i as f64;
        self.0[i] + (self.0[i + 1] - self.0[i]) * frac
    }

    /// A new curve with `f(index, value)` applied to every point.
    pub fn map(&self, f: impl Fn(usize, f64) -> f64) -> HeatCurve {
        HeatCurve(std::array::from_fn(|i| f(i, self.0[i])))
    }

    /// The largest difference between two curves at any point.
    pub fn max_abs_difference(&self, other: &HeatCurve) -> f64 {
        self.0
            .iter()
            .zip(other.0.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    }
}

/// Rounds to `decimals` places, as the seed does for what it stores.
pub fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}
