//! Meter analytics: the fixtures of `../shared/analytics/meters.md` §3.2, property tests, and
//! the seed's own `meters.yaml` run on generated readings.

#[path = "meters/common.rs"]
mod common;
#[path = "meters/definitions.rs"]
mod definitions;
#[path = "meters/fixtures.rs"]
mod fixtures;
#[path = "meters/incremental.rs"]
mod incremental;
#[path = "meters/properties.rs"]
mod properties;
#[path = "meters/seed.rs"]
mod seed;
