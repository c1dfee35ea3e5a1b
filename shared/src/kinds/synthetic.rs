//! `synthetic:<house>`: deterministic points for tests, benchmarks and the demo.

use serde::{Deserialize, Serialize};

use super::{Desired, Kind};
use crate::config::{SyntheticConfig, WorkerSpec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyntheticWorker {
    pub house_id: String,
    pub synthetic: SyntheticConfig,
}

impl Kind for SyntheticWorker {
    fn desired(cx: &mut Desired<'_>) -> Vec<WorkerSpec> {
        cx.houses()
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
