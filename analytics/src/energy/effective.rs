//! Effective outdoor temperature (heating.md §2): the outdoor temperature corrected for wind,
//! humidity and sun, with one coefficient set per entity and the weather joined as-of.
//!
//! `T_eff = T − kw·√max(0, wind) − kh·max(0, RH − 50) + S`, where with a position
//! `S = ks·sin(elevation)·(1 − 0.9·cloud/8)` while the sun is up and 0 otherwise. Unlike the seed,
//! an entity without a position gets no sun term at all (the seed added a daytime gain at night).

use hemflux_shared::config::Location;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::solar::sun_elevation_deg;

/// Wind speed assumed when an observation lacks it (m/s), as the seed does.
pub const DEFAULT_WIND_MS: f64 = 3.0;
/// Relative humidity assumed when an observation lacks it (%), as the seed does.
pub const DEFAULT_HUMIDITY_PCT: f64 = 60.0;
/// Cloud cover assumed when an observation lacks it (octas); the seed always used this.
pub const DEFAULT_CLOUD_OCTAS: f64 = 4.0;

/// One weather observation (or forecast step) at `time`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeatherObs {
    pub time: Timestamp,
    pub temp_c: f64,
    pub wind_ms: Option<f64>,
    pub humidity_pct: Option<f64>,
    pub cloud_octas: Option<f64>,
}

/// The one coefficient set an entity uses everywhere (stored value, split and forecast alike).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Coefficients {
    /// °C per √(m/s) of wind.
    pub wind: f64,
    /// °C per % of relative humidity above 50 %.
    pub humidity: f64,
    /// °C of gain with the sun at the zenith under a clear sky.
    pub solar: f64,
}

impl Default for Coefficients {
    /// The seed's physical defaults (kw 0.56, kh 0.01, ks 15).
    fn default() -> Self {
        Coefficients {
            wind: 0.56,
            humidity: 0.01,
            solar: 15.0,
        }
    }
}

/// An effective temperature with its parts, as the seed wrote them (the effects are signed: what
/// each term adds to the outdoor temperature).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EffectiveTemp {
    pub value: f64,
    pub wind_effect: f64,
    pub humidity_effect: f64,
    pub solar_effect: f64,
}

/// T_eff of one observation given the sun's elevation in degrees (`None` without a position).
pub fn effective_temp(
    obs: &WeatherObs,
    sun_elevation: Option<f64>,
    c: &Coefficients,
) -> EffectiveTemp {
    let wind = obs.wind_ms.unwrap_or(DEFAULT_WIND_MS);
    let humidity = obs.humidity_pct.unwrap_or(DEFAULT_HUMIDITY_PCT);
    let cloud = obs
        .cloud_octas
        .unwrap_or(DEFAULT_CLOUD_OCTAS)
        .clamp(0.0, 8.0);
    let wind_effect = -c.wind * wind.max(0.0).sqrt();
    let humidity_effect = -c.humidity * (humidity - 50.0).max(0.0);
    let solar_effect = match sun_elevation {
        Some(e) if e > 0.0 => c.solar * e.to_radians().sin() * (1.0 - 0.9 * cloud / 8.0),
        _ => 0.0,
    };
    EffectiveTemp {
        value: obs.temp_c + wind_effect + humidity_effect + solar_effect,
        wind_effect,
        humidity_effect,
        solar_effect,
    }
}

/// T_eff at `ts` from the weather observed at or before it.
pub fn effective_temp_at(
    weather: &WeatherAsOf,
    location: Option<Location>,
    c: &Coefficients,
    ts: Timestamp,
) -> Option<EffectiveTemp> {
    let obs = weather.at(ts)?;
    Some(effective_temp(
        obs,
        location.map(|l| sun_elevation_deg(l, ts)),
        c,
    ))
}

/// Observations sorted by time, looked up as-of: the latest observation at or before an instant,
/// if it is not older than `max_age` (hourly observations serve every 5-minute row of their hour;
/// the seed's exact 15-minute key missed them and fell back to defaults).
#[derive(Debug, Clone, Copy)]
pub struct WeatherAsOf<'a> {
    obs: &'a [WeatherObs],
    max_age: SignedDuration,
}

impl<'a> WeatherAsOf<'a> {
    /// `obs` must be sorted by time.
    pub fn new(obs: &'a [WeatherObs], max_age: SignedDuration) -> Self {
        debug_assert!(obs.windows(2).all(|w| w[0].time <= w[1].time));
        WeatherAsOf { obs, max_age }
    }

    pub fn at(&self, ts: Timestamp) -> Option<&'a WeatherObs> {
        let i = self.obs.partition_point(|o| o.time <= ts);
        let obs = self.obs.get(i.checked_sub(1)?)?;
        (ts.duration_since(obs.time) <= self.max_age).then_some(obs)
    }
}

/// The default age limit of an as-of join: an hourly source may miss one observation.
pub const DEFAULT_MAX_WEATHER_AGE: SignedDuration = SignedDuration::from_hours(3);

/// T_eff on every whole hour from `from` until `to` that has weather, for daily means and fits.
pub fn hourly_effective_temps(
    weather: &WeatherAsOf,
    location: Option<Location>,
    c: &Coefficients,
    from: Timestamp,
    to: Timestamp,
) -> Vec<(Timestamp, f64)> {
    super::days::whole_hours(from, to)
        .filter_map(|h| effective_temp_at(weather, location, c, h).map(|t| (h, t.value)))
        .collect()
}

#[cfg(test)]
mod tests;
