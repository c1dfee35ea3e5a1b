//! `weather`: one worker for every house and building with a `location` (SMHI).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Kind;
use crate::config::{
    weather_worker, ConfigError, Entity, Globals, WeatherPosition, WeatherSettings, WorkerSpec,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeatherWorker {
    pub settings: WeatherSettings,
    pub positions: Vec<WeatherPosition>,
}

impl Kind for WeatherWorker {
    fn desired(
        entities: &[(PathBuf, Entity)],
        globals: &Globals,
        errors: &mut Vec<ConfigError>,
    ) -> Vec<WorkerSpec> {
        weather_worker(entities, globals.weather.as_ref(), errors)
            .into_iter()
            .collect()
    }
}
