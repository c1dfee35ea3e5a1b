//! `building:<id>`: an Arrigo BMS, one per building config.

use serde::{Deserialize, Serialize};

use super::{Desired, Kind};
use crate::config::{
    ArrigoConfig, CredentialUse, SecretSpec, SignalConfig, WorkerSpec,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildingWorker {
    pub building_id: String,
    #[serde(default)]
    pub name: String,
    pub arrigo: ArrigoConfig,
    pub signals: Vec<SignalConfig>,
}

impl Kind for BuildingWorker {
    fn desired(cx: &mut Desired<'_>) -> Vec<WorkerSpec> {
        cx.buildings()
            .map(|(file, b)| {
                let prefix = b.credential_prefix();
                WorkerSpec::new(
                    format!("building:{}", b.id),
                    BuildingWorker {
                        building_id: b.id.clone(),
                        name: b.name.clone(),
                        arrigo: b.arrigo.clone(),
                        signals: b.signals.clone(),
                    },
                    vec![
                        SecretSpec::required("username", format!("{prefix}_USERNAME")),
                        SecretSpec::required("password", format!("{prefix}_PASSWORD")),
                    ],
                    file,
                )
                .bound_to(CredentialUse {
                    prefix,
                    entity: b.id.clone(),
                    url: Some(("arrigo.base_url".into(), b.arrigo.base_url.clone())),
                    vendor_url: None,
                })
            })
            .collect()
    }
}
