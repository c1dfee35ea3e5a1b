//! Meters declared in a house profile (`"meters": [...]`): each becomes a `meter:<house>/<name>` worker.

use serde::{Deserialize, Serialize};

use super::{check_positive, check_url, Problems, SecretSpec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterConfig {
    /// Part of the worker id; unique within the house, such as `electricity`.
    pub name: String,
    pub source: MeterSource,
}

/// Where the meter's data comes from; `"type"` picks the source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum MeterSource {
    /// WattiVahti (Finland): 15-minute or hourly electricity consumption.
    Wattivahti(WattivahtiConfig),
    /// Tibber: electricity prices and hourly consumption of one home.
    Tibber(TibberConfig),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WattivahtiConfig {
    /// The 7-digit metering point code.
    pub metering_point: String,
    /// The consumption API, without `/api/onlineapi/v1/meterdata2`.
    #[serde(default = "WattivahtiConfig::default_base_url")]
    pub base_url: String,
    /// The Azure AD B2C token endpoint.
    #[serde(default = "WattivahtiConfig::default_token_url")]
    pub token_url: String,
    /// How far back the first sync reaches.
    #[serde(default = "WattivahtiConfig::default_initial_sync_days")]
    pub initial_sync_days: u32,
    /// Each sync starts this long before the last synced point (late corrections).
    #[serde(default = "WattivahtiConfig::default_sync_buffer_hours")]
    pub sync_buffer_hours: u32,
    /// Where a new refresh token is dropped (by hand or by `hemflux meter-token`), relative to
    /// the directory hemflux runs in. Read when it changes; the rotated token then lives in the
    /// worker's state. Default `tokens/wattivahti_<metering_point>.txt`.
    #[serde(default)]
    pub token_file: Option<String>,
    #[serde(default = "WattivahtiConfig::default_poll")]
    pub poll_interval_secs: u64,
}

impl WattivahtiConfig {
    fn default_base_url() -> String {
        "https://porienergia-prod-agent.frendsapp.com:9999".into()
    }
    fn default_token_url() -> String {
        "https://pesv.b2clogin.com/pesv.onmicrosoft.com/b2c_1_tunnistus_signinv2/oauth2/v2.0/token"
            .into()
    }
    fn default_initial_sync_days() -> u32 {
        7
    }
    fn default_sync_buffer_hours() -> u32 {
        2
    }
    fn default_poll() -> u64 {
        3600
    }

    /// The token file this meter reads, with its default applied.
    pub fn token_path(&self) -> String {
        self.token_file
            .clone()
            .unwrap_or_else(|| format!("tokens/wattivahti_{}.txt", self.metering_point))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TibberConfig {
    /// The home's id (a UUID), as `viewer { homes { id } }` lists it.
    pub home_id: String,
    /// The GraphQL endpoint.
    #[serde(default = "TibberConfig::default_base_url")]
    pub base_url: String,
    /// The `.env` prefix of the personal token: `<credential_ref>_TOKEN`; default `TIBBER`,
    /// which reads `TIBBER_TOKEN`.
    #[serde(default)]
    pub credential_ref: Option<String>,
    #[serde(default = "TibberConfig::default_poll")]
    pub poll_interval_secs: u64,
    /// How far back the first run fetches consumption.
    #[serde(default = "TibberConfig::default_backfill_days")]
    pub backfill_days: u32,
    /// Least time between two requests of this worker: keeps a fleet of Tibber workers under
    /// Tibber's limit of about 100 requests per 5 minutes (see docs/meters.md).
    #[serde(default = "TibberConfig::default_min_request_interval_ms")]
    pub min_request_interval_ms: u64,
    /// How consumption is written: `hemflux` (`electricity_consumption`, tag `home_id`) or
    /// `home_assistant` (seed 004: measurement `kWh`, tags `entity_id` and
    /// `domain=input_number`, `value` a cumulative register, `cost`, `unit_price`).
    #[serde(default)]
    pub schema: TibberSchema,
    /// The `entity_id` tag of the `home_assistant` schema's rows, such as `haupt_strom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TibberSchema {
    #[default]
    Hemflux,
    HomeAssistant,
}

impl TibberConfig {
    pub const VENDOR_URL: &str = "https://api.tibber.com/v1-beta/gql";

    fn default_base_url() -> String {
        Self::VENDOR_URL.into()
    }
    fn default_poll() -> u64 {
        3600
    }
    fn default_backfill_days() -> u32 {
        30
    }
    fn default_min_request_interval_ms() -> u64 {
        15_000
    }
}

impl MeterConfig {
    pub(crate) fn validate(&self, at: &str, problems: &mut Problems) {
        super::check_name(&self.name, &format!("{at}.name"), problems);
        let at = format!("{at}.source");
        match &self.source {
            MeterSource::Wattivahti(w) => {
                let mp = &w.metering_point;
                if mp.is_empty() || !mp.chars().all(|c| c.is_ascii_digit()) {
                    problems.push((
                        format!("{at}.metering_point"),
                        format!("{mp:?} is not a metering point code (digits)"),
                    ));
                }
                check_url(&w.base_url, &format!("{at}.base_url"), problems);
                check_url(&w.token_url, &format!("{at}.token_url"), problems);
                check_positive(
                    w.initial_sync_days.into(),
                    &format!("{at}.initial_sync_days"),
                    problems,
                );
                check_positive(
                    w.poll_interval_secs,
                    &format!("{at}.poll_interval_secs"),
                    problems,
                );
            }
            MeterSource::Tibber(t) => {
                if t.home_id.is_empty() {
                    problems.push((format!("{at}.home_id"), "is empty".into()));
                }
                check_url(&t.base_url, &format!("{at}.base_url"), problems);
                let entity = t.entity_id.as_deref();
                match t.schema {
                    TibberSchema::HomeAssistant
                        if entity.is_none_or(|e| e.is_empty() || e.contains([' ', ',', '='])) =>
                    {
                        problems.push((
                            format!("{at}.entity_id"),
                            format!("{entity:?}: the home_assistant schema needs an entity_id tag value, such as \"haupt_strom\""),
                        ));
                    }
                    TibberSchema::Hemflux if entity.is_some() => problems.push((
                        format!("{at}.entity_id"),
                        "is used by schema \"home_assistant\" only".into(),
                    )),
                    _ => {}
                }
                check_positive(
                    t.poll_interval_secs,
                    &format!("{at}.poll_interval_secs"),
                    problems,
                );
            }
        }
    }

    /// The credentials this meter's worker receives in its init.
    pub fn secrets(&self) -> Vec<SecretSpec> {
        match &self.source {
            MeterSource::Wattivahti(_) => Vec::new(),
            MeterSource::Tibber(t) => {
                let token = SecretSpec::required(
                    "token",
                    format!("{}_TOKEN", t.credential_ref.as_deref().unwrap_or("TIBBER")),
                );
                match t.credential_ref {
                    // Seed 004's name, read when TIBBER_TOKEN is not set.
                    None => vec![token, SecretSpec::fallback("token", "TIBBER_API_TOKEN")],
                    Some(_) => vec![token],
                }
            }
        }
    }

    /// The store series this meter's worker reads back: the `home_assistant` register, to
    /// continue it after a migration brought its history.
    pub fn reads(&self) -> Option<(String, std::collections::BTreeMap<String, String>)> {
        match &self.source {
            MeterSource::Tibber(t) if t.schema == TibberSchema::HomeAssistant => {
                let entity = t.entity_id.clone()?;
                Some(("kWh".into(), [("entity_id".to_string(), entity)].into()))
            }
            _ => None,
        }
    }

    /// What this meter's credentials are bound to (a Tibber token: the house and the API host).
    pub fn credential_use(&self, house_id: &str) -> Option<super::CredentialUse> {
        match &self.source {
            MeterSource::Wattivahti(_) => None,
            MeterSource::Tibber(t) => Some(super::CredentialUse {
                prefix: t.credential_ref.clone().unwrap_or_else(|| "TIBBER".into()),
                entity: house_id.into(),
                url: Some((
                    format!("meters[{}].source.base_url", self.name),
                    t.base_url.clone(),
                )),
                vendor_url: Some(TibberConfig::VENDOR_URL.into()),
            }),
        }
    }
}
