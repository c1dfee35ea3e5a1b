//! `house:<id>`: a HomeSide substation, for a house profile with a `homeside` section; it also
//! imports the house's history from Arrigo when the profile has an `arrigo_history` section.

use serde::{Deserialize, Serialize};

use super::{Desired, Kind};
use crate::config::{ArrigoHistoryConfig, CredentialUse, HomesideConfig, SecretSpec, WorkerSpec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HouseWorker {
    pub house_id: String,
    #[serde(default)]
    pub name: String,
    pub homeside: HomesideConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrigo_history: Option<ArrigoHistoryConfig>,
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
                let mut secrets = vec![
                    SecretSpec::required("username", format!("{prefix}_USERNAME")),
                    SecretSpec::required("password", format!("{prefix}_PASSWORD")),
                ];
                let history = h.arrigo_history.as_deref().cloned();
                // Optional: without them the house polls as before and only a backfill fails.
                let arrigo = h.arrigo_credential_prefix().zip(history.as_ref()).map(|(p, a)| {
                    secrets.push(SecretSpec::optional("arrigo_username", format!("{p}_USERNAME")));
                    secrets.push(SecretSpec::optional("arrigo_password", format!("{p}_PASSWORD")));
                    CredentialUse {
                        prefix: p,
                        entity: h.id.clone(),
                        url: Some(("arrigo_history.arrigo.base_url".into(), a.arrigo.base_url.clone())),
                        vendor_url: None,
                    }
                });
                let spec = WorkerSpec::new(
                    format!("house:{}", h.id),
                    HouseWorker {
                        house_id: h.id.clone(),
                        name: h.name.clone(),
                        homeside,
                        arrigo_history: history,
                    },
                    secrets,
                    file,
                )
                .bound_to(bound);
                Some(match arrigo {
                    Some(a) => spec.bound_to(a),
                    None => spec,
                })
            })
            .collect()
    }
}
