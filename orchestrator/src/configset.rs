//! The config folders as the orchestrator sees them: every `*.json` at the top of `profiles/`
//! and `buildings/`, parsed, with the last good version of each file kept so that a half-saved
//! or broken edit never takes a running entity down.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use hemflux_shared::config::{
    desired_workers, parse_entity_bytes, ConfigError, Entity, EntityKind, Globals, WorkerSpec,
};

/// Only `*.json` directly in the folder counts: dotfiles, editor temp files and subfolders
/// (such as `examples/`) are ignored.
pub fn config_files(dir: &Path) -> Vec<PathBuf> {
    config_entries(dir).0
}

/// The `*.json` regular files directly in the folder (through symlinks), and a problem for each
/// entry so named that cannot be read as one: a folder, a FIFO or device (never opened: that
/// could block), a symlink that leads nowhere or in a loop.
pub fn config_entries(dir: &Path) -> (Vec<PathBuf>, Vec<ConfigError>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Default::default();
    };
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in entries.filter_map(|e| e.ok()).map(|e| e.path()) {
        if !is_config_file(&path) {
            continue;
        }
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => files.push(path),
            Ok(m) if m.is_dir() => problems.push(whole_file_error(
                &path,
                "is a folder, not a config file".into(),
            )),
            Ok(_) => problems.push(whole_file_error(
                &path,
                "is not a regular file (a FIFO, socket or device): not read".into(),
            )),
            Err(e) => problems.push(whole_file_error(
                &path,
                format!("cannot be followed (a symlink that leads nowhere or in a loop?): {e}"),
            )),
        }
    }
    files.sort();
    problems.sort_by(|a, b| a.file.cmp(&b.file));
    (files, problems)
}

pub fn is_config_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    !name.starts_with('.') && name.ends_with(".json") && name.len() > ".json".len()
}

struct FileState {
    content_hash: u64,
    last_good: Option<Entity>,
    errors: Vec<ConfigError>,
    /// When this file first held its current id (the scan, then the file's age): of two files
    /// with one id, the first holder keeps it and the newcomer is refused.
    holder_since: (u64, i128),
}

/// What the folders ask for right now.
pub struct Snapshot {
    pub specs: Vec<WorkerSpec>,
    /// Each valid house's and building's `name`, by id.
    pub names: BTreeMap<String, String>,
    /// Problems of files that are broken now (their last good version, if any, still runs).
    pub errors: Vec<ConfigError>,
}

#[derive(Default)]
pub struct ConfigSet {
    files: BTreeMap<PathBuf, FileState>,
    scans: u64,
}

/// A file's modification time in nanoseconds, to order files that appear in one scan.
pub fn modified_ns(path: &Path) -> i128 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128)
}

/// Orders entities so that the first holder of an id comes first; ties by file name.
pub fn first_holders_first<K: Ord>(entities: &mut [(PathBuf, Entity)], key: impl Fn(&Path) -> K) {
    entities.sort_by(|(a, _), (b, _)| key(a).cmp(&key(b)).then_with(|| a.cmp(b)));
}

impl ConfigSet {
    /// Reads both folders, re-parses changed files, and returns the desired workers.
    pub fn rescan(&mut self, profiles: &Path, buildings: &Path, globals: &Globals) -> Snapshot {
        self.scans += 1;
        let mut seen = BTreeMap::new();
        let mut unreadable = Vec::new();
        for (dir, kind) in [
            (profiles, EntityKind::House),
            (buildings, EntityKind::Building),
        ] {
            let (files, problems) = config_entries(dir);
            unreadable.extend(problems);
            for path in files {
                seen.insert(path, kind);
            }
        }
        self.files.retain(|path, _| seen.contains_key(path));
        for (path, kind) in &seen {
            let text = match std::fs::read(path) {
                Ok(t) => t,
                Err(e) => {
                    let state = self.files.entry(path.clone()).or_insert(FileState {
                        content_hash: 0,
                        last_good: None,
                        errors: Vec::new(),
                        holder_since: (u64::MAX, 0),
                    });
                    state.errors = vec![whole_file_error(path, format!("cannot read: {e}"))];
                    continue;
                }
            };
            let hash = hash_of(&text);
            if self.files.get(path).is_some_and(|s| s.content_hash == hash) {
                continue;
            }
            let parsed = parse_entity_bytes(*kind, path, &text);
            let state = self.files.entry(path.clone()).or_insert(FileState {
                content_hash: hash,
                last_good: None,
                errors: Vec::new(),
                holder_since: (u64::MAX, 0),
            });
            state.content_hash = hash;
            match parsed {
                Ok(entity) => {
                    if state.last_good.as_ref().map(Entity::id) != Some(entity.id()) {
                        state.holder_since = (self.scans, modified_ns(path));
                    }
                    state.last_good = Some(entity);
                    state.errors.clear();
                }
                Err(errors) => {
                    for e in &errors {
                        if state.last_good.is_some() {
                            tracing::error!("{e} (the last good version keeps running)");
                        } else {
                            tracing::error!("{e}");
                        }
                    }
                    state.errors = errors;
                }
            }
        }
        let mut entities: Vec<(PathBuf, Entity)> = self
            .files
            .iter()
            .filter_map(|(p, s)| s.last_good.clone().map(|e| (p.clone(), e)))
            .collect();
        first_holders_first(&mut entities, |p| self.files[p].holder_since);
        let (specs, clashes) = desired_workers(&entities, globals);
        let names = entities
            .iter()
            .rev() // the first holder of an id wins
            .map(|(_, e)| {
                let name = match e {
                    Entity::House(h) => &h.name,
                    Entity::Building(b) => &b.name,
                };
                (e.id().to_string(), name.clone())
            })
            .collect();
        let mut errors: Vec<ConfigError> =
            self.files.values().flat_map(|s| s.errors.clone()).collect();
        errors.extend(clashes);
        errors.extend(unreadable);
        Snapshot {
            specs,
            names,
            errors,
        }
    }
}

fn whole_file_error(path: &Path, message: String) -> ConfigError {
    ConfigError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        path: String::new(),
        message,
    }
}

pub fn hash_of(value: impl Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(s: &Snapshot) -> Vec<&str> {
        s.specs.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn only_top_level_json_counts() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for name in [
            "a.json",
            ".a.json.swp",
            "a.json~",
            ".hidden.json",
            "4913",
            "b.txt",
            ".json",
        ] {
            std::fs::write(p.join(name), "{}").unwrap();
        }
        std::fs::create_dir(p.join("examples")).unwrap();
        std::fs::write(p.join("examples/c.json"), "{}").unwrap();
        std::fs::create_dir(p.join("dir.json")).unwrap();
        let names: Vec<_> = config_files(p)
            .iter()
            .map(|f| f.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["a.json"]);
    }

    #[test]
    fn a_broken_edit_keeps_the_last_good_version() {
        let dir = tempfile::tempdir().unwrap();
        let (profiles, buildings) = (dir.path().join("profiles"), dir.path().join("buildings"));
        std::fs::create_dir(&profiles).unwrap();
        let file = profiles.join("villa.json");
        let mut set = ConfigSet::default();
        let g = Globals::default();

        std::fs::write(&file, r#"{"synthetic": {"interval_ms": 50}}"#).unwrap();
        let s = set.rescan(&profiles, &buildings, &g);
        assert_eq!(ids(&s), ["synthetic:villa"]);
        assert!(s.errors.is_empty());

        std::fs::write(&file, r#"{"synthetic": {"interval_ms": 5"#).unwrap();
        let s = set.rescan(&profiles, &buildings, &g);
        assert_eq!(
            ids(&s),
            ["synthetic:villa"],
            "still running on the last good config"
        );
        assert_eq!(s.specs[0].config.to_value()["synthetic"]["interval_ms"], 50);
        assert_eq!(s.errors.len(), 1);
        assert_eq!(s.errors[0].file, file);

        std::fs::remove_file(&file).unwrap();
        let s = set.rescan(&profiles, &buildings, &g);
        assert!(ids(&s).is_empty() && s.errors.is_empty());
    }

    #[test]
    fn the_first_holder_of_an_id_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        let mut set = ConfigSet::default();
        let g = Globals::default();
        std::fs::write(
            p.join("good2.json"),
            r#"{"synthetic": {"interval_ms": 50}}"#,
        )
        .unwrap();
        let s = set.rescan(p, &p.join("none"), &g);
        assert_eq!(ids(&s), ["synthetic:good2"]);
        // A newcomer that sorts first claims the same id: it is the one refused, by name.
        std::fs::write(
            p.join("aaa_clash.json"),
            r#"{"id": "good2", "synthetic": {"interval_ms": 7}}"#,
        )
        .unwrap();
        let s = set.rescan(p, &p.join("none"), &g);
        assert_eq!(ids(&s), ["synthetic:good2"]);
        assert_eq!(s.specs[0].config.to_value()["synthetic"]["interval_ms"], 50);
        assert_eq!(s.specs[0].files, [p.join("good2.json")]);
        assert_eq!(s.errors.len(), 1);
        assert_eq!(s.errors[0].file, p.join("aaa_clash.json"));
        assert!(
            s.errors[0].message.contains("good2.json"),
            "{}",
            s.errors[0]
        );
    }

    #[test]
    fn odd_entries_and_encodings_get_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir(p.join("dir.json")).unwrap();
        std::os::unix::fs::symlink(p.join("nowhere"), p.join("dangling.json")).unwrap();
        std::os::unix::fs::symlink(p.join("loop.json"), p.join("loop.json")).unwrap();
        nix::unistd::mkfifo(&p.join("fifo.json"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        std::fs::write(p.join("array.json"), "\n  []").unwrap();
        std::fs::write(p.join("latin1.json"), b"{\"name\":\n \"V\xe4stra\"}").unwrap();
        std::fs::write(p.join("bom.json"), "\u{feff}{\"name\": \"bom\"}").unwrap();
        std::os::unix::fs::symlink(p.join("bom.json"), p.join("link.json")).unwrap();
        let s = ConfigSet::default().rescan(p, &p.join("none"), &Globals::default());
        let shown: Vec<String> = s.errors.iter().map(ToString::to_string).collect();
        let about = |name: &str| {
            let at = p.join(name).display().to_string();
            shown
                .iter()
                .find(|e| e.starts_with(&format!("{at}:")))
                .unwrap_or_else(|| panic!("nothing about {name}: {shown:#?}"))
                .clone()
        };
        assert!(about("dir.json").contains("is a folder"));
        assert!(about("dangling.json").contains("leads nowhere"));
        assert!(about("loop.json").contains("in a loop"));
        assert!(about("fifo.json").contains("FIFO"));
        assert!(about("array.json")
            .ends_with("array.json:2:3: expected one JSON object {...}, found '['"));
        assert!(about("latin1.json")
            .ends_with("latin1.json:2:4: not UTF-8 text (save the file as UTF-8)"));
        assert_eq!(shown.len(), 6, "{shown:#?}");
        // The BOM file is accepted, also through a symlink (no worker: it has no sources).
        assert!(s.specs.is_empty());
    }

    #[test]
    fn a_new_broken_file_starts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.json"), "{nope").unwrap();
        let s = ConfigSet::default().rescan(
            dir.path(),
            &dir.path().join("missing"),
            &Globals::default(),
        );
        assert!(s.specs.is_empty());
        assert_eq!(s.errors.len(), 1);
    }
}
