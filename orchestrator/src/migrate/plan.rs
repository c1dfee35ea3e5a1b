//! What a migration will write, and what it says about each thing it read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Everything `hemflux migrate` writes, gathered before anything is written.
#[derive(Debug, Default)]
pub struct Plan {
    /// Files relative to the hemflux folder (`--to`), with their mode.
    pub files: BTreeMap<PathBuf, (String, u32)>,
    /// Keys for hemflux's `.env`.
    pub env: BTreeMap<String, String>,
    /// `hemflux.toml` sections.
    pub toml: Vec<String>,
    /// Starting states by worker id, for the store's `worker_state`.
    pub states: BTreeMap<String, Value>,
    /// Soft removals still in their grace period: (kind, id, purge after).
    pub pending_purges: Vec<(String, String, jiff::Timestamp)>,
    /// `from -> to: what`, one line each.
    pub mapped: Vec<String>,
    /// `where: what, and why`, one line each.
    pub dropped: Vec<String>,
    /// Seed files that cannot be read as they are; nothing is written while there are any.
    pub problems: Vec<String>,
    /// Things the user must do by hand.
    pub todo: Vec<String>,
}

impl Plan {
    pub fn mapped(&mut self, from: &Path, what: impl AsRef<str>) {
        self.mapped
            .push(format!("{}: {}", from.display(), what.as_ref()));
    }

    pub fn dropped(&mut self, from: &Path, what: impl AsRef<str>) {
        self.dropped
            .push(format!("{}: {}", from.display(), what.as_ref()));
    }

    pub fn problem(&mut self, from: &Path, what: impl AsRef<str>) {
        self.problems
            .push(format!("{}: {}", from.display(), what.as_ref()));
    }

    /// A JSON config file, pretty-printed with a final newline.
    pub fn json_file(&mut self, to: PathBuf, value: &Value) {
        let text = serde_json::to_string_pretty(value).expect("JSON values serialise") + "\n";
        self.files.insert(to, (text, 0o644));
    }
}
