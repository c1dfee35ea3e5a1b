//! Every kind of worker, registered in one place: [`with_worker_kinds`]. A kind's module here
//! owns its worker config (what its worker receives as `init.config`) and its contribution to
//! `desired_workers`; the worker binary has a module of the same name with the kind's `run`.
//! The module's name is the kind's name on the wire (`init.kind`), in worker ids and in `status`.
//! See `docs/adding-a-kind.md`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{BuildingConfig, ConfigError, Entity, Globals, HouseProfile, WorkerSpec};
use crate::read::ReadScope;

/// The one list of worker kinds, handed to `$callback` as `Variant(module::Config),*`: this crate
/// builds [`WorkerConfig`] and [`WorkerKind`] from it, the worker binary its dispatch.
#[macro_export]
macro_rules! with_worker_kinds {
    ($callback:ident) => {
        $callback! {
            House(house::HouseWorker),
            Building(building::BuildingWorker),
            Meter(meter::MeterWorker),
            Serial(serial::SerialWorker),
            Synthetic(synthetic::SyntheticWorker),
            DistrictHeating(district_heating::DistrictHeatingWorker),
            Weather(weather::WeatherWorker),
            Constant(constant::ConstantWorker),
            Controller(controller::ControllerWorker),
            Analytics(analytics::AnalyticsWorker),
            Meters(meters::MetersWorker),
            Influxdb(influxdb::InfluxdbWorker),
        }
    };
}

/// What a kind's worker config tells the orchestrator.
pub trait Kind: Serialize + DeserializeOwned + Into<WorkerConfig> {
    /// The workers of this kind that the config asks for.
    fn desired(cx: &mut Desired<'_>) -> Vec<WorkerSpec>;

    /// What a worker of this config may read from the store with `query` (the orchestrator
    /// refuses the rest); default nothing. See `crate::read`.
    fn reads(&self) -> ReadScope {
        ReadScope::default()
    }
}

/// What `desired` looks at: the valid entities (ids unique, sorted by file) and hemflux.toml's
/// settings; problems with the settings go to `errors`.
pub struct Desired<'a> {
    pub entities: &'a [(PathBuf, Entity)],
    pub globals: &'a Globals,
    pub errors: &'a mut Vec<ConfigError>,
}

impl Desired<'_> {
    /// The house profiles, with their files.
    pub fn houses(&self) -> impl Iterator<Item = (&PathBuf, &HouseProfile)> {
        self.entities.iter().filter_map(|(file, e)| match e {
            Entity::House(h) => Some((file, h)),
            Entity::Building(_) => None,
        })
    }

    /// The building configs, with their files.
    pub fn buildings(&self) -> impl Iterator<Item = (&PathBuf, &BuildingConfig)> {
        self.entities.iter().filter_map(|(file, e)| match e {
            Entity::Building(b) => Some((file, b)),
            Entity::House(_) => None,
        })
    }
}

/// An `init` whose kind or config the worker cannot use.
#[derive(Debug, thiserror::Error)]
pub enum KindError {
    #[error("unknown worker kind {0:?}")]
    Unknown(String),
    #[error("the {kind} worker's config: {source}")]
    Config {
        kind: WorkerKind,
        source: serde_json::Error,
    },
}

macro_rules! define_kinds {
    ($($variant:ident($module:ident::$config:ident)),* $(,)?) => {
        $(pub mod $module;)*
        $(pub use $module::$config;)*

        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum WorkerKind {
            $($variant),*
        }

        impl WorkerKind {
            pub const ALL: &[WorkerKind] = &[$(WorkerKind::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(WorkerKind::$variant => stringify!($module)),*
                }
            }
        }

        /// A worker's config, typed by its kind.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum WorkerConfig {
            $($variant($config)),*
        }

        impl WorkerConfig {
            pub fn kind(&self) -> WorkerKind {
                match self {
                    $(WorkerConfig::$variant(_) => WorkerKind::$variant),*
                }
            }

            /// What this worker may read from the store ([`Kind::reads`]).
            pub fn reads(&self) -> ReadScope {
                match self {
                    $(WorkerConfig::$variant(c) => c.reads()),*
                }
            }

            /// Reads `init.kind` and `init.config` as they travel.
            pub fn from_parts(kind: &str, config: Value) -> Result<Self, KindError> {
                let kind: WorkerKind = kind.parse()?;
                let typed = match kind {
                    $(WorkerKind::$variant => serde_json::from_value(config).map(WorkerConfig::$variant)),*
                };
                typed.map_err(|source| KindError::Config { kind, source })
            }
        }

        $(impl From<$config> for WorkerConfig {
            fn from(config: $config) -> Self {
                WorkerConfig::$variant(config)
            }
        })*

        /// Every kind's workers, in the order of the list.
        pub(crate) fn desired_by_kind(cx: &mut Desired<'_>) -> Vec<WorkerSpec> {
            let mut specs = Vec::new();
            $(specs.extend(<$config as Kind>::desired(cx));)*
            specs
        }
    };
}

with_worker_kinds!(define_kinds);

impl WorkerConfig {
    /// The config as it travels in `init.config`.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl fmt::Display for WorkerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WorkerKind {
    type Err = KindError;

    fn from_str(s: &str) -> Result<Self, KindError> {
        WorkerKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| KindError::Unknown(s.to_string()))
    }
}

impl Serialize for WorkerKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for WorkerKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_travel_by_their_module_names() {
        let names: Vec<_> = WorkerKind::ALL.iter().map(|k| k.as_str()).collect();
        assert!(names.contains(&"district_heating"), "{names:?}");
        for kind in WorkerKind::ALL {
            assert_eq!(kind.as_str().parse::<WorkerKind>().unwrap(), *kind);
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert!(matches!(
            "bogus".parse::<WorkerKind>(),
            Err(KindError::Unknown(_))
        ));
    }

    #[test]
    fn a_config_of_the_wrong_shape_names_its_kind() {
        let err = WorkerConfig::from_parts("synthetic", serde_json::json!({"synthetic": 1}))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("the synthetic worker's config"), "{err}");
    }
}
