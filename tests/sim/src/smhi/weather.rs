//! Deterministic weather as a function of time and place, shared by the observations and the
//! forecasts so that they roughly agree.

use std::f64::consts::PI;

/// The weather at one instant and place.
pub struct Weather {
    pub temperature: f64,
    pub wind_speed: f64,
    pub wind_direction: f64,
    pub humidity: f64,
    pub pressure: f64,
    /// mm during the hour ending at this instant.
    pub precipitation: f64,
    pub gust: f64,
    pub dew_point: f64,
    /// Octas, 0-8.
    pub cloud: f64,
    pub visibility_km: f64,
}

pub fn at(t_secs: i64, lat: f64, lon: f64) -> Weather {
    let t = t_secs as f64;
    let day = 86_400.0;
    let doy = (t / day).rem_euclid(365.25);
    let hour = (t / 3600.0 + lon / 15.0).rem_euclid(24.0);
    // Weather systems move west to east: the phase depends on longitude.
    let synoptic = |period_days: f64, shift: f64| {
        (2.0 * PI * (t / (period_days * day) - lon / 40.0) + shift).sin()
    };
    let temperature = 7.0 - 10.0 * (2.0 * PI * (doy - 15.0) / 365.25).cos()
        + 3.0 * (2.0 * PI * (hour - 9.0) / 24.0).sin()
        + 4.0 * synoptic(4.5, 0.0)
        - 0.7 * (lat - 56.0);
    let wind_speed = (5.0 + 3.0 * synoptic(3.0, 1.0) + 0.8 * synoptic(0.7, 2.0)).max(0.0);
    let humidity = (80.0 + 12.0 * synoptic(2.5, 0.5)
        - 6.0 * (2.0 * PI * (hour - 9.0) / 24.0).sin())
    .clamp(20.0, 100.0);
    let cloud = (4.0 + 4.5 * synoptic(2.0, 2.5)).round().clamp(0.0, 8.0);
    let precipitation = if cloud >= 6.0 {
        ((synoptic(1.3, 0.3) + 0.2) * 1.5).max(0.0)
    } else {
        0.0
    };
    Weather {
        temperature,
        wind_speed,
        wind_direction: (230.0 + 60.0 * synoptic(3.5, 1.7)).rem_euclid(360.0),
        humidity,
        pressure: 1012.0 + 12.0 * synoptic(4.0, 3.0),
        precipitation,
        gust: wind_speed * 1.6,
        dew_point: temperature - (100.0 - humidity) / 5.0,
        cloud,
        visibility_km: (50.0 - 5.0 * cloud - 10.0 * precipitation).max(0.5),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn weather_is_plausible_and_evolves() {
        let a = super::at(1_768_471_200, 56.05, 12.69);
        let b = super::at(1_768_471_200 + 6 * 3600, 56.05, 12.69);
        assert!((-30.0..35.0).contains(&a.temperature));
        assert!((0.0..=8.0).contains(&a.cloud) && a.humidity <= 100.0);
        assert!((a.temperature - b.temperature).abs() > 0.01);
    }
}
