//! Credentials from `.env` (read at start and whenever it changes), falling back to the
//! orchestrator's own environment. Each worker gets only the keys its spec names.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use hemflux_shared::config::{position, ConfigError, SecretSpec};

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
        Ok(Self::read(path)?)
    }

    /// As [`Secrets::load`], with a problem as `file:line:column` (never the line's text: it may
    /// hold a password).
    pub fn read(path: &Path) -> Result<Secrets, ConfigError> {
        let error = |line, column, message: String| ConfigError {
            file: path.to_path_buf(),
            line,
            column,
            path: String::new(),
            message,
        };
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|e| {
                let (line, column) = position(&e.as_bytes()[..e.utf8_error().valid_up_to()]);
                error(line, column, "not UTF-8 text".into())
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Secrets::default()),
            Err(e) => return Err(error(0, 0, format!("cannot read: {e}"))),
        };
        let mut values = BTreeMap::new();
        for item in dotenvy::from_read_iter(text.as_bytes()) {
            match item {
                Ok((k, v)) => {
                    values.insert(k, v);
                }
                Err(dotenvy::Error::LineParse(bad, index)) => {
                    let at = text.find(&bad).unwrap_or(0);
                    let (line, column) = position(&text.as_bytes()[..at]);
                    return Err(error(
                        line,
                        column + index,
                        "not a KEY=VALUE line (KEY: letters, digits, '_', '.'; quote a value with spaces)".into(),
                    ));
                }
                Err(e) => return Err(error(0, 0, format!("cannot parse: {e}"))),
            }
        }
        Ok(Secrets { values })
    }

    /// Whether the Dropbox credentials of the file exchange are here: as in the seed, that
    /// alone sets the exchange up.
    pub fn has_dropbox(&self) -> bool {
        [
            "DROPBOX_APP_KEY",
            "DROPBOX_APP_SECRET",
            "DROPBOX_REFRESH_TOKEN",
        ]
        .iter()
        .any(|k| self.get(k).is_some_and(|v| !v.trim().is_empty()))
    }

    /// A value from `.env`, else from the environment.
    pub fn get(&self, key: &str) -> Option<String> {
        self.values
            .get(key)
            .cloned()
            .or_else(|| std::env::var(key).ok())
    }

    /// The first key that is set gives a name its value: a seed's name (`TIBBER_API_TOKEN`)
    /// is listed after hemflux's as a fallback. A required name none of whose keys is set is
    /// missing, under its required key.
    pub fn resolve(&self, specs: &[SecretSpec]) -> Resolved {
        let mut values = BTreeMap::new();
        for spec in specs {
            if let Some(v) = self.get(&spec.env).filter(|v| !v.is_empty()) {
                values.entry(spec.name.clone()).or_insert(v);
            }
        }
        let missing = specs
            .iter()
            .filter(|s| s.required && !values.contains_key(&s.name))
            .map(|s| s.env.clone())
            .collect();
        Resolved { values, missing }
    }
}

/// A `.env` holding `text` in a fresh folder, which lives as long as the returned `TempDir`.
#[cfg(test)]
pub(crate) fn env_file(text: impl AsRef<[u8]>) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    std::fs::write(&env, text).unwrap();
    (dir, env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seeds_name_is_read_when_ours_is_not_set() {
        let (_dir, env) = env_file("");
        let specs = [
            SecretSpec::required("token", "HEMFLUX_TEST_TIBBER_TOKEN".into()),
            SecretSpec::fallback("token", "HEMFLUX_TEST_TIBBER_API_TOKEN"),
        ];
        let resolved = |text: &str| {
            std::fs::write(&env, text).unwrap();
            let r = Secrets::load(&env).unwrap().resolve(&specs);
            (r.values.get("token").cloned(), r.missing)
        };
        assert_eq!(
            resolved("HEMFLUX_TEST_TIBBER_API_TOKEN=seed\n"),
            (Some("seed".into()), vec![])
        );
        assert_eq!(
            resolved("HEMFLUX_TEST_TIBBER_API_TOKEN=seed\nHEMFLUX_TEST_TIBBER_TOKEN=ours\n"),
            (Some("ours".into()), vec![]),
            "ours wins"
        );
        assert_eq!(
            resolved(""),
            (None, vec!["HEMFLUX_TEST_TIBBER_TOKEN".to_string()]),
            "missing under our name"
        );
    }

    #[test]
    fn resolves_only_what_the_spec_names() {
        let (_dir, env) = env_file(
            "# comment\nHOUSE_a_USERNAME=\"FC 2000\"\nHOUSE_a_PASSWORD=\"s3 cret\"\nOTHER=x\n",
        );
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
    fn a_bad_line_is_named_by_position_without_its_text() {
        let (_dir, env) = env_file("# creds\nHOUSE_a_USERNAME=u\nHOUSE_a_PASSWORD s3cret\n");
        let e = Secrets::read(&env).unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("{}:3:", env.display())),
            "{shown}"
        );
        assert!(!shown.contains("s3cret"), "{shown}");
        std::fs::write(&env, b"A=1\nB=\xff\n").unwrap();
        let e = Secrets::read(&env).unwrap_err();
        assert_eq!(
            (e.line, e.column, e.message.as_str()),
            (2, 3, "not UTF-8 text")
        );
    }

    #[test]
    fn a_missing_file_is_empty() {
        assert!(Secrets::load(Path::new("/nonexistent/.env"))
            .unwrap()
            .values
            .is_empty());
    }

    mod arbitrary_bytes {
        use super::*;
        use proptest::prelude::*;

        fn env_like() -> impl Strategy<Value = Vec<u8>> {
            let piece = prop_oneof![
                Just("\n".to_string()),
                Just("=".to_string()),
                Just("#".to_string()),
                Just("\"".to_string()),
                Just("'".to_string()),
                Just(" ".to_string()),
                Just("export ".to_string()),
                Just("${X}".to_string()),
                Just("\\".to_string()),
                "[A-Z_]{1,8}",
                "[a-z0-9]{1,8}",
            ];
            prop::collection::vec(piece, 0..30).prop_map(|p| p.concat().into_bytes())
        }

        /// Never a panic; a problem has a position inside the file and never quotes it.
        fn check(bytes: &[u8]) {
            let (_dir, env) = env_file(bytes);
            if let Err(e) = Secrets::read(&env) {
                let lines = bytes.iter().filter(|b| **b == b'\n').count() + 1;
                assert!(e.line <= lines, "{e}");
                assert!(
                    e.message.starts_with("not ") || e.message.starts_with("cannot parse"),
                    "{e}"
                );
            }
        }

        proptest! {
            #[test]
            fn any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
                check(&bytes);
            }

            #[test]
            fn env_like_text(bytes in env_like()) {
                check(&bytes);
            }
        }
    }
}
