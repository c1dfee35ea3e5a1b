//! `hemflux remove <id>`: hard, soft (with `--restore` within the grace period), or a dry run,
//! printing what [`super::remove`] plans and does.

use std::path::{Path, PathBuf};

use anyhow::Result;
use hemflux_shared::config::EntityKind;
use jiff::Timestamp;

use super::offboarded::StorePurge;
use super::remove::{hard_remove, plan, restore, soft_remove};
use super::Paths;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Type {
    House,
    Building,
}

impl From<Type> for EntityKind {
    fn from(t: Type) -> EntityKind {
        match t {
            Type::House => EntityKind::House,
            Type::Building => EntityKind::Building,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct RemoveArgs {
    /// The house or building id.
    pub id: String,
    /// Which kind of entity, when a house and a building share the id.
    #[arg(long = "type", value_enum)]
    pub kind: Option<Type>,
    /// Remove config and credentials now; purge the data after the grace period.
    #[arg(long)]
    pub soft: bool,
    /// Undo a soft removal that is still within its grace period.
    #[arg(long, conflicts_with = "soft")]
    pub restore: bool,
    /// Print what would happen and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub paths: Paths,
    /// Settings file with the sinks to purge; default `hemflux.toml` next to the data folder.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A running orchestrator's HTTP API: a hard removal waits there for the entity's workers
    /// to stop before purging, so that no last point lands after the purge.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
}

/// Waits (at most 20 s) until the orchestrator at `listen` runs none of `ids`; returns at once
/// when no orchestrator answers there.
pub(crate) async fn wait_stopped(listen: std::net::SocketAddr, data: &Path, ids: &[String]) {
    let api = crate::api::Api::reading(listen, data);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        let Ok(workers) = api.workers().await else {
            return;
        };
        if !workers
            .iter()
            .any(|w| ids.iter().any(|id| w["id"] == id.as_str()))
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tracing::warn!("the orchestrator at {listen} still runs {ids:?}: purging anyway");
}

pub async fn remove(args: RemoveArgs) -> Result<()> {
    let kinds: Vec<EntityKind> = match args.kind {
        Some(t) => vec![t.into()],
        None => vec![EntityKind::House, EntityKind::Building],
    };
    let now = Timestamp::now();
    let print = |lines: Vec<String>| lines.iter().for_each(|l| println!("{l}"));
    if args.restore {
        if args.dry_run {
            println!("Dry run: nothing is changed.");
        }
        print(restore(&args.paths, &args.id, &kinds, now, args.dry_run)?);
        return Ok(());
    }
    let mut plan = plan(&args.paths, &args.id, &kinds)?;
    if args.dry_run {
        // Counting needs the store; a folder without one has nothing to count.
        if let Ok(reader) = crate::store::Reader::open(&args.paths.data) {
            plan.count_stored(&reader)?;
        }
        println!("Dry run: nothing is changed.");
        print(plan.preview(&args.paths, args.soft, now));
        return Ok(());
    }
    if args.soft {
        print(soft_remove(&args.paths, &plan, now)?);
        return Ok(());
    }
    let purger = StorePurge::open(
        &args.paths.data,
        args.config.as_deref(),
        &args.paths.env_file,
    )?;
    let stopped = wait_stopped(args.listen, &args.paths.data, &plan.workers);
    print(hard_remove(&args.paths, &plan, stopped, &purger).await?);
    Ok(())
}
