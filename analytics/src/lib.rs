//! hemflux's analytics as pure functions: no I/O and no clock (time comes in as an argument), so
//! the workers, the CLI, the tests and the benchmarks all call the same code.
//!
//! - [`energy`]: local days, effective outdoor temperature, heat-loss coefficient (k) by
//!   regression, the hot-water split, gaps and the energy forecast.
//! - [`thermal`]: the thermal model of a house, the indoor forecast and heat-curve control.
//! - [`meters`]: meter readings in, consumption out (interpolation, gap filling, replacements,
//!   master and virtual meters, anomalies).

pub mod energy;
pub mod meters;
pub mod thermal;
