//! `meter` workers: one per meter in a house profile, by source.

mod register;
mod tibber;
mod wattivahti;

use anyhow::{Context, Result};
use hemflux_shared::config::MeterSource;
use hemflux_shared::kinds::MeterWorker;

use crate::link::Worker;

pub async fn run(worker: Worker, config: MeterWorker) -> Result<()> {
    match config.meter.source {
        MeterSource::Wattivahti(w) => wattivahti::run(worker, w).await,
        MeterSource::Tibber(t) => tibber::run(worker, t).await,
    }
}

/// An HTTP client for vendor APIs: bounded time per request, a User-Agent (Tibber requires one).
pub(crate) fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .user_agent(concat!("hemflux/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")
}

/// After a network failure (no answer at all), the next try comes this soon rather than a full
/// poll later. Errors the service answered with wait for the next poll: retrying them sooner
/// would only spend the rate limit.
pub(crate) const NETWORK_RETRY: std::time::Duration = std::time::Duration::from_secs(300);

/// FNV-1a, 64 bits: a stable hash for a home's poll phase and a token's fingerprint. Not a
/// crate: eight lines, and neither use needs more than a stable spread.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
