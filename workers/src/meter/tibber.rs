use anyhow::{bail, Result};
use hemflux_shared::config::TibberConfig;

use crate::link::Worker;

pub async fn run(_worker: Worker, _cfg: TibberConfig) -> Result<()> {
    bail!("the Tibber meter is being built")
}
