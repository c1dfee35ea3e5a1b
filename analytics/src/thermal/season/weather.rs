//! Hourly Stockholm-like weather for a heating season, with warm spells, and forecasts of it whose
//! error grows with lead time. Deterministic for a seed.

use std::f64::consts::PI;

use hemflux_shared::config::Location;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::energy::solar::sun_elevation_deg;

const STOCKHOLM: Location = Location {
    lat: 59.33,
    lon: 18.07,
};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeatherSample {
    pub outdoor: f64,
    /// Global irradiance, W/m².
    pub irradiance: f64,
}

/// `hours` of weather in Stockholm from `start`, hourly.
pub fn stockholm_season(start: Timestamp, hours: usize, seed: u64) -> Vec<WeatherSample> {
    let start_day = f64::from(start.to_zoned(TimeZone::UTC).day_of_year())
        + (start.as_second().rem_euclid(86_400) as f64) / 86_400.0;
    let mut rng = fastrand::Rng::with_seed(seed);
    let spells = warm_spells(&mut rng, hours);
    let phi = (-1.0f64 / 48.0).exp();
    let (mut anomaly, mut cloud) = (0.0, 0.5);
    (0..hours)
        .map(|h| {
            let day = start_day + h as f64 / 24.0;
            let time = start + SignedDuration::from_hours(h as i64);
            let seasonal = 7.0 - 9.5 * (2.0 * PI * (day - 25.0) / 365.0).cos();
            anomaly = phi * anomaly + 3.5 * (1.0 - phi * phi).sqrt() * normal(&mut rng);
            cloud = (0.97 * cloud + 0.03 * 0.65 + 0.08 * normal(&mut rng)).clamp(0.0, 1.0);
            let irradiance = clear_sky(STOCKHOLM, time) * (1.0 - 0.8 * cloud);
            let diurnal = (0.5 + 2.0 * (1.0 - cloud)) * (2.0 * PI * (day.fract() - 0.375)).sin();
            let spell: f64 = spells.iter().map(|s| s.at(h)).sum();
            WeatherSample {
                outdoor: seasonal + anomaly + diurnal + spell,
                irradiance,
            }
        })
        .collect()
}

/// A warm spell: a smooth bump of `amplitude` °C over `length` hours from `start`.
struct Spell {
    start: usize,
    length: usize,
    amplitude: f64,
}

impl Spell {
    fn at(&self, h: usize) -> f64 {
        if h < self.start || h >= self.start + self.length {
            return 0.0;
        }
        let x = (h - self.start) as f64 / self.length as f64;
        self.amplitude * (PI * x).sin().powi(2)
    }
}

/// About one warm spell a month, 2–5 days long, 5–9 °C.
fn warm_spells(rng: &mut fastrand::Rng, hours: usize) -> Vec<Spell> {
    (0..hours / (30 * 24))
        .map(|month| Spell {
            start: month * 30 * 24 + rng.usize(0..20 * 24),
            length: rng.usize(48..120),
            amplitude: 5.0 + 4.0 * rng.f64(),
        })
        .collect()
}

/// Clear-sky global irradiance (W/m²) at a place and instant.
pub fn clear_sky(at: Location, time: Timestamp) -> f64 {
    let elevation = sun_elevation_deg(at, time).to_radians();
    if elevation <= 0.0 {
        0.0
    } else {
        1000.0 * elevation.sin().powf(1.2)
    }
}

/// A standard normal draw (Box–Muller).
pub fn normal(rng: &mut fastrand::Rng) -> f64 {
    let u = rng.f64().max(1e-12);
    (-2.0 * u.ln()).sqrt() * (2.0 * PI * rng.f64()).cos()
}

/// A forecast issued at hour `issue` for the next `horizon` hours: the truth plus an error that
/// grows as a random walk (about 1.2 °C at 24 h, 2 °C at 72 h) and a cloud error on the sun.
pub fn forecast(
    weather: &[WeatherSample],
    issue: usize,
    horizon: usize,
    rng: &mut fastrand::Rng,
) -> Vec<WeatherSample> {
    let mut error = 0.0;
    (1..=horizon)
        .filter_map(|lead| {
            let truth = weather.get(issue + lead)?;
            error += 0.25 * normal(rng);
            let sun_error = (1.0 + 0.3 * (lead as f64 / 24.0).sqrt() * normal(rng)).clamp(0.0, 2.0);
            Some(WeatherSample {
                outdoor: truth.outdoor + error,
                irradiance: truth.irradiance * sun_error,
            })
        })
        .collect()
}
