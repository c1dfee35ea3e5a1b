//! Workers that serve many entities at once, configured in `hemflux.toml` rather than per file.

use serde::Deserialize;

/// The sections of `hemflux.toml` that shape the set of workers.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Globals {
    /// `[district_heating]`: the energy company's file exchange; absent = no exchange worker.
    #[serde(default)]
    pub district_heating: Option<super::DistrictHeatingConfig>,
    /// `[weather]`: SMHI observations and forecasts for every entity with a location; on with
    /// defaults when the section is absent.
    #[serde(default)]
    pub weather: Option<super::WeatherSettings>,
    /// `[[influxdb_sources]]`: series read from existing InfluxDB servers, one worker each.
    #[serde(default)]
    pub influxdb_sources: Vec<super::InfluxSourceConfig>,
    /// Whether `.env` holds the Dropbox credentials: the exchange then runs without a
    /// `[district_heating]` section, as in the seed. Set by the orchestrator from `.env`.
    #[serde(skip)]
    pub dropbox_in_env: bool,
    /// `[meters]`: when the meter analytics worker runs; it runs whenever definitions are found.
    #[serde(default)]
    pub meters: crate::kinds::meters::MetersSettings,
    /// The meter definitions (`meters.yaml` beside `hemflux.toml`), read and checked by the
    /// orchestrator at every rescan. Set by the orchestrator, not a key of `hemflux.toml`.
    #[serde(skip)]
    pub meter_definitions: Option<crate::kinds::meters::MeterDefinitions>,
}
