//! The seed's indoor forecaster "Model C" and its bias learning (§4), reimplemented exactly as the
//! baseline that hemflux's forecast is measured against. Its known faults are kept on purpose:
//! every step counts as one hour, the bias is keyed by UTC hour and scored before its target time,
//! and a bias that falls below 0.05 is never updated again.

use std::collections::BTreeMap;

use super::curve::round_to;

/// `building.thermal_response`: heat and cool rate per step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThermalResponse {
    Slow,
    Medium,
    Fast,
}

impl ThermalResponse {
    fn rates(self) -> (f64, f64) {
        match self {
            ThermalResponse::Slow => (0.3, 0.1),
            ThermalResponse::Medium => (0.5, 0.2),
            ThermalResponse::Fast => (0.8, 0.3),
        }
    }
}

/// Model C's inputs besides the weather: `comfort` and the analyzer's learning state.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelC {
    pub target: f64,
    pub dev: f64,
    pub response: ThermalResponse,
    /// `thermal_coefficient_confidence` from the seed's analyzer.
    pub confidence: f64,
    pub total_samples: u64,
    /// `hourly_bias`, keyed by UTC hour.
    pub hourly_bias: BTreeMap<u8, f64>,
}

impl ModelC {
    /// One chained step from `indoor` at outdoor `outdoor`, for a target in UTC hour `hour`.
    pub fn step(&self, indoor: f64, outdoor: f64, hour: u8) -> f64 {
        let (heat, cool) = self.response.rates();
        let (target, dev) = (self.target, self.dev);
        let p = 0.02 * (indoor - outdoor);
        let physics = if indoor < target - dev {
            target.min(indoor + (heat - p).max(0.1))
        } else if indoor < target {
            indoor + (heat / 2.0).min(target - indoor)
        } else if indoor <= target + dev {
            let cooled = if outdoor < indoor - 10.0 {
                indoor - 0.1
            } else {
                indoor
            };
            cooled.max(target - dev / 2.0)
        } else {
            target.max(indoor - cool - p / 2.0)
        };
        let bias = self.hourly_bias.get(&hour).copied().unwrap_or(0.0) * self.bias_weight();
        let clamped = (physics + bias).clamp(target - dev - 1.0, target + dev + 0.5);
        round_to(clamped, 2)
    }

    /// The chained forecast: each step starts from the previous result.
    pub fn forecast(&self, indoor_now: f64, steps: &[(f64, u8)]) -> Vec<f64> {
        let mut indoor = indoor_now;
        steps
            .iter()
            .map(|&(outdoor, hour)| {
                indoor = self.step(indoor, outdoor, hour);
                indoor
            })
            .collect()
    }

    fn bias_weight(&self) -> f64 {
        if self.total_samples < 24 {
            0.0
        } else if self.confidence < 0.5 {
            self.confidence / 2.0
        } else {
            self.confidence
        }
    }

    /// The seed's bias update over buffered `(UTC hour, error)` records; `false` when it needs
    /// more records (at least 10). Hours with at least 3 errors move to `0.8·mean + 0.2·old`,
    /// stored only when the result exceeds 0.05 in magnitude (otherwise the old value stays).
    pub fn update_bias(&mut self, records: &[(u8, f64)]) -> bool {
        if records.len() < 10 {
            return false;
        }
        let mut by_hour: BTreeMap<u8, Vec<f64>> = BTreeMap::new();
        for &(hour, error) in records {
            by_hour.entry(hour).or_default().push(error);
        }
        for (hour, errors) in by_hour {
            if errors.len() < 3 {
                continue;
            }
            let mean = errors.iter().sum::<f64>() / errors.len() as f64;
            let old = self.hourly_bias.get(&hour).copied().unwrap_or(0.0);
            let new = 0.8 * mean + 0.2 * old;
            if new.abs() > 0.05 {
                self.hourly_bias.insert(hour, round_to(new, 3));
            }
        }
        true
    }
}

/// Polls between the seed's bias updates: 24 before the first, 48 before the second, then 96
/// (at 5-min polls: 2 h, 4 h, then every 8 h).
pub fn polls_until_next_update(updates_done: u32) -> u64 {
    match updates_done {
        0 => 24,
        1 => 48,
        _ => 96,
    }
}
