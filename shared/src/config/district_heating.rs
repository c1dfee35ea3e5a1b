//! `[district_heating]` in hemflux.toml: the file exchange with the energy company. One worker
//! (`district_heating:exchange`) serves the `meter_ids` of every house and building.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistrictHeatingConfig {
    /// `dropbox` (Dropbox API v2, app folder) or `folder` (a local directory synced otherwise).
    #[serde(default)]
    pub transport: Transport,
    /// Dropbox: the folder inside the app folder (`""` = its root). Folder transport: the
    /// local directory.
    #[serde(default = "DistrictHeatingConfig::default_folder")]
    pub folder: String,
    /// The request file's name inside `folder`.
    #[serde(default = "DistrictHeatingConfig::default_request_file")]
    pub request_file: String,
    #[serde(default = "DistrictHeatingConfig::default_api_url")]
    pub dropbox_api_url: String,
    #[serde(default = "DistrictHeatingConfig::default_content_url")]
    pub dropbox_content_url: String,
    #[serde(default = "DistrictHeatingConfig::default_token_url")]
    pub dropbox_token_url: String,
    /// Daily run (import and rewrite the request file), Swedish local time `HH:MM`.
    #[serde(default = "DistrictHeatingConfig::default_daily_at")]
    pub daily_at: String,
    /// Between daily runs, look for new files this often.
    #[serde(default = "DistrictHeatingConfig::default_check_interval")]
    pub check_interval_secs: u64,
    /// A new meter is requested from this many days ago, unless its house sets a start date.
    #[serde(default = "DistrictHeatingConfig::default_initial_days")]
    pub initial_days: u32,
    /// Folder transport: ignore files modified less than this long ago (still being written).
    #[serde(default = "DistrictHeatingConfig::default_settle")]
    pub settle_secs: u64,
    /// List, download and parse, and report what would be imported; write, delete and upload nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    #[default]
    Dropbox,
    Folder,
}

impl DistrictHeatingConfig {
    /// The exchange as the seed ran it when only `DROPBOX_*` are in `.env`: every default.
    fn from_env_alone() -> DistrictHeatingConfig {
        serde_json::from_str("{}").expect("every key has a default")
    }

    fn default_folder() -> String {
        "/data".into()
    }
    fn default_request_file() -> String {
        "BVPro_DH.csv".into()
    }
    fn default_api_url() -> String {
        "https://api.dropboxapi.com".into()
    }
    fn default_content_url() -> String {
        "https://content.dropboxapi.com".into()
    }
    fn default_token_url() -> String {
        "https://api.dropboxapi.com/oauth2/token".into()
    }
    fn default_daily_at() -> String {
        "07:55".into()
    }
    fn default_check_interval() -> u64 {
        3600
    }
    fn default_initial_days() -> u32 {
        90
    }
    fn default_settle() -> u64 {
        30
    }

    /// Problems with the section, as (key, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if jiff::civil::Time::strptime("%H:%M", &self.daily_at).is_err() {
            problems.push((
                "district_heating.daily_at".into(),
                format!("{:?} is not a time of day (HH:MM)", self.daily_at),
            ));
        }
        if self.check_interval_secs == 0 {
            problems.push((
                "district_heating.check_interval_secs".into(),
                "must be greater than 0".into(),
            ));
        }
        if self.transport == Transport::Dropbox
            && !(self.folder.is_empty() || self.folder.starts_with('/') && self.folder != "/")
        {
            problems.push((
                "district_heating.folder".into(),
                format!(
                    "{:?}: a Dropbox folder starts with '/' (\"\" is the app folder's root)",
                    self.folder
                ),
            ));
        }
        if self.request_file.is_empty() || self.request_file.contains('/') {
            problems.push((
                "district_heating.request_file".into(),
                format!("{:?} is not a file name", self.request_file),
            ));
        }
        for (key, url) in [
            ("dropbox_api_url", &self.dropbox_api_url),
            ("dropbox_content_url", &self.dropbox_content_url),
            ("dropbox_token_url", &self.dropbox_token_url),
        ] {
            let mut p = Vec::new();
            super::check_url(url, &format!("district_heating.{key}"), &mut p);
            problems.extend(p);
        }
        problems
    }
}

/// One meter of the exchange, as the worker gets it in its config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeMeter {
    pub meter_id: String,
    /// The house's or the building's id, the value of the tag `id_tag`.
    pub house_id: String,
    /// The third column of the request file.
    pub house_name: String,
    /// The tag of the id, as the seed wrote it: `house_id` for a house, `building_id` for a
    /// building (so that removing a building also removes its `energy_meter` rows).
    #[serde(default = "ExchangeMeter::house_tag")]
    pub id_tag: String,
    /// The house's `energy_data_start_date`: where a new meter's first request begins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<jiff::civil::Date>,
}

impl ExchangeMeter {
    fn house_tag() -> String {
        "house_id".into()
    }
}

/// Collects the `meter_ids` of every house and building into the one exchange worker.
#[derive(Default)]
pub(crate) struct Exchange {
    meters: Vec<(std::path::PathBuf, ExchangeMeter)>,
    files: Vec<std::path::PathBuf>,
}

impl Exchange {
    pub(crate) fn add(&mut self, file: &std::path::Path, entity: &super::Entity) {
        let (ids, name, id_tag, start_date) = match entity {
            super::Entity::House(h) => {
                (&h.meter_ids, &h.name, "house_id", h.energy_data_start_date)
            }
            super::Entity::Building(b) => (
                &b.meter_ids,
                &b.name,
                "building_id",
                b.energy_data_start_date,
            ),
        };
        if ids.is_empty() {
            return;
        }
        self.files.push(file.to_path_buf());
        let house_name = if name.is_empty() { entity.id() } else { name };
        self.meters.extend(ids.iter().map(|id| {
            let meter = ExchangeMeter {
                meter_id: id.trim().to_string(),
                house_id: entity.id().to_string(),
                house_name: house_name.to_string(),
                id_tag: id_tag.into(),
                start_date,
            };
            (file.to_path_buf(), meter)
        }));
    }

    /// Adds `district_heating:exchange` when some house or building lists a meter id and the
    /// exchange is set up: `[district_heating]` in hemflux.toml, or, as in the seed, Dropbox
    /// credentials in `.env` alone (the defaults then). Meter ids with neither are an error of
    /// each file that lists them; a meter id claimed twice is an error of the later file.
    pub(crate) fn finish(
        self,
        globals: &super::Globals,
        errors: &mut Vec<super::ConfigError>,
    ) -> Option<super::WorkerSpec> {
        let from_env;
        let cfg = match (&globals.district_heating, globals.dropbox_in_env) {
            (Some(cfg), _) => cfg,
            (None, true) => {
                from_env = DistrictHeatingConfig::from_env_alone();
                &from_env
            }
            (None, false) => {
                errors.extend(self.files.iter().map(|file| {
                    super::ConfigError {
                        file: file.clone(),
                        line: 0,
                        column: 0,
                        path: "meter_ids".into(),
                        message:
                            "no file exchange to read these meters through: put DROPBOX_APP_KEY, \
                              DROPBOX_APP_SECRET and DROPBOX_REFRESH_TOKEN in .env, or add \
                              [district_heating] to hemflux.toml (docs/meters.md)"
                                .into(),
                    }
                }));
                return None;
            }
        };
        let settings = std::path::PathBuf::from("hemflux.toml");
        let problems = cfg.problems();
        let bad = !problems.is_empty();
        errors.extend(
            problems
                .into_iter()
                .map(|(path, message)| super::ConfigError {
                    file: settings.clone(),
                    line: 0,
                    column: 0,
                    path,
                    message,
                }),
        );
        if bad || self.meters.is_empty() {
            return None;
        }
        let mut seen = std::collections::BTreeMap::new();
        let mut meters = Vec::new();
        for (file, m) in self.meters {
            if let Some(first) = seen.get(&m.meter_id) {
                errors.push(super::ConfigError {
                    file,
                    line: 0,
                    column: 0,
                    path: "meter_ids".into(),
                    message: format!("meter id {:?} is already listed by {first}", m.meter_id),
                });
                continue;
            }
            seen.insert(m.meter_id.clone(), m.house_id.clone());
            meters.push(m);
        }
        let secrets = match cfg.transport {
            Transport::Folder => Vec::new(),
            Transport::Dropbox => ["app_key", "app_secret", "refresh_token"]
                .into_iter()
                .map(|name| super::SecretSpec {
                    name: name.into(),
                    env: format!("DROPBOX_{}", name.to_uppercase()),
                    required: true,
                })
                .collect(),
        };
        let config = crate::kinds::DistrictHeatingWorker {
            exchange: cfg.clone(),
            meters,
        };
        Some(super::WorkerSpec {
            id: EXCHANGE_WORKER_ID.into(),
            config: config.into(),
            secrets,
            // Set up in `hemflux.toml`, not by a profile.
            credentials: Vec::new(),
            files: self.files,
        })
    }
}

/// The id of the one exchange worker.
pub const EXCHANGE_WORKER_ID: &str = "district_heating:exchange";

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::config::*;

    fn house_text(text: &str) -> Result<Entity, Vec<ConfigError>> {
        parse_entity(EntityKind::House, Path::new("profiles/villa_12.json"), text)
    }

    #[test]
    fn one_exchange_worker_serves_every_meter_id_with_only_dropbox_secrets() {
        let a = house_text(r#"{"name": "Daggis8", "meter_ids": ["7359"], "energy_data_start_date": "2025-01-15", "meters": [{"name": "el", "source": {"type": "tibber", "home_id": "h1"}}]}"#).unwrap();
        let b = parse_entity(
            EntityKind::Building,
            Path::new("buildings/b.json"),
            r#"{"arrigo": {"base_url": "https://arrigo.example/api"}, "meter_ids": ["7360", "7359"]}"#,
        )
        .unwrap();
        let entities = vec![
            (PathBuf::from("profiles/villa_12.json"), a),
            (PathBuf::from("buildings/b.json"), b),
        ];
        let (specs, errors) = desired_workers(&entities, &Globals::default());
        assert!(
            specs
                .iter()
                .all(|s| s.kind() != WorkerKind::DistrictHeating),
            "no [district_heating] and no DROPBOX_* in .env: no exchange"
        );
        let files: Vec<_> = errors
            .iter()
            .map(|e| (e.file.clone(), e.path.as_str()))
            .collect();
        assert_eq!(
            files,
            [
                (PathBuf::from("profiles/villa_12.json"), "meter_ids"),
                (PathBuf::from("buildings/b.json"), "meter_ids")
            ],
            "meter ids that nothing reads are an error, not silently ignored"
        );
        assert!(
            errors[0].message.contains("DROPBOX_REFRESH_TOKEN"),
            "{}",
            errors[0]
        );

        // The seed's way: Dropbox credentials in .env are enough.
        let globals = Globals {
            dropbox_in_env: true,
            ..Globals::default()
        };
        let (specs, errors) = desired_workers(&entities, &globals);
        assert_eq!(errors.len(), 1, "7359 twice: {errors:?}");
        let ex = specs
            .iter()
            .find(|s| s.kind() == WorkerKind::DistrictHeating)
            .unwrap();
        assert_eq!(ex.config.to_value()["exchange"]["folder"], "/data");
        let tibber = specs.iter().find(|s| s.id == "meter:villa_12/el").unwrap();
        assert_eq!(tibber.secrets[0].env, "TIBBER_TOKEN");

        let globals = Globals {
            district_heating: Some(serde_json::from_str("{}").unwrap()),
            ..Globals::default()
        };
        let (specs, errors) = desired_workers(&entities, &globals);
        assert_eq!(errors.len(), 1, "7359 twice: {errors:?}");
        assert_eq!(errors[0].file, PathBuf::from("buildings/b.json"));
        let ex: Vec<_> = specs
            .iter()
            .filter(|s| s.kind() == WorkerKind::DistrictHeating)
            .collect();
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].id, EXCHANGE_WORKER_ID);
        let envs: Vec<_> = ex[0].secrets.iter().map(|s| s.env.as_str()).collect();
        assert_eq!(
            envs,
            [
                "DROPBOX_APP_KEY",
                "DROPBOX_APP_SECRET",
                "DROPBOX_REFRESH_TOKEN"
            ]
        );
        let config = ex[0].config.to_value();
        let meters = config["meters"].as_array().unwrap();
        assert_eq!(meters.len(), 2);
        assert_eq!(meters[0]["house_name"], "Daggis8");
        assert_eq!(meters[0]["start_date"], "2025-01-15");
        assert!(meters[1].get("start_date").is_none());
        assert_eq!(meters[1]["house_name"], "b");
        // The seed tagged a building's rows `building_id`.
        assert_eq!(meters[0]["id_tag"], "house_id");
        assert_eq!(meters[1]["id_tag"], "building_id");
    }

    #[test]
    fn wattivahti_defaults_and_bad_daily_time() {
        let Entity::House(h) = house_text(r#"{"meters": [{"name": "el", "source": {"type": "wattivahti", "metering_point": "1234567"}}]}"#).unwrap() else {
        panic!()
    };
        let MeterSource::Wattivahti(w) = &h.meters[0].source else {
            panic!()
        };
        assert_eq!((w.initial_sync_days, w.sync_buffer_hours), (7, 2));
        assert_eq!(w.token_path(), "tokens/wattivahti_1234567.txt");
        let errs = house_text(r#"{"meters": [{"name": "el", "source": {"type": "wattivahti", "metering_point": "12a"}}]}"#).unwrap_err();
        assert_eq!(errs[0].path, "meters[0].source.metering_point");
        let cfg: DistrictHeatingConfig = serde_json::from_str(r#"{"daily_at": "25:00"}"#).unwrap();
        assert_eq!(cfg.problems()[0].0, "district_heating.daily_at");
    }
}
