//! From config files to the set of workers they ask for.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{ConfigError, Entity, Globals};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerKind {
    House,
    Building,
    Meter,
    Serial,
    Synthetic,
    DistrictHeating,
    Weather,
}

impl WorkerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerKind::House => "house",
            WorkerKind::Building => "building",
            WorkerKind::Meter => "meter",
            WorkerKind::Serial => "serial",
            WorkerKind::Synthetic => "synthetic",
            WorkerKind::DistrictHeating => "district_heating",
            WorkerKind::Weather => "weather",
        }
    }
}

/// A credential a worker needs: read from `.env` (or the environment) by `env`, handed to the
/// worker in its `init` under `name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SecretSpec {
    pub name: String,
    pub env: String,
    pub required: bool,
}

impl SecretSpec {
    fn required(name: &str, env: String) -> Self {
        SecretSpec {
            name: name.into(),
            env,
            required: true,
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
    /// Where the worker sends them: the URL in the config file, and the field that holds it.
    pub url: Option<(String, String)>,
    /// The vendor's own URL (the default of that field): always a fit destination.
    pub vendor_url: Option<String>,
}

/// One worker the config asks for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerSpec {
    /// Stable id, such as `house:villa_12` or `meter:villa_12/electricity`.
    pub id: String,
    pub kind: WorkerKind,
    /// What the worker gets as `init.config`.
    pub config: Value,
    pub secrets: Vec<SecretSpec>,
    /// What those secrets are bound to; `None` for fleet-wide sources set up in `hemflux.toml`.
    pub credentials: Option<CredentialUse>,
    /// The config file(s) it comes from.
    pub files: Vec<PathBuf>,
}

/// Every worker that the given valid entities ask for, and an error for each entity whose id
/// clashes with an earlier one (the caller orders them: the first holder of an id keeps it).
pub fn desired_workers(
    entities: &[(PathBuf, Entity)],
    globals: &Globals,
) -> (Vec<WorkerSpec>, Vec<ConfigError>) {
    let mut specs: Vec<WorkerSpec> = Vec::new();
    let mut errors = Vec::new();
    let mut owner: BTreeMap<(bool, String), PathBuf> = BTreeMap::new();
    let mut exchange = super::district_heating::Exchange::default();
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
        exchange.add(file, entity);
        let file = vec![file.clone()];
        match entity {
            Entity::House(h) => {
                if let Some(hs) = &h.homeside {
                    let prefix = h.credential_prefix();
                    specs.push(WorkerSpec {
                        id: format!("house:{}", h.id),
                        kind: WorkerKind::House,
                        config: json!({"house_id": h.id, "name": h.name, "homeside": hs}),
                        secrets: vec![
                            SecretSpec::required("username", format!("{prefix}_USERNAME")),
                            SecretSpec::required("password", format!("{prefix}_PASSWORD")),
                        ],
                        credentials: Some(CredentialUse {
                            prefix,
                            entity: h.id.clone(),
                            url: Some(("homeside.base_url".into(), hs.base_url.clone())),
                            vendor_url: Some(super::HomesideConfig::VENDOR_URL.into()),
                        }),
                        files: file.clone(),
                    });
                }
                for m in &h.meters {
                    specs.push(WorkerSpec {
                        id: format!("meter:{}/{}", h.id, m.name),
                        kind: WorkerKind::Meter,
                        config: json!({"house_id": h.id, "meter": m}),
                        secrets: m.secrets(),
                        credentials: m.credential_use(&h.id),
                        files: file.clone(),
                    });
                }
                for s in &h.serial {
                    specs.push(WorkerSpec {
                        id: format!("serial:{}/{}", h.id, s.name),
                        kind: WorkerKind::Serial,
                        config: json!({"house_id": h.id, "serial": s}),
                        secrets: {
                            let prefix = s.credential_prefix(&h.id);
                            vec![
                                SecretSpec::required("broute_id", format!("{prefix}_ID")),
                                SecretSpec::required(
                                    "broute_password",
                                    format!("{prefix}_PASSWORD"),
                                ),
                            ]
                        },
                        // Sent to a local serial device only.
                        credentials: Some(CredentialUse {
                            prefix: s.credential_prefix(&h.id),
                            entity: h.id.clone(),
                            url: None,
                            vendor_url: None,
                        }),
                        files: file.clone(),
                    });
                }
                if let Some(s) = &h.synthetic {
                    specs.push(WorkerSpec {
                        id: format!("synthetic:{}", h.id),
                        kind: WorkerKind::Synthetic,
                        config: json!({"house_id": h.id, "synthetic": s}),
                        secrets: Vec::new(),
                        credentials: None,
                        files: file.clone(),
                    });
                }
            }
            Entity::Building(b) => {
                let prefix = b.credential_prefix();
                specs.push(WorkerSpec {
                    id: format!("building:{}", b.id),
                    kind: WorkerKind::Building,
                    config: json!({"building_id": b.id, "name": b.name, "arrigo": b.arrigo, "signals": b.signals}),
                    secrets: vec![
                        SecretSpec::required("username", format!("{prefix}_USERNAME")),
                        SecretSpec::required("password", format!("{prefix}_PASSWORD")),
                    ],
                    credentials: Some(CredentialUse {
                        prefix,
                        entity: b.id.clone(),
                        url: Some(("arrigo.base_url".into(), b.arrigo.base_url.clone())),
                        vendor_url: None,
                    }),
                    files: file,
                });
            }
        }
    }
    exchange.finish(globals, &mut specs, &mut errors);
    specs.extend(super::weather::weather_worker(
        entities,
        globals.weather.as_ref(),
        &mut errors,
    ));
    (specs, errors)
}
