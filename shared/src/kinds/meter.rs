//! `meter:<house>/<name>`: one meter of a house profile (WattiVahti or Tibber).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Kind;
use crate::config::{ConfigError, Entity, Globals, MeterConfig, WorkerSpec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterWorker {
    #[serde(default)]
    pub house_id: String,
    pub meter: MeterConfig,
}

impl Kind for MeterWorker {
    fn desired(
        entities: &[(PathBuf, Entity)],
        _: &Globals,
        _: &mut Vec<ConfigError>,
    ) -> Vec<WorkerSpec> {
        let mut specs = Vec::new();
        for (file, entity) in entities {
            let Entity::House(h) = entity else { continue };
            for m in &h.meters {
                let spec = WorkerSpec::new(
                    format!("meter:{}/{}", h.id, m.name),
                    MeterWorker {
                        house_id: h.id.clone(),
                        meter: m.clone(),
                    },
                    m.secrets(),
                    file,
                );
                specs.push(match m.credential_use(&h.id) {
                    Some(bound) => spec.bound_to(bound),
                    None => spec,
                });
            }
        }
        specs
    }
}
