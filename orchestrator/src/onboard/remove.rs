//! Removing a house or building: hard (config, credentials and every stored point go now) or
//! soft (config and credentials go now and wait in `offboarded.json` for the grace period,
//! during which [`restore`] brings them back). `hemflux remove` and the web UI both find what
//! to remove with [`plan`], show [`Plan::preview`] as their confirmation, then call
//! [`soft_remove`] or [`hard_remove`]; each returns what it did, line by line.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use hemflux_shared::config::{desired_workers, parse_entity, Entity, EntityKind, Globals};
use jiff::{SignedDuration, Timestamp};

use super::files::{env_get, env_remove, env_set, write_atomic};
use super::offboarded::{kind_name, tag_key, Offboarded, Purge, Removed, GRACE_DAYS, STATE_FILE};
use super::Paths;
use crate::store::Reader;

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

/// What removing one entity touches, found before anything changes.
#[derive(Debug)]
pub struct Plan {
    pub id: String,
    pub kind: EntityKind,
    /// Its config file.
    pub file: PathBuf,
    text: String,
    /// The `.env` keys that go: the entity's, less those another entity still reads.
    pub keys: Vec<String>,
    /// The workers its config starts.
    pub workers: Vec<String>,
    /// Per measurement, the series and points stored for it; `None` until [`Plan::count_stored`].
    pub stored: Option<Vec<(String, u64, u64)>>,
}

/// Finds entity `id` among `kinds` (both when a house and a building may share it).
pub fn plan(paths: &Paths, id: &str, kinds: &[EntityKind]) -> Result<Plan> {
    let all = scan(paths, &[EntityKind::House, EntityKind::Building])?;
    let mut hits = all
        .iter()
        .filter(|f| kinds.contains(&f.kind) && matches(f, id));
    let target = match (hits.next(), hits.next()) {
        (Some(t), None) => t,
        (None, _) => bail!(
            "no {} with id {id:?} in {}",
            kinds_text(kinds),
            folders_text(paths, kinds)
        ),
        (Some(a), Some(b)) => bail!(
            "{id:?} is both {} and {}: say which (--type house|building)",
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
    Ok(Plan {
        id: id.to_string(),
        kind: target.kind,
        file: target.file.clone(),
        text: target.text.clone(),
        keys: secret_keys(target)
            .into_iter()
            .filter(|k| !still_used.contains(k))
            .collect(),
        workers: worker_ids(target),
        stored: None,
    })
}

impl Plan {
    /// The tag every point of this entity carries, `house_id=<id>` or `building_id=<id>`.
    pub fn tag(&self) -> String {
        format!("{}={}", tag_key(self.kind), self.id)
    }

    /// Counts what the store holds for it, for the preview.
    pub fn count_stored(&mut self, store: &Reader) -> Result<()> {
        self.stored = Some(store.tagged_counts(tag_key(self.kind), &self.id)?);
        Ok(())
    }

    /// What a soft (or hard) removal would do, line by line: `hemflux remove --dry-run` prints
    /// it and the web UI shows it before asking to confirm.
    pub fn preview(&self, paths: &Paths, soft: bool, now: Timestamp) -> Vec<String> {
        let tag = self.tag();
        let mut lines = vec![
            format!(
                "Would delete {} (its workers stop within seconds).",
                self.file.display()
            ),
            format!(
                "Would remove from {}: {}",
                paths.env_file.display(),
                list(&self.keys)
            ),
        ];
        if let Some(stored) = &self.stored {
            let (series, points) = stored
                .iter()
                .fold((0, 0), |(s, p), (_, ns, np)| (s + ns, p + np));
            let each: Vec<String> = stored
                .iter()
                .map(|(m, s, p)| format!("{m}: {p} points in {s} series"))
                .collect();
            lines.push(format!(
                "The store holds {points} points in {series} series tagged {tag}{}{}",
                if each.is_empty() { "" } else { ": " },
                each.join(", ")
            ));
        }
        if soft {
            lines.push(format!(
                "Would keep config and credentials in {} until {},",
                paths.data.join(STATE_FILE).display(),
                purge_after(now)
            ));
            lines.push(format!(
                "then purge every point tagged {tag} from the store and the sinks."
            ));
        } else {
            lines.push(format!(
                "Would purge every point tagged {tag} from the store and every sink now."
            ));
        }
        lines
    }
}

fn purge_after(now: Timestamp) -> Timestamp {
    now + SignedDuration::from_hours(24 * GRACE_DAYS)
}

/// Deletes the config file and the credentials it alone reads.
fn delete_config(paths: &Paths, plan: &Plan, done: &mut Vec<String>) -> Result<()> {
    std::fs::remove_file(&plan.file)
        .with_context(|| format!("deleting {}", plan.file.display()))?;
    done.push(format!(
        "Deleted {}: its workers stop within seconds.",
        plan.file.display()
    ));
    let removed = env_remove(&paths.env_file, &plan.keys)?;
    done.push(format!(
        "Removed {} credential(s) from {}.",
        removed.len(),
        paths.env_file.display()
    ));
    Ok(())
}

/// Keeps config and credentials in `offboarded.json` until the grace period ends, then
/// deletes them from the config folder and `.env`; returns what it did.
pub fn soft_remove(paths: &Paths, plan: &Plan, now: Timestamp) -> Result<Vec<String>> {
    let purge_after = purge_after(now);
    let mut state = Offboarded::load(&paths.data)?;
    state
        .entities
        .retain(|e| !(e.id == plan.id && e.kind == plan.kind));
    state.entities.push(Removed {
        id: plan.id.clone(),
        kind: plan.kind,
        removed_at: now,
        purge_after,
        config_file: plan.file.clone(),
        config: plan.text.clone(),
        credentials: env_get(&paths.env_file, &plan.keys)?.into_iter().collect(),
    });
    // Saved before anything is deleted: a crash in between loses nothing.
    state.save(&paths.data)?;
    let mut done = Vec::new();
    delete_config(paths, plan, &mut done)?;
    done.push(format!(
        "Soft removal of {} {}: data kept until {purge_after}; `hemflux remove {} --restore` brings it back until then.",
        kind_name(plan.kind),
        plan.id,
        plan.id
    ));
    Ok(done)
}

/// Deletes config and credentials, waits for `stopped` (its workers gone, so that no last
/// point lands after the purge), then purges every point; returns what it did.
pub async fn hard_remove(
    paths: &Paths,
    plan: &Plan,
    stopped: impl Future<Output = ()>,
    purger: &impl Purge,
) -> Result<Vec<String>> {
    let mut done = Vec::new();
    delete_config(paths, plan, &mut done)?;
    stopped.await;
    let report = purger.purge(tag_key(plan.kind), &plan.id).await?;
    done.push(format!("Purged {}: {report}.", plan.tag()));
    Ok(done)
}

/// Undoes the soft removal of `id` within its grace period; with `dry_run`, only says what it
/// would do. Returns the lines to show.
pub fn restore(
    paths: &Paths,
    id: &str,
    kinds: &[EntityKind],
    now: Timestamp,
    dry_run: bool,
) -> Result<Vec<String>> {
    let mut state = Offboarded::load(&paths.data)?;
    let Some(pos) = state
        .entities
        .iter()
        .position(|e| e.id == id && kinds.contains(&e.kind))
    else {
        bail!(
            "{id:?} is not soft-removed (never removed, removed hard, or already purged after its grace period)"
        );
    };
    let entry = state.entities[pos].clone();
    if entry.purge_after <= now {
        bail!(
            "the grace period of {id:?} ended at {}: it is being purged and cannot be restored",
            entry.purge_after
        );
    }
    if entry.config.is_empty() {
        bail!(
            "{id:?} was removed by the seed system before `hemflux migrate`, which kept no config to \
             restore: add it again (hemflux add-house / add-building)"
        );
    }
    if entry.config_file.exists() {
        bail!(
            "{} exists again: move it away before restoring",
            entry.config_file.display()
        );
    }
    let keys: Vec<String> = entry.credentials.keys().cloned().collect();
    if dry_run {
        return Ok(vec![format!(
            "Would write {} and put back {} in {}.",
            entry.config_file.display(),
            list(&keys),
            paths.env_file.display()
        )]);
    }
    let creds: Vec<(String, String)> = entry.credentials.into_iter().collect();
    env_set(&paths.env_file, &creds)?;
    write_atomic(&entry.config_file, entry.config.as_bytes(), 0o644)?;
    state.entities.remove(pos);
    state.save(&paths.data)?;
    Ok(vec![format!(
        "Restored {} {id}: {} and its credentials are back.",
        kind_name(entry.kind),
        entry.config_file.display()
    )])
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
    use crate::onboard::offboarded::{cancel_purge, purge_due};
    use std::path::Path;
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

    const BOTH: [EntityKind; 2] = [EntityKind::House, EntityKind::Building];

    fn soft(dir: &Path) -> Vec<String> {
        let p = paths(dir);
        let plan = plan(&p, "kontor", &BOTH).unwrap();
        soft_remove(&p, &plan, Timestamp::now()).unwrap()
    }

    fn restore_now(dir: &Path) -> Result<Vec<String>> {
        restore(&paths(dir), "kontor", &BOTH, Timestamp::now(), false)
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
        soft(d);
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
        assert!(restore_now(d).is_err());
    }

    #[tokio::test]
    async fn restore_within_grace_brings_back_config_and_credentials() {
        let dir = setup();
        let d = dir.path();
        soft(d);
        restore_now(d).unwrap();
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
        soft(d);
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
        let plan = plan(&paths(d), "kontor", &BOTH).unwrap();
        let preview = plan.preview(&paths(d), false, Timestamp::now()).join("\n");
        assert!(preview.contains("BUILDING_kontor_PASSWORD"), "{preview}");
        assert!(preview.contains("building_id=kontor"), "{preview}");
        assert!(d.join("buildings/kontor.json").exists());
        assert!(!d.join("data/offboarded.json").exists());
        // A second building reading the same credentials keeps them in .env.
        std::fs::write(
            d.join("buildings/annex.json"),
            r#"{"credential_ref": "BUILDING_kontor", "arrigo": {"base_url": "http://127.0.0.1:9/arrigo/api"}}"#,
        )
        .unwrap();
        soft(d);
        assert!(std::fs::read_to_string(d.join(".env"))
            .unwrap()
            .contains("BUILDING_kontor_PASSWORD"));
    }

    #[tokio::test]
    async fn hard_removal_deletes_config_and_credentials_then_purges() {
        let dir = setup();
        let d = dir.path();
        let p = paths(d);
        let plan = plan(&p, "kontor", &BOTH).unwrap();
        let rec = Recorder::default();
        let done = hard_remove(&p, &plan, async {}, &rec).await.unwrap();
        assert!(!d.join("buildings/kontor.json").exists());
        assert_eq!(std::fs::read_to_string(d.join(".env")).unwrap(), "KEEP=1\n");
        assert_eq!(*rec.0.lock().unwrap(), ["building_id=kontor"]);
        assert!(done
            .last()
            .unwrap()
            .contains("Purged building_id=kontor: recorded"));
        assert!(restore_now(d).is_err(), "a hard removal cannot be restored");
    }
}
