//! The `heat_curve_control` section of a house profile: the per-house settings of heat-curve
//! control (hemflux-analytics' controller) and the cadence of its `controller` worker, checked
//! before anything runs.

use serde::{Deserialize, Serialize};

/// The seed's two controllers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlMode {
    /// §7a: lower the curve around the coming outdoor temperatures ahead of a warm spell.
    Reduction,
    /// §7b: a uniform shift of the baseline: weather + PI on the room + pre-emptive reduction.
    Intelligent,
}

/// The PI on the room temperature (§7b). The seed's values are the defaults except the dead band,
/// which the seed sets to the whole tolerance, so that a room one tolerance above target (where
/// installers' curves leave it) is never corrected.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PiConfig {
    /// Kp = gain / tolerance.
    pub gain: f64,
    /// Ti, minutes: Ki = Kp / Ti.
    pub integral_minutes: f64,
    /// Errors within this many °C of target count as none, as a fraction of the tolerance.
    pub dead_band_fraction: f64,
}

impl Default for PiConfig {
    fn default() -> Self {
        PiConfig {
            gain: 1.25,
            integral_minutes: 90.0,
            dead_band_fraction: 0.1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlConfig {
    /// Off by default: the controller computes and records what it would write, and writes
    /// nothing (except to undo a curve of its own left on the device).
    pub enabled: bool,
    pub mode: ControlMode,
    /// The room target of this house, °C.
    pub target: f64,
    /// Acceptable deviation from the target, °C; must be above zero.
    pub tolerance: f64,
    /// No curve point is ever written above this, °C.
    pub max_supply_temp: f64,
    /// §7a: how long a reduction lasts, hours.
    pub reduction_hours: f64,
    /// §7b: the smallest change of shift worth a write, °C.
    pub min_write_step: f64,
    /// τ to use while the thermal model has none, hours (the seed's 80).
    pub default_tau_hours: f64,
    pub pi: PiConfig,
    /// The worker reads the house and steps the controller this often (real seconds).
    pub poll_interval_secs: u64,
    /// The weather forecast is fetched and the indoor forecast issued this often (real seconds).
    pub forecast_interval_secs: u64,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            enabled: false,
            mode: ControlMode::Intelligent,
            target: 21.0,
            tolerance: 1.0,
            max_supply_temp: 55.0,
            reduction_hours: 72.0,
            min_write_step: 0.3,
            default_tau_hours: 80.0,
            pi: PiConfig::default(),
            poll_interval_secs: 300,
            forecast_interval_secs: 3600,
        }
    }
}

/// Lowest supply temperature ever written: the room plus this.
pub const MIN_SUPPLY_OVER_ROOM: f64 = 2.0;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("heat_curve_control.{field} = {value}: {why}")]
    Invalid {
        field: &'static str,
        value: f64,
        why: &'static str,
    },
}

impl ControlConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let check = |field, value: f64, ok: bool, why| {
            if ok && value.is_finite() {
                Ok(())
            } else {
                Err(ConfigError::Invalid { field, value, why })
            }
        };
        check(
            "tolerance",
            self.tolerance,
            self.tolerance > 0.0,
            "must be above 0 (the PI gain is 1.25/tolerance)",
        )?;
        check(
            "target",
            self.target,
            (5.0..=30.0).contains(&self.target),
            "must be a room temperature between 5 and 30 °C",
        )?;
        check(
            "max_supply_temp",
            self.max_supply_temp,
            self.max_supply_temp >= self.target + MIN_SUPPLY_OVER_ROOM + 5.0,
            "must be at least 7 °C above the target",
        )?;
        check(
            "reduction_hours",
            self.reduction_hours,
            self.reduction_hours > 0.0,
            "must be above 0",
        )?;
        check(
            "min_write_step",
            self.min_write_step,
            self.min_write_step >= 0.0,
            "must be 0 or more",
        )?;
        check(
            "default_tau_hours",
            self.default_tau_hours,
            self.default_tau_hours > 0.0,
            "must be above 0",
        )?;
        check(
            "pi.gain",
            self.pi.gain,
            self.pi.gain > 0.0,
            "must be above 0",
        )?;
        check(
            "pi.integral_minutes",
            self.pi.integral_minutes,
            self.pi.integral_minutes > 0.0,
            "must be above 0",
        )?;
        check(
            "pi.dead_band_fraction",
            self.pi.dead_band_fraction,
            (0.0..=1.0).contains(&self.pi.dead_band_fraction),
            "must be between 0 and 1",
        )?;
        check(
            "poll_interval_secs",
            self.poll_interval_secs as f64,
            self.poll_interval_secs > 0,
            "must be above 0",
        )?;
        check(
            "forecast_interval_secs",
            self.forecast_interval_secs as f64,
            self.forecast_interval_secs > 0,
            "must be above 0",
        )
    }
}
