//! `synthetic:<house>`: deterministic points for tests, benchmarks and the demo.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Kind;
use crate::config::{ConfigError, Entity, Globals, SyntheticConfig, WorkerSpec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyntheticWorker {
    pub house_id: String,
    pub synthetic: SyntheticConfig,
}

impl Kind for SyntheticWorker {
    fn desired(
        entities: &[(PathBuf, Entity)],
        _: &Globals,
        _: &mut Vec<ConfigError>,
    ) -> Vec<WorkerSpec> {
        let houses = entities.iter().filter_map(|(file, e)| match e {
            Entity::House(h) => Some((file, h)),
            Entity::Building(_) => None,
        });
        houses
            .filter_map(|(file, h)| {
                let synthetic = h.synthetic.clone()?;
                Some(WorkerSpec::new(
                    format!("synthetic:{}", h.id),
                    SyntheticWorker {
                        house_id: h.id.clone(),
                        synthetic,
                    },
                    Vec::new(),
                    file,
                ))
            })
            .collect()
    }
}
