//! What the controller reads: the house through its worker (`observe`), and the SMHI forecast at
//! the house's location.

use anyhow::{Context, Result};
use hemflux_analytics::thermal::curve::{HeatCurve, CURVE_POINTS};
use hemflux_analytics::thermal::forecast::{WeatherHour, FORECAST_HOURS};
use hemflux_analytics::thermal::history::ThermalSample;
use hemflux_shared::Point;
use jiff::Timestamp;
use serde::Deserialize;

use hemflux_clients::smhi::Step;

/// The house worker's answer to `observe`.
#[derive(Debug, Clone, Deserialize)]
pub struct HouseNow {
    /// The source's time of the reading: the controller runs on the device's clock.
    pub time: Timestamp,
    pub room: Option<f64>,
    pub outdoor: Option<f64>,
    pub supply: Option<f64>,
    #[serde(rename = "return")]
    pub return_temp: Option<f64>,
    pub curve: Vec<f64>,
}

impl HouseNow {
    pub fn parse(answer: &str) -> Result<Self> {
        serde_json::from_str(answer).with_context(|| format!("observe answered {answer:?}"))
    }

    pub fn curve(&self) -> Result<HeatCurve> {
        let points: [f64; CURVE_POINTS] = self
            .curve
            .as_slice()
            .try_into()
            .with_context(|| format!("a curve of {} points, not 10", self.curve.len()))?;
        Ok(HeatCurve(points))
    }

    pub fn sample(&self) -> Result<ThermalSample> {
        Ok(ThermalSample {
            time: self.time,
            room: self.room.context("the house reads no room temperature")?,
            outdoor: self
                .outdoor
                .context("the house reads no outdoor temperature")?,
            effective_outdoor: None,
            supply: self.supply,
            return_temp: self.return_temp,
            electric_heater: false,
        })
    }
}

/// The `heating_system` fields the history is made of.
pub const HISTORY_FIELDS: [&str; 4] = [
    "room_temperature",
    "outdoor_temperature",
    "supply_temp",
    "return_temp",
];

/// A stored `heating_system` point (the house worker's poll) as a sample of the house's history;
/// `None` without room or outdoor temperature.
pub fn stored_sample(point: &Point) -> Option<ThermalSample> {
    let number = |name: &str| point.fields.get(name).and_then(|v| v.as_f64());
    Some(ThermalSample {
        time: Timestamp::from_nanosecond(i128::from(point.time)).ok()?,
        room: number(HISTORY_FIELDS[0])?,
        outdoor: number(HISTORY_FIELDS[1])?,
        effective_outdoor: None,
        supply: number(HISTORY_FIELDS[2]),
        return_temp: number(HISTORY_FIELDS[3]),
        electric_heater: false,
    })
}

/// The forecast's air temperatures after `now`, up to 72 h ahead. The felt temperature is the
/// air temperature: wind and sun coefficients are the energy analytics' to learn.
pub fn weather_hours(steps: &[Step], now: Timestamp) -> Vec<WeatherHour> {
    steps
        .iter()
        .filter(|s| s.time > now)
        .filter(|s| (s.time - now).get_seconds() as f64 <= FORECAST_HOURS * 3600.0)
        .filter_map(|s| {
            let outdoor = *s.data.get("air_temperature")?;
            Some(WeatherHour {
                time: s.time,
                outdoor,
                effective_outdoor: outdoor,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn an_observation_reads_as_the_house_worker_writes_it() {
        let now = HouseNow::parse(
            r#"{"time":"2026-01-10T12:00:00Z","room":21.3,"outdoor":-4.0,"supply":38.2,"return":30.1,"curve":[45,43,41,39,37,35,33,31,29,27],"adaption":false}"#,
        )
        .unwrap();
        assert_eq!(now.curve().unwrap().0[9], 27.0);
        assert_eq!(now.sample().unwrap().supply, Some(38.2));
        let short = HouseNow {
            curve: vec![1.0; 9],
            ..now.clone()
        };
        assert!(short.curve().unwrap_err().to_string().contains("9 points"));
        let blind = HouseNow { room: None, ..now };
        assert!(blind.sample().is_err());
    }

    #[test]
    fn stored_polls_become_samples_when_they_have_room_and_outdoor() {
        let poll = Point::new("heating_system", 1_768_046_400_000_000_000)
            .tag("house_id", "villa_1")
            .field("room_temperature", 21.4)
            .field("outdoor_temperature", -3.0)
            .field("supply_temp", 41.0);
        let s = stored_sample(&poll).unwrap();
        assert_eq!((s.room, s.outdoor, s.supply, s.return_temp), (21.4, -3.0, Some(41.0), None));
        assert_eq!(s.time.to_string(), "2026-01-10T12:00:00Z");
        let blind = Point::new("heating_system", 0).field("outdoor_temperature", 1.0);
        assert!(stored_sample(&blind).is_none());
    }

    #[test]
    fn the_forecast_keeps_air_temperatures_of_the_coming_72_hours() {
        let now: Timestamp = "2026-01-10T12:00:00Z".parse().unwrap();
        let step = |h: i64, t: Option<f64>| Step {
            time: now + jiff::SignedDuration::from_hours(h),
            start: now,
            data: t
                .map(|t| BTreeMap::from([("air_temperature".to_string(), t)]))
                .unwrap_or_default(),
        };
        let steps = [
            step(0, Some(1.0)),
            step(1, Some(2.0)),
            step(2, None),
            step(72, Some(3.0)),
            step(78, Some(4.0)),
        ];
        let hours = weather_hours(&steps, now);
        let temps: Vec<f64> = hours.iter().map(|h| h.outdoor).collect();
        assert_eq!(temps, [2.0, 3.0]);
    }
}
