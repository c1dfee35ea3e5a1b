//! §7b: one uniform shift of the baseline curve, the sum of a weather shift (wind and sun), a PI
//! on the room temperature and a pre-emptive reduction ahead of a warm window, as the seed
//! computes them (fixtures F5); hemflux's PI uses the per-house target and a configurable dead band.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::config::ControlConfig;
use crate::thermal::curve::{round_to, HeatCurve};
use crate::thermal::forecast::WeatherHour;

/// `round(Yref(o) − Yref(0), 1)` with `o = clamp(T_eff − T_out, ±5)`: what the curve gives for the
/// difference between the felt and the measured outdoor temperature.
pub fn weather_shift(baseline: &HeatCurve, outdoor: f64, effective_outdoor: f64) -> f64 {
    let o = (effective_outdoor - outdoor).clamp(-5.0, 5.0);
    round_to(baseline.supply_at(o) - baseline.supply_at(0.0), 1)
}

/// The PI's memory, persisted with the controller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PiState {
    pub integral: f64,
    pub last_error_sign: i8,
    pub last_update: Option<Timestamp>,
}

/// Minutes assumed for the first update, one poll.
const FIRST_UPDATE_MINUTES: f64 = 5.0;
const MAX_CORRECTION: f64 = 8.0;

impl PiState {
    /// Updates on the room error and returns the correction to the supply temperature, °C.
    pub fn update(&mut self, config: &ControlConfig, room: f64, now: Timestamp) -> f64 {
        let tol = config.tolerance;
        let kp = config.pi.gain / tol;
        let ki = kp / config.pi.integral_minutes;
        let dead_band = config.pi.dead_band_fraction * tol;
        let dt = self.last_update.map_or(FIRST_UPDATE_MINUTES, |last| {
            ((now - last).get_seconds() as f64 / 60.0).clamp(1.0, 60.0)
        });
        self.last_update = Some(now);
        let error = room - config.target;
        if error.abs() > dead_band {
            let sign = if error > 0.0 { 1 } else { -1 };
            let beyond = error - f64::from(sign) * dead_band;
            if sign != self.last_error_sign {
                self.integral = 0.0;
            }
            self.last_error_sign = sign;
            let limit = MAX_CORRECTION / ki;
            self.integral = (self.integral + beyond * dt).clamp(-limit, limit);
            (-kp * beyond - ki * self.integral).clamp(-MAX_CORRECTION, MAX_CORRECTION)
        } else {
            self.integral *= 0.8;
            if self.integral.abs() < 0.01 {
                self.integral = 0.0;
            }
            -ki * self.integral
        }
    }
}

/// The pre-emptive reduction ahead of the first window of at least two consecutive forecast
/// hours with `T_eff ≥ target`; 0 when none is near, the room is already low, or it is warm now.
/// `tau_hours` is the learned τ (`None`: the default, with the smaller cap).
pub fn preemptive_shift(
    config: &ControlConfig,
    baseline: &HeatCurve,
    room: f64,
    effective_now: f64,
    forecast: &[WeatherHour],
    now: Timestamp,
    tau_hours: Option<f64>,
) -> f64 {
    let (target, tol) = (config.target, config.tolerance);
    let window_start = forecast
        .windows(2)
        .find(|w| w[0].effective_outdoor >= target && w[1].effective_outdoor >= target)
        .map(|w| w[0].time);
    let Some(start) = window_start else {
        return 0.0;
    };
    let lead = (start - now).get_seconds() as f64 / 3600.0;
    if lead <= 0.0 || room < target - 2.0 * tol || effective_now >= target {
        return 0.0;
    }
    let tau = tau_hours.unwrap_or(config.default_tau_hours);
    let needed = tau * tol / (target - effective_now) + 1.5;
    if lead > needed {
        return 0.0;
    }
    let cap = if tau_hours.is_some() { -3.0 } else { -1.5 };
    let slope = (baseline.supply_at(0.0) - baseline.supply_at(1.0)).abs();
    round_to((-tol * slope).max(cap) * (1.0 - lead / needed), 1)
}
