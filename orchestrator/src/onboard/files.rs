//! Writing the files onboarding touches: atomically (temp file + fsync + rename, so the watcher
//! never sees half a file), and `.env` edits that keep every other line as it was, mode 0600.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result};

/// Replaces `path` with `bytes` in one step; the file gets `mode` (0600 for secrets).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    // A dot name: the watcher ignores hidden files, so the temp file never looks like a config.
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

/// The text of a file, or empty if it does not exist.
fn read_or_empty(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn key_of(line: &str) -> Option<&str> {
    let line = line.trim_start();
    let line = line.strip_prefix("export ").unwrap_or(line);
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && !key.starts_with('#')).then_some(key)
}

/// A value as `.env` (dotenvy) reads it back unchanged: single quotes keep `$`, `\` and spaces
/// literal; a value with a single quote goes in double quotes with escapes.
fn quote(value: &str) -> String {
    if !value.contains('\'') && !value.contains('\n') {
        format!("'{value}'")
    } else {
        let mut s = String::from("\"");
        for c in value.chars() {
            match c {
                '\\' | '"' | '$' => {
                    s.push('\\');
                    s.push(c);
                }
                '\n' => s.push_str("\\n"),
                c => s.push(c),
            }
        }
        s.push('"');
        s
    }
}

/// Sets `values` in the `.env` at `path`: replaces the lines of those keys (first occurrence;
/// later duplicates are dropped), appends the rest, and keeps every other line.
pub fn env_set(path: &Path, values: &[(String, String)]) -> Result<()> {
    let text = read_or_empty(path)?;
    let mut pending: BTreeMap<&str, &str> = values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut out = String::new();
    for line in text.lines() {
        match key_of(line).filter(|k| values.iter().any(|(vk, _)| vk == k)) {
            Some(k) => {
                if let Some(v) = pending.remove(k) {
                    out.push_str(&format!("{k}={}\n", quote(v)));
                }
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for (k, v) in values {
        if pending.contains_key(k.as_str()) {
            out.push_str(&format!("{k}={}\n", quote(v)));
        }
    }
    write_atomic(path, out.as_bytes(), 0o600)
}

/// Removes `keys` from the `.env` at `path` and returns the values they had.
pub fn env_remove(path: &Path, keys: &[String]) -> Result<Vec<(String, String)>> {
    let removed = env_get(path, keys)?;
    let text = read_or_empty(path)?;
    let kept: String = text
        .lines()
        .filter(|l| !key_of(l).is_some_and(|k| keys.iter().any(|x| x == k)))
        .map(|l| format!("{l}\n"))
        .collect();
    if kept != text {
        write_atomic(path, kept.as_bytes(), 0o600)?;
    }
    Ok(removed)
}

/// The values of `keys` that the `.env` at `path` sets, read as the orchestrator reads them.
pub fn env_get(path: &Path, keys: &[String]) -> Result<Vec<(String, String)>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for item in
        dotenvy::from_path_iter(path).with_context(|| format!("reading {}", path.display()))?
    {
        let (k, v) = item.with_context(|| format!("parsing {}", path.display()))?;
        if keys.contains(&k) && !found.iter().any(|(fk, _)| *fk == k) {
            found.push((k, v));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_edits_keep_other_lines_round_trip_odd_values_and_are_0600() {
        let (_dir, env) = crate::secrets::env_file(
            "# mine\nINFLUXDB_URL=http://x\nB_USERNAME=old\n\nOTHER='keep'\n",
        );
        let odd = r#"p@ss w$rd\ it's "q""#;
        env_set(
            &env,
            &[
                ("B_USERNAME".into(), "FC 2000".into()),
                ("B_PASSWORD".into(), odd.into()),
            ],
        )
        .unwrap();
        let text = std::fs::read_to_string(&env).unwrap();
        assert!(
            text.starts_with(
                "# mine\nINFLUXDB_URL=http://x\nB_USERNAME='FC 2000'\n\nOTHER='keep'\n"
            ),
            "{text}"
        );
        let mode = std::fs::metadata(&env).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let keys = ["B_USERNAME".to_string(), "B_PASSWORD".to_string()];
        let got = env_get(&env, &keys).unwrap();
        assert_eq!(
            got,
            [
                ("B_USERNAME".to_string(), "FC 2000".to_string()),
                ("B_PASSWORD".to_string(), odd.to_string())
            ]
        );
        let removed = env_remove(&env, &keys).unwrap();
        assert_eq!(removed.len(), 2);
        assert_eq!(
            std::fs::read_to_string(&env).unwrap(),
            "# mine\nINFLUXDB_URL=http://x\n\nOTHER='keep'\n"
        );
    }
}
