//! `house:<id>`: a HomeSide substation, for a house profile with a `homeside` section.

use serde::{Deserialize, Serialize};

use super::{Desired, Kind};
use crate::config::{CredentialUse, HomesideConfig, SecretSpec, WorkerSpec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HouseWorker {
    pub house_id: String,
    #[serde(default)]
    pub name: String,
    pub homeside: HomesideConfig,
}

impl Kind for HouseWorker {
    fn desired(cx: &mut Desired<'_>) -> Vec<WorkerSpec> {
        cx.houses()
            .filter_map(|(file, h)| {
                let homeside = h.homeside.clone()?;
                let prefix = h.credential_prefix();
                let bound = CredentialUse {
                    prefix: prefix.clone(),
                    entity: h.id.clone(),
                    url: Some(("homeside.base_url".into(), homeside.base_url.clone())),
                    vendor_url: Some(HomesideConfig::VENDOR_URL.into()),
                };
                Some(WorkerSpec::new(
                    format!("house:{}", h.id),
                    HouseWorker {
                        house_id: h.id.clone(),
                        name: h.name.clone(),
                        homeside,
                    },
                    vec![
                        SecretSpec::required("username", format!("{prefix}_USERNAME")),
                        SecretSpec::required("password", format!("{prefix}_PASSWORD")),
                    ],
                    file,
                ).bound_to(bound))
            })
            .collect()
    }
}
