//! Vendor API clients, one module per vendor, named as the simulators under `tests/sim` are.
//! The workers poll with them; `hemflux add-house` and `add-building` verify credentials and
//! discover signals with the same code, without depending on the workers.

pub mod arrigo;
pub mod dropbox;
pub mod homeside;
pub mod influxdb;
mod oauth;
pub mod smhi;
pub mod tibber;
pub mod wattivahti;
