//! Watches `profiles/`, `buildings/` and `.env`, and tells the supervisor what the config asks
//! for whenever it changes. File events (notify, debounced) make it fast; a periodic full rescan
//! makes it safe on mounts where inotify misses events. A folder that is missing at start, or
//! deleted and recreated, is picked up by the rescan.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use hemflux_shared::config::{ConfigError, Globals, WorkerSpec};
use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::configset::{hash_of, is_config_file, ConfigSet};
use crate::credentials::{refuse_unbound, CredentialSettings};
use crate::logging::EntityInfo;
use crate::secrets::Secrets;
use crate::settings::SupervisorSettings;
use crate::supervisor::Request;

pub struct Folders {
    pub profiles: PathBuf,
    pub buildings: PathBuf,
    pub env_file: PathBuf,
    /// `meters.yaml` (read at every rescan: the `meters` worker runs while it is there).
    pub meters: PathBuf,
}

impl Folders {
    fn relevant(&self, path: &Path) -> bool {
        path == self.profiles
            || path == self.buildings
            || path == self.env_file
            || (is_config_file(path)
                && (path.parent() == Some(&self.profiles)
                    || path.parent() == Some(&self.buildings)))
    }
}

/// Whether an event can mean a change. Our own reads raise `open` and `close` events: reacting
/// to those would re-read every file again and again.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        _ => true,
    }
}

/// Runs until the supervisor goes away.
pub async fn run(
    folders: Folders,
    mut globals: Globals,
    settings: SupervisorSettings,
    credentials: CredentialSettings,
    supervisor: mpsc::Sender<Request>,
) -> Result<()> {
    let (tx, mut events) = mpsc::unbounded_channel::<()>();
    let filter = Folders {
        profiles: folders.profiles.clone(),
        buildings: folders.buildings.clone(),
        env_file: folders.env_file.clone(),
        meters: folders.meters.clone(),
    };
    let mut watcher =
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(ev) if is_change(&ev.kind) && ev.paths.iter().any(|p| filter.relevant(p)) => {
                let _ = tx.send(());
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("file watcher: {e}"),
        })?;
    let mut watched: BTreeMap<PathBuf, Option<(u64, u64)>> = BTreeMap::new();
    let mut set = ConfigSet::default();
    let mut last_sent = None;
    // A broken `.env` is reported (once) and the credentials read before stay in use.
    let mut secrets = Secrets::default();
    let mut env_error = None;
    // Credential refusals logged so far (each is logged once, when it appears).
    let mut refused = std::collections::BTreeSet::new();
    let mut rescan = tokio::time::interval(Duration::from_millis(settings.rescan_ms));
    rescan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = rescan.tick() => {}
            Some(()) = events.recv() => {
                // Debounce: wait for a quiet moment (an editor's save is several events).
                let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
                while let Ok(Some(())) = tokio::time::timeout_at(
                    deadline.min(tokio::time::Instant::now() + Duration::from_millis(settings.debounce_ms)),
                    events.recv(),
                ).await {}
            }
        }
        refresh_watches(&mut watcher, &folders, &mut watched);
        match Secrets::read(&folders.env_file) {
            Ok(s) => {
                secrets = s;
                env_error = None;
            }
            Err(e) => {
                if env_error.as_ref() != Some(&e) {
                    tracing::error!("{e} (the credentials read before stay in use)");
                }
                env_error = Some(e);
            }
        }
        globals.dropbox_in_env = secrets.has_dropbox();
        let meters_error = match crate::meters::definitions_for_worker(&folders.meters) {
            Ok(d) => {
                globals.meter_definitions = d;
                None
            }
            // Broken definitions stop the meters worker until they are fixed (as `check` says).
            Err(e) => {
                globals.meter_definitions = None;
                Some(ConfigError {
                    file: folders.meters.clone(),
                    line: 0,
                    column: 0,
                    path: String::new(),
                    message: format!("{e:#}"),
                })
            }
        };
        let snapshot = set.rescan(&folders.profiles, &folders.buildings, &globals);
        let (specs, mut errors) = refuse_unbound(snapshot.specs, &secrets, &credentials);
        crate::logging::set_seq_entities(seq_entities(&snapshot.names, &specs, &secrets));
        let refusals: std::collections::BTreeSet<String> =
            errors.iter().map(ToString::to_string).collect();
        for e in refusals.difference(&refused) {
            tracing::error!("{e}");
        }
        refused = refusals;
        errors.extend(snapshot.errors);
        errors.extend(env_error.clone());
        errors.extend(meters_error);
        let fingerprint = hash_of((
            serde_json::to_string(&specs).unwrap_or_default(),
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            format!("{secrets:?}"),
        ));
        if last_sent == Some(fingerprint) {
            continue;
        }
        last_sent = Some(fingerprint);
        let req = Request::Desired {
            specs,
            errors,
            secrets: secrets.clone(),
        };
        if supervisor.send(req).await.is_err() {
            return Ok(());
        }
    }
}

/// The Seq properties of each entity: its name, and the login its own workers use.
fn seq_entities(
    names: &BTreeMap<String, String>,
    specs: &[WorkerSpec],
    secrets: &Secrets,
) -> BTreeMap<String, EntityInfo> {
    let mut table: BTreeMap<String, EntityInfo> = names
        .iter()
        .map(|(id, name)| {
            let info = EntityInfo {
                name: name.clone(),
                username: None,
            };
            (id.clone(), info)
        })
        .collect();
    for c in specs.iter().flat_map(|s| &s.credentials) {
        if let Some(info) = table.get_mut(&c.entity) {
            if info.username.is_none() {
                info.username = secrets.get(&format!("{}_USERNAME", c.prefix));
            }
        }
    }
    table
}

/// Watches each folder (and the folders that hold them and `.env`, to see them appear). A folder
/// recreated under the same name is a new inode and needs a new watch.
fn refresh_watches(
    watcher: &mut notify::RecommendedWatcher,
    folders: &Folders,
    watched: &mut BTreeMap<PathBuf, Option<(u64, u64)>>,
) {
    let parent = |p: &Path| {
        p.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    };
    let dirs = [
        folders.profiles.clone(),
        folders.buildings.clone(),
        parent(&folders.profiles),
        parent(&folders.buildings),
        parent(&folders.env_file),
    ];
    for dir in dirs {
        let identity = std::fs::metadata(&dir)
            .ok()
            .filter(|m| m.is_dir())
            .map(|m| (m.dev(), m.ino()));
        if watched.get(&dir) == Some(&identity) {
            continue;
        }
        let _ = watcher.unwatch(&dir);
        if identity.is_some() {
            if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
                tracing::warn!(
                    "cannot watch {}: {e}; relying on the periodic rescan",
                    dir.display()
                );
            }
        }
        watched.insert(dir, identity);
    }
}
