//! Heating analytics of one house (`../shared/analytics/heating.md` §3, §4, §7):
//!
//! - [`model`]: the thermal model (τ and the radiators' share, fitted with its quality) from
//!   [`history`] (`thermal_history`);
//! - [`forecast`]: the 72 h indoor forecast, with [`bias`] learning scored at the target time
//!   (`temperature_forecast`, `forecast_accuracy`);
//! - [`control`]: heat-curve control (§7a reduction, §7b shift + PI + pre-emptive) as a state
//!   machine that is safe to crash;
//! - [`house`]: a house's physics, which the [`season`] evaluation (and the HomeSide simulator)
//!   run the controller against;
//! - [`seed_analyzer`] and [`model_c`]: the seed's analyzer and forecaster, exactly, as baselines.

pub mod bias;
pub mod control;
pub mod curve;
pub mod forecast;
pub mod history;
pub mod house;
pub mod model;
pub mod model_c;
pub mod season;
pub mod seed_analyzer;
