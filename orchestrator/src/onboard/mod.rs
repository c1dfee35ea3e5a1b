//! Onboarding and offboarding: `hemflux add-house`, `add-building` and `remove`.
//!
//! Adding verifies the credentials against the vendor's API before anything is written, then
//! writes the credentials into `.env` (0600) and the config file (atomically) into `profiles/` or
//! `buildings/`, where the running orchestrator picks it up. Removing is hard (config,
//! credentials and every stored point go now) or soft (config and credentials go now and are
//! kept in `<data>/offboarded.json` for a 30-day grace period, during which `--restore` brings
//! them back; [`purge_due`] deletes the data afterwards).

mod add;
pub(crate) mod files;
mod offboarded;
mod prompt;
pub mod remove;
mod remove_cli;

use hemflux_clients::{arrigo, homeside};

use std::path::PathBuf;

pub(crate) use add::short_signal_name;
pub use add::{
    add_building, add_house, discover_building, signal_configs, verify_house, write_building,
    write_house, AddBuildingArgs, AddHouseArgs, Discovery, Login, NewEntity, HOMESIDE_URL,
};
pub use arrigo::{Analog, Digital};
pub use offboarded::{purge_daily, purge_due, Offboarded, Purge, Removed, StorePurge, GRACE_DAYS};
pub use remove_cli::{remove, RemoveArgs};

/// Where configs, data and credentials live: `hemflux run`'s flags, which the commands that
/// change them (add, remove) take too, so both sides agree on the defaults.
#[derive(clap::Args, Debug, Clone)]
pub struct Paths {
    /// House profiles, one `<id>.json` each.
    #[arg(long, default_value = "profiles")]
    pub profiles: PathBuf,
    /// Building configs, one `<id>.json` each.
    #[arg(long, default_value = "buildings")]
    pub buildings: PathBuf,
    /// The data folder: the store, worker state and `offboarded.json`.
    #[arg(long, default_value = "data")]
    pub data: PathBuf,
    /// The credentials file (`HOUSE_<id>_USERNAME=...`); `hemflux run` reads it at start and
    /// whenever it changes.
    #[arg(long, default_value = ".env")]
    pub env_file: PathBuf,
}

impl Paths {
    fn folder(&self, kind: hemflux_shared::config::EntityKind) -> &PathBuf {
        match kind {
            hemflux_shared::config::EntityKind::House => &self.profiles,
            hemflux_shared::config::EntityKind::Building => &self.buildings,
        }
    }
}
