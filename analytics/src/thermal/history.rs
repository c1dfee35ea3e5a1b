//! `thermal_history` as the seed wrote it (tag `house_id`; fields `room_temperature`,
//! `outdoor_temperature`, `supply_temp`, `electric_heater` 0/1, `return_temp`), and its restore,
//! which (unlike the seed's, §11.6) keeps only the asking house's points.

use hemflux_shared::point::Point;
use jiff::Timestamp;

pub const THERMAL_HISTORY: &str = "thermal_history";

/// One poll of a house, as the thermal model learns from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThermalSample {
    pub time: Timestamp,
    pub room: f64,
    pub outdoor: f64,
    /// The effective outdoor temperature (wind, sun) when known; the model prefers it.
    pub effective_outdoor: Option<f64>,
    pub supply: Option<f64>,
    pub return_temp: Option<f64>,
    pub electric_heater: bool,
}

impl ThermalSample {
    /// The outdoor temperature the house feels: effective when known, else measured.
    pub fn felt_outdoor(&self) -> f64 {
        self.effective_outdoor.unwrap_or(self.outdoor)
    }
}

/// The `thermal_history` point of one sample.
pub fn thermal_history_point(house_id: &str, sample: &ThermalSample) -> Point {
    let mut point = Point::new(THERMAL_HISTORY, sample.time.as_nanosecond() as i64)
        .tag("house_id", house_id)
        .field("room_temperature", sample.room)
        .field("outdoor_temperature", sample.outdoor)
        .field("electric_heater", i64::from(sample.electric_heater));
    if let Some(supply) = sample.supply {
        point = point.field("supply_temp", supply);
    }
    if let Some(return_temp) = sample.return_temp {
        point = point.field("return_temp", return_temp);
    }
    point
}

/// Samples of `house_id` from stored `thermal_history` points, in time order. Points of other
/// houses, other measurements, or without room and outdoor temperature are skipped.
pub fn restore_thermal_history(house_id: &str, points: &[Point]) -> Vec<ThermalSample> {
    let mut samples: Vec<ThermalSample> = points
        .iter()
        .filter(|p| {
            p.measurement == THERMAL_HISTORY
                && p.tags.get("house_id").map(String::as_str) == Some(house_id)
        })
        .filter_map(|p| {
            let number = |name: &str| p.fields.get(name).and_then(|v| v.as_f64());
            Some(ThermalSample {
                time: Timestamp::from_nanosecond(i128::from(p.time)).ok()?,
                room: number("room_temperature")?,
                outdoor: number("outdoor_temperature")?,
                effective_outdoor: None,
                supply: number("supply_temp"),
                return_temp: number("return_temp"),
                electric_heater: number("electric_heater").is_some_and(|v| v != 0.0),
            })
        })
        .collect();
    samples.sort_by_key(|s| s.time);
    samples
}
