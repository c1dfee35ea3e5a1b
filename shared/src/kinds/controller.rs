//! `controller:<id>`: heat-curve control of one house, for a house profile with a
//! `heat_curve_control` section (and the `homeside` section and `location` that needs). It holds
//! no credentials: it reads the house and writes the curve by asking `house:<id>`, the only
//! worker it may ask (see [`may_ask`]); from the store it reads the house's own series.

use serde::{Deserialize, Serialize};

use super::{Desired, Kind};
use crate::config::control::ControlConfig;
use crate::config::{Location, WeatherSettings, WorkerSpec};
use crate::read::{Grant, ReadScope};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerWorker {
    pub house_id: String,
    pub control: ControlConfig,
    /// Where the weather forecast is asked for.
    pub location: Location,
    /// hemflux.toml's `[weather]` (the SMHI forecast's URL and timeout).
    pub weather: WeatherSettings,
}

impl Kind for ControllerWorker {
    fn desired(cx: &mut Desired<'_>) -> Vec<WorkerSpec> {
        let weather = cx.globals.weather.clone().unwrap_or_default();
        cx.houses()
            .filter_map(|(file, h)| {
                let control = h.heat_curve_control.as_deref()?.clone();
                h.homeside.as_ref()?;
                Some(WorkerSpec::new(
                    controller_id(&h.id),
                    ControllerWorker {
                        house_id: h.id.clone(),
                        control,
                        location: h.location?,
                        weather: weather.clone(),
                    },
                    Vec::new(),
                    file,
                ))
            })
            .collect()
    }

    /// The house's own series (its `heating_system` history).
    fn reads(&self) -> ReadScope {
        ReadScope::new(vec![Grant::entity("house_id", &self.house_id)])
    }
}

pub fn controller_id(house_id: &str) -> String {
    format!("controller:{house_id}")
}

/// The house worker a controller writes through.
pub fn house_worker_id(house_id: &str) -> String {
    format!("house:{house_id}")
}

/// Whether worker `asker` may send commands to worker `target`: a house's controller to that
/// house's worker, and nothing else.
pub fn may_ask(asker: &str, target: &str) -> bool {
    asker
        .strip_prefix("controller:")
        .is_some_and(|house| target == house_worker_id(house))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_controller_may_ask_its_own_house_only() {
        assert!(may_ask("controller:villa_1", "house:villa_1"));
        assert!(!may_ask("controller:villa_1", "house:villa_2"));
        assert!(!may_ask("controller:villa_1", "controller:villa_1"));
        assert!(!may_ask("house:villa_1", "house:villa_1"));
        assert!(!may_ask("weather:all", "house:villa_1"));
    }
}
