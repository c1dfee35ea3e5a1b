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
        // Seed 003 served one meter with B_ROUTE_ID / B_ROUTE_PASSWORD: read when there is one
        // device only, so that one meter's credentials never reach another's worker.
        let only_one = cx.houses().map(|(_, h)| h.serial.len()).sum::<usize>() == 1;
        let mut specs = Vec::new();
        for (file, h) in cx.houses() {
            for s in &h.serial {
                let prefix = s.credential_prefix(&h.id);
                let mut secrets = vec![
                    SecretSpec::required("broute_id", format!("{prefix}_ID")),
                    SecretSpec::required("broute_password", format!("{prefix}_PASSWORD")),
                ];
                if only_one && s.credential_ref.is_none() {
                    secrets.push(SecretSpec::fallback("broute_id", "B_ROUTE_ID"));
                    secrets.push(SecretSpec::fallback("broute_password", "B_ROUTE_PASSWORD"));
                }
                specs.push(WorkerSpec::new(
                    format!("serial:{}/{}", h.id, s.name),
                    SerialWorker {
                        house_id: h.id.clone(),
                        serial: s.clone(),
                    },
                    secrets,
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

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::config::{desired_workers, parse_entity, EntityKind, Globals};

    fn envs(profiles: &[(&str, &str)]) -> Vec<Vec<String>> {
        let entities: Vec<_> = profiles
            .iter()
            .map(|(file, text)| {
                let path = PathBuf::from(file);
                let e = parse_entity(EntityKind::House, Path::new(file), text).unwrap();
                (path, e)
            })
            .collect();
        let (specs, _) = desired_workers(&entities, &Globals::default());
        specs
            .iter()
            .map(|s| s.secrets.iter().map(|x| x.env.clone()).collect())
            .collect()
    }

    #[test]
    fn the_seeds_b_route_names_serve_a_single_meter_only() {
        let one = r#"{"serial": [{"name": "broute", "port": "/dev/ttyUSB0"}]}"#;
        assert_eq!(
            envs(&[("profiles/home.json", one)]),
            [[
                "BROUTE_home_broute_ID",
                "BROUTE_home_broute_PASSWORD",
                "B_ROUTE_ID",
                "B_ROUTE_PASSWORD"
            ]]
        );
        let two = envs(&[("profiles/a.json", one), ("profiles/b.json", one)]);
        assert_eq!(two.len(), 2);
        assert!(
            two.iter().all(|e| e.len() == 2 && !e.contains(&"B_ROUTE_ID".to_string())),
            "with two meters, each reads only its own: {two:?}"
        );
    }
}
