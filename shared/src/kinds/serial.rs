//! `serial:<house>/<name>`: one B-route smart meter on a serial port of a house profile.

use serde::{Deserialize, Serialize};

use super::{Desired, Kind};
use crate::config::{CredentialUse, SecretSpec, SerialConfig, WorkerSpec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SerialWorker {
    pub house_id: String,
    pub serial: SerialConfig,
}

impl Kind for SerialWorker {
    fn desired(cx: &mut Desired<'_>) -> Vec<WorkerSpec> {
        let mut specs = Vec::new();
        for (file, h) in cx.houses() {
            for s in &h.serial {
                let prefix = s.credential_prefix(&h.id);
                specs.push(WorkerSpec::new(
                    format!("serial:{}/{}", h.id, s.name),
                    SerialWorker {
                        house_id: h.id.clone(),
                        serial: s.clone(),
                    },
                    vec![
                        SecretSpec::required("broute_id", format!("{prefix}_ID")),
                        SecretSpec::required("broute_password", format!("{prefix}_PASSWORD")),
                    ],
                    file,
                )
                // Sent to a local serial device only.
                .bound_to(CredentialUse {
                    prefix,
                    entity: h.id.clone(),
                    url: None,
                    vendor_url: None,
                }));
            }
        }
        specs
    }
}
