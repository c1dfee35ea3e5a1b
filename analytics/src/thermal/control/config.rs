//! The per-house settings of heat-curve control: the profile's `heat_curve_control` section,
//! which lives with the rest of the config model in `hemflux-shared`.

pub use hemflux_shared::config::control::*;
