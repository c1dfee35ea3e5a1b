//! `meter:<house>/<name>`: one meter of a house profile (WattiVahti or Tibber).

use serde::{Deserialize, Serialize};

use super::{Desired, Kind};
use crate::config::{MeterConfig, WorkerSpec};
use crate::read::{Grant, ReadScope};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterWorker {
    #[serde(default)]
    pub house_id: String,
    pub meter: MeterConfig,
}

impl Kind for MeterWorker {
    fn desired(cx: &mut Desired<'_>) -> Vec<WorkerSpec> {
        let mut specs = Vec::new();
        for (file, h) in cx.houses() {
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

    fn reads(&self) -> ReadScope {
        let grants = self.meter.reads().map(|(m, tags)| Grant::series(&m, tags));
        ReadScope::new(grants.into_iter().collect())
    }
}
