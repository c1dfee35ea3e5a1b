//! From config files to the set of workers they ask for. Each kind says which of its workers
//! the entities ask for (`crate::kinds`); this checks the ids and collects them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{ConfigError, Entity, Globals};
use crate::kinds::{WorkerConfig, WorkerKind};

/// A credential a worker needs: read from `.env` (or the environment) by `env`, handed to the
/// worker in its `init` under `name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SecretSpec {
    pub name: String,
    pub env: String,
    pub required: bool,
}

impl SecretSpec {
    pub fn required(name: &str, env: String) -> Self {
        SecretSpec {
            name: name.into(),
            env,
            required: true,
        }
    }

    /// A secret the worker can do without (it says so when a command needs it).
    pub fn optional(name: &str, env: String) -> Self {
        SecretSpec {
            name: name.into(),
            env,
            required: false,
        }
    }

    /// Another key for the same secret, used when the ones before it are not set (a seed's
    /// name, such as `TIBBER_API_TOKEN`).
    pub fn fallback(name: &str, env: &str) -> Self {
        SecretSpec {
            name: name.into(),
            env: env.into(),
            required: false,
        }
    }
}

/// What a worker's credentials are for, so that the orchestrator hands them over only when
/// `.env` and `hemflux.toml` agree (see the orchestrator's `credentials` module).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct CredentialUse {
    /// The `.env` prefix the credentials are read under, such as `HOUSE_villa1`.
    pub prefix: String,
    /// The house or building the worker serves.
    pub entity: String,
    /// Where the worker sends them: the field of the config file that holds the URL, and the URL.
    pub url: Option<(String, String)>,
    /// The vendor's own URL (the default of that field): always a fit destination.
    pub vendor_url: Option<String>,
}

/// One worker the config asks for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerSpec {
    /// Stable id, such as `house:villa_12` or `meter:villa_12/electricity`.
    pub id: String,
    /// What the worker gets as `init.config`; its variant is the worker's kind.
    pub config: WorkerConfig,
    pub secrets: Vec<SecretSpec>,
    /// What those secrets are bound to, one entry per set of credentials (a house's HomeSide
    /// login and its Arrigo history login); empty for fleet-wide sources set up in `hemflux.toml`.
    pub credentials: Vec<CredentialUse>,
    /// The config file(s) it comes from.
    pub files: Vec<PathBuf>,
}

impl WorkerSpec {
    /// A worker that comes from one file.
    pub fn new(
        id: String,
        config: impl Into<WorkerConfig>,
        secrets: Vec<SecretSpec>,
        file: &Path,
    ) -> Self {
        WorkerSpec {
            id,
            config: config.into(),
            secrets,
            credentials: Vec::new(),
            files: vec![file.to_path_buf()],
        }
    }

    /// Binds (some of) the worker's secrets to an entity and a destination.
    pub fn bound_to(mut self, credentials: CredentialUse) -> Self {
        self.credentials.push(credentials);
        self
    }

    pub fn kind(&self) -> WorkerKind {
        self.config.kind()
    }
}

/// Every worker that the given valid entities ask for, and an error for each entity whose id
/// clashes with an earlier one (the caller orders them: the first holder of an id keeps it).
pub fn desired_workers(
    entities: &[(PathBuf, Entity)],
    globals: &Globals,
) -> (Vec<WorkerSpec>, Vec<ConfigError>) {
    let mut errors = Vec::new();
    let mut owner: BTreeMap<(bool, String), PathBuf> = BTreeMap::new();
    let mut unique = Vec::new();
    for (file, entity) in entities {
        let key = (matches!(entity, Entity::House(_)), entity.id().to_string());
        if let Some(first) = owner.get(&key) {
            errors.push(ConfigError {
                file: file.clone(),
                line: 0,
                column: 0,
                path: "id".into(),
                message: format!(
                    "id {:?} is already used by {}",
                    entity.id(),
                    first.display()
                ),
            });
            continue;
        }
        owner.insert(key, file.clone());
        unique.push((file.clone(), entity.clone()));
    }
    let specs = crate::kinds::desired_by_kind(&mut crate::kinds::Desired {
        entities: &unique,
        globals,
        errors: &mut errors,
    });
    (specs, errors)
}
