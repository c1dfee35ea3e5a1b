//! Credentials from `.env` (read at start and whenever it changes), falling back to the
//! orchestrator's own environment. Each worker gets only the keys its spec names.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use hemflux_shared::config::SecretSpec;

#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
}

/// The secrets resolved for one worker, and the keys that were required but not found.
pub struct Resolved {
    pub values: BTreeMap<String, String>,
    pub missing: Vec<String>,
}

impl Secrets {
    /// Reads a `.env` file (KEY=VALUE lines, `#` comments, optional quotes). A missing file is empty.
    pub fn load(path: &Path) -> Result<Secrets> {
        let mut values = BTreeMap::new();
        match dotenvy::from_path_iter(path) {
            Ok(iter) => {
                for item in iter {
                    let (k, v) = item.with_context(|| format!("parsing {}", path.display()))?;
                    values.insert(k, v);
                }
            }
            Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
        Ok(Secrets { values })
    }

    /// A value from `.env`, else from the environment.
    pub fn get(&self, key: &str) -> Option<String> {
        self.values
            .get(key)
            .cloned()
            .or_else(|| std::env::var(key).ok())
    }

    pub fn resolve(&self, specs: &[SecretSpec]) -> Resolved {
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for spec in specs {
            match self.get(&spec.env) {
                Some(v) if !v.is_empty() => {
                    values.insert(spec.name.clone(), v);
                }
                _ if spec.required => missing.push(spec.env.clone()),
                _ => {}
            }
        }
        Resolved { values, missing }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_only_what_the_spec_names() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join(".env");
        std::fs::write(
            &env,
            "# comment\nHOUSE_a_USERNAME=\"FC 2000\"\nHOUSE_a_PASSWORD=\"s3 cret\"\nOTHER=x\n",
        )
        .unwrap();
        let s = Secrets::load(&env).unwrap();
        let specs = [
            SecretSpec {
                name: "username".into(),
                env: "HOUSE_a_USERNAME".into(),
                required: true,
            },
            SecretSpec {
                name: "password".into(),
                env: "HOUSE_a_PASSWORD".into(),
                required: true,
            },
            SecretSpec {
                name: "token".into(),
                env: "HEMFLUX_TEST_SURELY_UNSET".into(),
                required: true,
            },
        ];
        let r = s.resolve(&specs);
        assert_eq!(r.values.len(), 2);
        assert_eq!(r.values["password"], "s3 cret");
        assert_eq!(r.missing, ["HEMFLUX_TEST_SURELY_UNSET"]);
    }

    #[test]
    fn a_missing_file_is_empty() {
        assert!(Secrets::load(Path::new("/nonexistent/.env"))
            .unwrap()
            .values
            .is_empty());
    }
}
