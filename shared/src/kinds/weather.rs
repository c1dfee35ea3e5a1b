//! `weather`: one worker for every house and building with a `location` (SMHI).

use serde::{Deserialize, Serialize};

use super::{Desired, Kind};
use crate::config::{
    weather_worker, WeatherPosition, WeatherSettings, WorkerSpec,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeatherWorker {
    pub settings: WeatherSettings,
    pub positions: Vec<WeatherPosition>,
}

impl Kind for WeatherWorker {
    fn desired(cx: &mut Desired<'_>) -> Vec<WorkerSpec> {
        weather_worker(cx.entities, cx.globals.weather.as_ref(), cx.errors)
            .into_iter()
            .collect()
    }
}
