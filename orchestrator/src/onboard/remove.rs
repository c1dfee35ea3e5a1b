//! `hemflux remove <id>`: hard, soft (with `--restore` within the grace period), or a dry run.
//! Soft removals are kept in `<data>/offboarded.json` (mode 0600: it holds the credentials so
//! that a restore can put them back); [`purge_due`] purges their data once the grace is over.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use hemflux_shared::config::{desired_workers, parse_entity, Entity, EntityKind, Globals};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::files::{env_get, env_remove, env_set, write_atomic};
use super::Paths;

/// How long a soft removal can be undone before its data is purged.
pub const GRACE_DAYS: i64 = 30;
const STATE_FILE: &str = "offboarded.json";

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

fn tag_key(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::House => "house_id",
        EntityKind::Building => "building_id",
    }
}

fn kind_name(kind: EntityKind) -> &'static str {
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
pub async fn purge_daily(data: PathBuf, purger: StorePurge) {
    let mut day = tokio::time::interval(std::time::Duration::from_secs(24 * 3600));
    loop {
        day.tick().await;
        if let Err(e) = purge_due(Timestamp::now(), &data, &purger).await {
            tracing::warn!("the daily purge of soft-removed entities failed: {e:#}");
        }
    }
}

/// A config file on disk and what it says.
struct Found {
    file: PathBuf,
    kind: EntityKind,
    text: String,
    /// Parsed, when it is valid (a broken file can still be removed).
    entity: Option<Entity>,
}

/// Every config file of the folders asked for; `entity` is `None` for invalid ones.
fn scan(paths: &Paths, kinds: &[EntityKind]) -> Result<Vec<Found>> {
    let mut found = Vec::new();
    for &kind in kinds {
        let dir = paths.folder(kind);
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries {
            let file = entry?.path();
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let entity = parse_entity(kind, &file, &text).ok();
            found.push(Found {
                file,
                kind,
                text,
                entity,
            });
        }
    }
    Ok(found)
}

fn matches(f: &Found, id: &str) -> bool {
    match &f.entity {
        Some(e) => e.id() == id,
        None => f.file.file_stem().and_then(|s| s.to_str()) == Some(id),
    }
}

/// The `.env` keys an entity's workers read.
fn secret_keys(f: &Found) -> BTreeSet<String> {
    let Some(entity) = &f.entity else {
        let prefix = match f.kind {
            EntityKind::House => "HOUSE",
            EntityKind::Building => "BUILDING",
        };
        let id = f
            .file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        return [
            format!("{prefix}_{id}_USERNAME"),
            format!("{prefix}_{id}_PASSWORD"),
            format!("{prefix}_{id}_URL"),
        ]
        .into();
    };
    let (specs, _) = desired_workers(&[(f.file.clone(), entity.clone())], &Globals::default());
    specs
        .into_iter()
        .flat_map(|s| {
            // Where the credentials were verified goes with them.
            let verified = s
                .credentials
                .into_iter()
                .map(|c| format!("{}_URL", c.prefix));
            s.secrets.into_iter().map(|s| s.env).chain(verified)
        })
        .collect()
}

/// The ids of the workers an entity's config starts.
fn worker_ids(f: &Found) -> Vec<String> {
    let Some(entity) = &f.entity else {
        return Vec::new();
    };
    let (specs, _) = desired_workers(&[(f.file.clone(), entity.clone())], &Globals::default());
    specs.into_iter().map(|s| s.id).collect()
}

/// Waits (at most 20 s) until the orchestrator at `listen` runs none of `ids`; returns at once
/// when no orchestrator answers there.
async fn wait_stopped(listen: std::net::SocketAddr, data: &Path, ids: &[String]) {
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
    if args.restore {
        return restore(&args, &kinds, Timestamp::now());
    }
    let all = scan(&args.paths, &[EntityKind::House, EntityKind::Building])?;
    let mut hits = all
        .iter()
        .filter(|f| kinds.contains(&f.kind) && matches(f, &args.id));
    let target = match (hits.next(), hits.next()) {
        (Some(t), None) => t,
        (None, _) => bail!(
            "no {} with id {:?} in {}",
            kinds_text(&kinds),
            args.id,
            folders_text(&args.paths, &kinds)
        ),
        (Some(a), Some(b)) => bail!(
            "{:?} is both {} and {}: say which with --type",
            args.id,
            a.file.display(),
            b.file.display()
        ),
    };
    // Keys another entity still reads (a shared credential_ref) stay in `.env`.
    let still_used: BTreeSet<String> = all
        .iter()
        .filter(|f| !std::ptr::eq(*f, target))
        .flat_map(secret_keys)
        .collect();
    let keys: Vec<String> = secret_keys(target)
        .into_iter()
        .filter(|k| !still_used.contains(k))
        .collect();
    let what = format!("{} {}", kind_name(target.kind), args.id);
    let tag = format!("{}={}", tag_key(target.kind), args.id);
    let now = Timestamp::now();
    let purge_after = now + SignedDuration::from_hours(24 * GRACE_DAYS);

    if args.dry_run {
        println!("Dry run: nothing is changed.");
        println!(
            "Would delete {} (its workers stop within seconds).",
            target.file.display()
        );
        println!(
            "Would remove from {}: {}",
            args.paths.env_file.display(),
            list(&keys)
        );
        if args.soft {
            println!(
                "Would keep config and credentials in {} until {purge_after},",
                args.paths.data.join(STATE_FILE).display()
            );
            println!("then purge every point tagged {tag} from the store and the sinks.");
        } else {
            println!("Would purge every point tagged {tag} from the store and every sink now.");
        }
        return Ok(());
    }

    if args.soft {
        let mut state = Offboarded::load(&args.paths.data)?;
        state
            .entities
            .retain(|e| !(e.id == args.id && e.kind == target.kind));
        state.entities.push(Removed {
            id: args.id.clone(),
            kind: target.kind,
            removed_at: now,
            purge_after,
            config_file: target.file.clone(),
            config: target.text.clone(),
            credentials: env_get(&args.paths.env_file, &keys)?.into_iter().collect(),
        });
        // Saved before anything is deleted: a crash in between loses nothing.
        state.save(&args.paths.data)?;
    }
    std::fs::remove_file(&target.file)
        .with_context(|| format!("deleting {}", target.file.display()))?;
    println!(
        "Deleted {}: its workers stop within seconds.",
        target.file.display()
    );
    let removed = env_remove(&args.paths.env_file, &keys)?;
    println!(
        "Removed {} credential(s) from {}.",
        removed.len(),
        args.paths.env_file.display()
    );
    if args.soft {
        println!(
            "Soft removal of {what}: data kept until {purge_after}; `hemflux remove {} --restore` brings it back until then.",
            args.id
        );
    } else {
        wait_stopped(args.listen, &args.paths.data, &worker_ids(target)).await;
        let purger = StorePurge::open(
            &args.paths.data,
            args.config.as_deref(),
            &args.paths.env_file,
        )?;
        let report = purger.purge(tag_key(target.kind), &args.id).await?;
        println!("Purged {tag}: {report}.");
    }
    Ok(())
}

fn restore(args: &RemoveArgs, kinds: &[EntityKind], now: Timestamp) -> Result<()> {
    let mut state = Offboarded::load(&args.paths.data)?;
    let Some(pos) = state
        .entities
        .iter()
        .position(|e| e.id == args.id && kinds.contains(&e.kind))
    else {
        bail!(
            "{:?} is not soft-removed (never removed, removed hard, or already purged after its grace period)",
            args.id
        );
    };
    let entry = state.entities[pos].clone();
    if entry.purge_after <= now {
        bail!(
            "the grace period of {:?} ended at {}: it is being purged and cannot be restored",
            args.id,
            entry.purge_after
        );
    }
    if entry.config.is_empty() {
        bail!(
            "{:?} was removed by the seed system before `hemflux migrate`, which kept no config to \
             restore: add it again (hemflux add-house / add-building)",
            args.id
        );
    }
    if entry.config_file.exists() {
        bail!(
            "{} exists again: move it away before restoring",
            entry.config_file.display()
        );
    }
    let keys: Vec<String> = entry.credentials.keys().cloned().collect();
    if args.dry_run {
        println!(
            "Dry run: would write {} and put back {} in {}.",
            entry.config_file.display(),
            list(&keys),
            args.paths.env_file.display()
        );
        return Ok(());
    }
    let creds: Vec<(String, String)> = entry.credentials.into_iter().collect();
    env_set(&args.paths.env_file, &creds)?;
    write_atomic(&entry.config_file, entry.config.as_bytes(), 0o644)?;
    state.entities.remove(pos);
    state.save(&args.paths.data)?;
    println!(
        "Restored {} {}: {} and its credentials are back.",
        kind_name(entry.kind),
        args.id,
        entry.config_file.display()
    );
    Ok(())
}

fn list(keys: &[String]) -> String {
    if keys.is_empty() {
        "nothing".into()
    } else {
        keys.join(", ")
    }
}

fn kinds_text(kinds: &[EntityKind]) -> &'static str {
    match kinds {
        [k] => kind_name(*k),
        _ => "house or building",
    }
}

fn folders_text(paths: &Paths, kinds: &[EntityKind]) -> String {
    kinds
        .iter()
        .map(|k| paths.folder(*k).display().to_string())
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records what it was asked to purge.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl Purge for Recorder {
        async fn purge(&self, tag_key: &str, value: &str) -> Result<String> {
            self.0.lock().unwrap().push(format!("{tag_key}={value}"));
            Ok("recorded".into())
        }
    }

    fn paths(dir: &Path) -> Paths {
        Paths {
            profiles: dir.join("profiles"),
            buildings: dir.join("buildings"),
            data: dir.join("data"),
            env_file: dir.join(".env"),
        }
    }

    fn args(dir: &Path, soft: bool, restore: bool) -> RemoveArgs {
        RemoveArgs {
            id: "kontor".into(),
            kind: None,
            soft,
            restore,
            dry_run: false,
            paths: paths(dir),
            config: None,
            listen: "127.0.0.1:9".parse().unwrap(),
        }
    }

    const BUILDING: &str = r#"{"arrigo": {"base_url": "http://127.0.0.1:9/arrigo/api"}}"#;

    fn setup() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for d in ["profiles", "buildings", "data"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("buildings/kontor.json"), BUILDING).unwrap();
        std::fs::write(
            dir.path().join(".env"),
            "BUILDING_kontor_USERNAME='u'\nBUILDING_kontor_PASSWORD='p w'\nKEEP=1\n",
        )
        .unwrap();
        dir
    }

    #[tokio::test]
    async fn soft_removal_purges_only_after_the_grace_period_with_an_injected_clock() {
        let dir = setup();
        let d = dir.path();
        remove(args(d, true, false)).await.unwrap();
        assert!(!d.join("buildings/kontor.json").exists());
        assert_eq!(std::fs::read_to_string(d.join(".env")).unwrap(), "KEEP=1\n");
        let state_mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(d.join("data/offboarded.json"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(state_mode & 0o777, 0o600);
        let removed_at = Offboarded::load(&d.join("data")).unwrap().entities[0].removed_at;

        let rec = Recorder::default();
        let day = SignedDuration::from_hours(24);
        for days in [0, 1, 29] {
            let purged = purge_due(removed_at + day * days, &d.join("data"), &rec)
                .await
                .unwrap();
            assert!(purged.is_empty(), "purged on day {days}");
        }
        let purged = purge_due(removed_at + day * 30, &d.join("data"), &rec)
            .await
            .unwrap();
        assert_eq!(purged, ["kontor"]);
        assert_eq!(*rec.0.lock().unwrap(), ["building_id=kontor"]);
        assert!(Offboarded::load(&d.join("data"))
            .unwrap()
            .entities
            .is_empty());
        // Done once: the next day purges nothing, and a restore is refused.
        assert!(purge_due(removed_at + day * 31, &d.join("data"), &rec)
            .await
            .unwrap()
            .is_empty());
        assert!(remove(args(d, false, true)).await.is_err());
    }

    #[tokio::test]
    async fn restore_within_grace_brings_back_config_and_credentials() {
        let dir = setup();
        let d = dir.path();
        remove(args(d, true, false)).await.unwrap();
        remove(args(d, false, true)).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("buildings/kontor.json")).unwrap(),
            BUILDING
        );
        let env = std::fs::read_to_string(d.join(".env")).unwrap();
        assert!(
            env.contains("BUILDING_kontor_USERNAME='u'")
                && env.contains("BUILDING_kontor_PASSWORD='p w'"),
            "{env}"
        );
        assert!(Offboarded::load(&d.join("data"))
            .unwrap()
            .entities
            .is_empty());
        let rec = Recorder::default();
        let later = Timestamp::now() + SignedDuration::from_hours(24 * 40);
        assert!(
            purge_due(later, &d.join("data"), &rec)
                .await
                .unwrap()
                .is_empty(),
            "a restored entity is never purged"
        );
    }

    #[tokio::test]
    async fn adding_a_soft_removed_entity_again_cancels_its_purge() {
        let dir = setup();
        let d = dir.path();
        remove(args(d, true, false)).await.unwrap();
        assert!(!cancel_purge(&d.join("data"), EntityKind::House, "kontor").unwrap());
        assert!(cancel_purge(&d.join("data"), EntityKind::Building, "kontor").unwrap());
        let later = Timestamp::now() + SignedDuration::from_hours(24 * 40);
        let purged = purge_due(later, &d.join("data"), &Recorder::default())
            .await
            .unwrap();
        assert!(purged.is_empty());
    }

    #[tokio::test]
    async fn dry_run_changes_nothing_and_shared_credentials_stay() {
        let dir = setup();
        let d = dir.path();
        let mut a = args(d, false, false);
        a.dry_run = true;
        remove(a).await.unwrap();
        assert!(d.join("buildings/kontor.json").exists());
        assert!(!d.join("data/offboarded.json").exists());
        // A second building reading the same credentials keeps them in .env.
        std::fs::write(
            d.join("buildings/annex.json"),
            r#"{"credential_ref": "BUILDING_kontor", "arrigo": {"base_url": "http://127.0.0.1:9/arrigo/api"}}"#,
        )
        .unwrap();
        remove(args(d, true, false)).await.unwrap();
        assert!(std::fs::read_to_string(d.join(".env"))
            .unwrap()
            .contains("BUILDING_kontor_PASSWORD"));
    }
}
