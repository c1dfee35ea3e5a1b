//! `influxdb:<name>`: series read from an existing InfluxDB, one worker per
//! `[[influxdb_sources]]` entry of hemflux.toml.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Desired, Kind};
use crate::config::{ConfigError, CredentialUse, InfluxSourceConfig, SecretSpec, WorkerSpec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxdbWorker {
    pub source: InfluxSourceConfig,
}

impl Kind for InfluxdbWorker {
    fn desired(cx: &mut Desired<'_>) -> Vec<WorkerSpec> {
        let settings = PathBuf::from("hemflux.toml");
        let mut names = BTreeSet::new();
        let mut specs = Vec::new();
        for (i, source) in cx.globals.influxdb_sources.iter().enumerate() {
            let at = format!("influxdb_sources[{i}]");
            let mut problems = source.problems(&at);
            if !names.insert(source.name.as_str()) {
                problems.push((
                    format!("{at}.name"),
                    format!("{:?} is already the name of another entry", source.name),
                ));
            }
            if !problems.is_empty() {
                cx.errors
                    .extend(problems.into_iter().map(|(path, message)| ConfigError {
                        file: settings.clone(),
                        line: 0,
                        column: 0,
                        path,
                        message,
                    }));
                continue;
            }
            let config = InfluxdbWorker {
                source: source.clone(),
            };
            let Some(prefix) = &source.credential_ref else {
                specs.push(WorkerSpec::new(source.worker_id(), config, Vec::new(), &settings));
                continue;
            };
            // Any of them may be absent: a 2.x server takes the token, a 1.x one the user.
            let secrets = ["token", "username", "password"]
                .into_iter()
                .map(|name| SecretSpec {
                    name: name.into(),
                    env: format!("{prefix}_{}", name.to_uppercase()),
                    required: false,
                })
                .collect();
            let spec = WorkerSpec::new(source.worker_id(), config, secrets, &settings);
            specs.push(spec.bound_to(CredentialUse {
                prefix: prefix.clone(),
                entity: source.name.clone(),
                url: Some((format!("{at}.url"), source.url.clone())),
                vendor_url: None,
            }));
        }
        specs
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{desired_workers, Globals, InfluxSourceConfig, WorkerKind};

    fn source(json: &str) -> InfluxSourceConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn one_worker_per_entry_with_optional_credentials_bound_to_its_url() {
        let globals = Globals {
            influxdb_sources: vec![
                source(r#"{"name": "hass", "url": "http://ha:8086", "database": "homeassistant", "measurements": ["kWh"], "credential_ref": "HASS"}"#),
                source(r#"{"name": "open", "url": "http://ha:8086", "database": "d", "measurements": ["m³"]}"#),
                source(r#"{"name": "hass", "url": "ftp://x", "database": "", "measurements": [], "page_hours": 0, "start": "soon"}"#),
            ],
            ..Globals::default()
        };
        let (specs, errors) = desired_workers(&[], &globals);
        let ids: Vec<_> = specs.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["influxdb:hass", "influxdb:open"]);
        assert!(specs.iter().all(|s| s.kind() == WorkerKind::Influxdb));
        let envs: Vec<_> = specs[0].secrets.iter().map(|s| s.env.as_str()).collect();
        assert_eq!(envs, ["HASS_TOKEN", "HASS_USERNAME", "HASS_PASSWORD"]);
        assert!(specs[0].secrets.iter().all(|s| !s.required));
        let bound = &specs[0].credentials[0];
        assert_eq!(bound.prefix, "HASS");
        assert_eq!(
            bound.url,
            Some(("influxdb_sources[0].url".into(), "http://ha:8086".into()))
        );
        assert!(specs[1].secrets.is_empty() && specs[1].credentials.is_empty());
        let mut paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "influxdb_sources[2].database",
                "influxdb_sources[2].measurements",
                "influxdb_sources[2].name",
                "influxdb_sources[2].page_hours",
                "influxdb_sources[2].start",
                "influxdb_sources[2].url",
            ]
        );
        assert!(errors.iter().all(|e| e.file.to_str() == Some("hemflux.toml")));
    }

    #[test]
    fn start_is_a_time_or_a_date() {
        let s = |start: &str| {
            source(&format!(r#"{{"name": "a", "url": "http://x", "database": "d", "measurements": ["kWh"], "start": "{start}"}}"#))
                .start_time()
        };
        assert_eq!(s("2024-01-01").unwrap().unwrap().to_string(), "2024-01-01T00:00:00Z");
        assert_eq!(s("2024-01-01T06:00:00Z").unwrap().unwrap().to_string(), "2024-01-01T06:00:00Z");
        assert!(s("yesterday").unwrap_err().contains("yesterday"));
    }
}
