//! Soft-removed entities, kept in `<data>/offboarded.json` (mode 0600: it holds the credentials
//! so that a restore can put them back), and the purge of their data once the grace period is
//! over ([`purge_due`], daily in `hemflux run`).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use hemflux_shared::config::EntityKind;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::files::write_atomic;

/// How long a soft removal can be undone before its data is purged.
pub const GRACE_DAYS: i64 = 30;
pub(super) const STATE_FILE: &str = "offboarded.json";

/// A soft-removed entity, with what a restore needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Removed {
    pub id: String,
    pub kind: EntityKind,
    pub removed_at: Timestamp,
    pub purge_after: Timestamp,
    pub config_file: PathBuf,
    pub config: String,
    pub credentials: BTreeMap<String, String>,
}

/// `<data>/offboarded.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Offboarded {
    pub entities: Vec<Removed>,
}

impl Offboarded {
    pub fn load(data: &Path) -> Result<Offboarded> {
        let path = data.join(STATE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Offboarded::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    pub fn save(&self, data: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)? + "\n";
        write_atomic(&data.join(STATE_FILE), text.as_bytes(), 0o600)
    }
}

/// Deletes the stored points of one entity (every series tagged `<kind>_id=<id>`).
pub trait Purge {
    /// Returns what was deleted, for the log.
    fn purge(&self, tag_key: &str, value: &str) -> impl Future<Output = Result<String>> + Send;
}

/// The real purge: the embedded store and every sink that can delete.
pub struct StorePurge {
    pub store: crate::store::Store,
    pub sinks: Vec<crate::sinks::SinkConfig>,
}

impl StorePurge {
    /// Opens the store in `data` with the sinks of `config` and of `.env`.
    pub fn open(data: &Path, config: Option<&Path>, env_file: &Path) -> Result<StorePurge> {
        let path = config
            .map(Path::to_path_buf)
            .unwrap_or_else(|| crate::run::default_config_path(data));
        let settings = crate::settings::Settings::load(&path)?;
        let store = crate::store::Store::open(data, &settings.store)?;
        let sinks = settings.sinks_with_env(&crate::secrets::Secrets::load(env_file)?)?;
        Ok(StorePurge { store, sinks })
    }
}

impl Purge for StorePurge {
    async fn purge(&self, tag_key: &str, value: &str) -> Result<String> {
        let points = self.store.delete_by_tag(tag_key, value).await?;
        let mut report = format!("{points} points deleted from the store");
        for (sink, outcome) in crate::sinks::delete_by_tag(&self.sinks, tag_key, value).await? {
            match outcome {
                Ok(()) => report.push_str(&format!("; deleted from sink {sink}")),
                Err(e) => {
                    tracing::warn!(sink, "purging {tag_key}={value} failed: {e:#}");
                    report.push_str(&format!("; sink {sink} FAILED: {e:#}"));
                }
            }
        }
        Ok(report)
    }
}

pub(super) fn tag_key(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::House => "house_id",
        EntityKind::Building => "building_id",
    }
}

pub(super) fn kind_name(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::House => "house",
        EntityKind::Building => "building",
    }
}

/// Purges every soft removal whose grace period is over at `now`; returns their ids. The
/// orchestrator calls this daily; an entity whose purge fails stays listed and is tried again.
pub async fn purge_due(now: Timestamp, data: &Path, purger: &impl Purge) -> Result<Vec<String>> {
    let mut state = Offboarded::load(data)?;
    let mut purged = Vec::new();
    for entry in state.entities.clone() {
        if entry.purge_after > now {
            continue;
        }
        match purger.purge(tag_key(entry.kind), &entry.id).await {
            Ok(report) => {
                tracing::info!(id = %entry.id, "grace period over, purged: {report}");
                state
                    .entities
                    .retain(|e| !(e.id == entry.id && e.kind == entry.kind));
                state.save(data)?;
                purged.push(entry.id);
            }
            Err(e) => tracing::warn!(id = %entry.id, "purge failed, will retry: {e:#}"),
        }
    }
    Ok(purged)
}

/// Forgets a pending purge of `id` (it is being added again, so its data stays); returns
/// whether there was one.
pub fn cancel_purge(data: &Path, kind: EntityKind, id: &str) -> Result<bool> {
    let mut state = Offboarded::load(data)?;
    let before = state.entities.len();
    state.entities.retain(|e| !(e.id == id && e.kind == kind));
    if state.entities.len() == before {
        return Ok(false);
    }
    state.save(data)?;
    Ok(true)
}

/// What `hemflux run` runs: [`purge_due`] at start and then once a day, for as long as it runs.
pub async fn purge_daily(data: PathBuf, purger: Arc<StorePurge>) {
    let mut day = tokio::time::interval(std::time::Duration::from_secs(24 * 3600));
    loop {
        day.tick().await;
        if let Err(e) = purge_due(Timestamp::now(), &data, purger.as_ref()).await {
            tracing::warn!("the daily purge of soft-removed entities failed: {e:#}");
        }
    }
}
