//! `hemflux.toml`: supervision timings, the store, the sinks, and the fleet-wide sources.
//! Every key is optional; unknown keys are errors, like in the config files.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hemflux_shared::config::Globals;
use serde::Deserialize;

pub use crate::auth::HttpSettings;
pub use crate::credentials::CredentialSettings;
use crate::sinks::SinkConfig;
use crate::store::StoreConfig;
pub use crate::users::mail::EmailSettings;

#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub supervisor: SupervisorSettings,
    pub store: StoreConfig,
    pub sinks: Vec<SinkConfig>,
    pub http: HttpSettings,
    pub credentials: CredentialSettings,
    /// `[email]`: notifications; none without it.
    pub email: Option<EmailSettings>,
    /// Fleet-wide sources such as `[weather]` and `[district_heating]`.
    pub globals: Globals,
}

/// The sections the orchestrator itself reads; the rest of the file is [`Globals`].
#[derive(Deserialize)]
struct Core {
    #[serde(default)]
    supervisor: SupervisorSettings,
    #[serde(default)]
    store: StoreConfig,
    #[serde(default)]
    sinks: Vec<SinkConfig>,
    #[serde(default)]
    http: HttpSettings,
    #[serde(default)]
    credentials: CredentialSettings,
    #[serde(default)]
    email: Option<EmailSettings>,
}

/// `[supervisor]`: how workers are started, watched and restarted. The defaults are the
/// production values; tests shorten them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisorSettings {
    /// A worker sends a heartbeat this often; three missed in a row and it is killed and restarted.
    pub heartbeat_ms: u64,
    /// First restart delay after a crash; doubles per crash up to `backoff_max_ms`, with jitter.
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// A run this long resets the backoff.
    pub stable_after_ms: u64,
    /// This many crashes within `crash_window_ms` put the worker in `failed`.
    pub crash_limit: usize,
    pub crash_window_ms: u64,
    /// How often a `failed` worker is tried again.
    pub failed_retry_ms: u64,
    /// Stop: stdin closed, SIGTERM to the group after this long, SIGKILL after as long again.
    pub stop_grace_ms: u64,
    /// Workers started together spread their first poll over this window.
    pub stagger_ms: u64,
    /// Full rescan of the config folders, in case file events were missed.
    pub rescan_ms: u64,
    /// Quiet time after a file event before the folders are read.
    pub debounce_ms: u64,
}

impl Default for SupervisorSettings {
    fn default() -> Self {
        SupervisorSettings {
            heartbeat_ms: 10_000,
            backoff_initial_ms: 1_000,
            backoff_max_ms: 300_000,
            stable_after_ms: 600_000,
            crash_limit: 5,
            crash_window_ms: 300_000,
            failed_retry_ms: 600_000,
            stop_grace_ms: 3_000,
            stagger_ms: 60_000,
            rescan_ms: 30_000,
            debounce_ms: 100,
        }
    }
}

impl SupervisorSettings {
    pub fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }
}

impl Settings {
    /// The configured sinks plus the InfluxDB sink that `INFLUXDB_URL`, `INFLUXDB_TOKEN`,
    /// `INFLUXDB_ORG` and `INFLUXDB_BUCKET` describe, read from `.env` or the environment.
    pub fn sinks_with_env(&self, secrets: &crate::secrets::Secrets) -> Result<Vec<SinkConfig>> {
        let mut sinks = self.sinks.clone();
        if !sinks.iter().any(|c| c.name() == crate::sinks::ENV_SINK) {
            sinks.extend(crate::sinks::from_vars(|k| secrets.get(k))?);
        }
        Ok(sinks)
    }

    /// Reads `path`; a missing file means all defaults.
    pub fn load(path: &Path) -> Result<Settings> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// The file is read twice, once for the orchestrator's sections and once for [`Globals`];
    /// a key is unknown when neither reading uses it.
    pub fn parse(text: &str) -> Result<Settings> {
        let mut core_ignored = Vec::new();
        let core: Core = serde_ignored::deserialize(toml::Deserializer::parse(text)?, |p| {
            core_ignored.push(p.to_string())
        })?;
        let mut globals_ignored = Vec::new();
        let globals: Globals = serde_ignored::deserialize(toml::Deserializer::parse(text)?, |p| {
            globals_ignored.push(p.to_string())
        })?;
        let mut unknown: Vec<String> = core_ignored
            .iter()
            .filter(|p| p.contains('.') || globals_ignored.contains(p))
            .chain(globals_ignored.iter().filter(|p| p.contains('.')))
            .cloned()
            .collect();
        unknown.sort();
        unknown.dedup();
        if !unknown.is_empty() {
            bail!("unknown key(s): {}", unknown.join(", "));
        }
        Ok(Settings {
            supervisor: core.supervisor,
            store: core.store,
            sinks: core.sinks,
            http: core.http,
            credentials: core.credentials,
            email: core.email,
            globals,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_means_defaults() {
        let s = Settings::parse("").unwrap();
        assert_eq!(s.supervisor.heartbeat_ms, 10_000);
        assert!(s.sinks.is_empty());
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = Settings::parse("[supervisor]\nheartbeat_msec = 5\n").unwrap_err();
        assert!(format!("{e:#}").contains("heartbeat_msec"), "{e:#}");
        let e = Settings::parse("[superviser]\nheartbeat_ms = 5\n").unwrap_err();
        assert!(format!("{e:#}").contains("superviser"), "{e:#}");
    }
}
