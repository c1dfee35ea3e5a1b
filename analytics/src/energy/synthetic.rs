//! A synthetic house with a known k, base load and hot-water use: hourly meter energy, 5-minute
//! heating rows and hourly weather for any period. The tests, the benchmark and the demo use it.
//!
//! The truth is the daily model's own assumption, so that the tests check the pipeline (local
//! days, T_eff, completeness, fit, split) rather than the model: space heating of
//! `k·max(0, T_bal − T̄_eff)` per hour where T̄_eff is the mean effective temperature of the local
//! day, a constant base load, and hot water proportional to the minutes the tap runs hot. Heating
//! that follows each hour's temperature instead bends the daily relation where the day crosses
//! the balance point: k comes out about 7 % low on this house's year (large solar swings).

use std::f64::consts::TAU;

use hemflux_shared::config::Location;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::analysis::{Entity, History};
use super::days::{daily_means, local_date, HourlyEnergy, LocalDays};
use super::effective::{effective_temp, Coefficients, WeatherObs};
use super::hot_water::HeatingRow;
use super::solar::sun_elevation_deg;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HouseSpec {
    pub k_kw_per_k: f64,
    /// The outdoor (effective) temperature below which the house needs heat.
    pub balance_point_c: f64,
    pub base_load_kw: f64,
    /// Hot-water energy per minute the tap runs hot (kWh).
    pub kwh_per_dhw_minute: f64,
    pub location: Location,
    pub seed: u64,
}

impl Default for HouseSpec {
    fn default() -> Self {
        HouseSpec {
            k_kw_per_k: 0.09,
            balance_point_c: 15.0,
            base_load_kw: 0.1,
            kwh_per_dhw_minute: 0.25,
            location: Location {
                lat: 59.33,
                lon: 18.07,
            },
            seed: 1,
        }
    }
}

/// The generated history and what it really contains.
#[derive(Debug, Clone, Default)]
pub struct SyntheticHouse {
    pub meter: Vec<HourlyEnergy>,
    pub heating: Vec<HeatingRow>,
    pub weather: Vec<WeatherObs>,
    /// What each metered hour really holds.
    pub truth: Vec<HourTruth>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HourTruth {
    pub start: Timestamp,
    pub heating_kwh: f64,
    pub dhw_kwh: f64,
    pub base_kwh: f64,
}

impl SyntheticHouse {
    /// The one meter, as [`SyntheticHouse::history`] takes it.
    pub fn meters(&self) -> [&[HourlyEnergy]; 1] {
        [self.meter.as_slice()]
    }

    /// The whole history, `meters` being [`SyntheticHouse::meters`].
    pub fn history<'a>(&'a self, meters: &'a [&'a [HourlyEnergy]]) -> History<'a> {
        History {
            meters,
            heating: &self.heating,
            weather: &self.weather,
        }
    }
}

/// A house in Stockholm as the generator assumes one: default coefficients, 21 °C indoors when
/// unknown, 5-minute heating rows.
pub fn entity(id: &str, location: Option<Location>) -> Entity {
    Entity {
        id: id.into(),
        tag: "house_id",
        tz: TimeZone::get("Europe/Stockholm").expect("jiff knows Europe/Stockholm"),
        location,
        coefficients: Coefficients::default(),
        assumed_indoor_c: 21.0,
        poll_interval: SignedDuration::from_mins(POLL / 60),
    }
}

/// splitmix64: a deterministic generator, so every run sees the same house.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

const POLL: i64 = 300;

/// Generates `[from, to)` (whole hours) with 5-minute heating rows; days are local days of `tz`.
pub fn generate(
    spec: &HouseSpec,
    coefficients: &Coefficients,
    tz: &TimeZone,
    from: Timestamp,
    to: Timestamp,
) -> SyntheticHouse {
    let mut rng = Rng(spec.seed);
    let mut out = SyntheticHouse::default();
    let (first_hour, end_hour) = (
        from.as_second().div_euclid(3600),
        to.as_second().div_euclid(3600),
    );
    let t_eff = weather(
        spec,
        coefficients,
        &mut rng,
        first_hour..end_hour,
        &mut out.weather,
    );
    let days = LocalDays::between(
        tz,
        local_date(from, tz),
        local_date(to - SignedDuration::from_secs(1), tz),
    );
    let day_means = daily_means(&days, &t_eff);
    for (h, (time, _)) in (first_hour..end_hour).zip(&t_eff) {
        let time = *time;
        let hour_of_day = (h % 24) as f64;
        let day_mean = days
            .index_of(time)
            .and_then(|i| day_means[i])
            .map_or(f64::INFINITY, |m| m.mean);
        let heating = spec.k_kw_per_k * (spec.balance_point_c - day_mean).max(0.0);

        // Hot water: a tap opens with some chance each poll in the day, hot for 1–3 polls.
        let mut hot_polls = 0;
        let mut tap_left = 0;
        for p in 0..3600 / POLL {
            let t = Timestamp::from_second(h * 3600 + p * POLL).expect("in range");
            if tap_left == 0 && (6.0..23.0).contains(&hour_of_day) && rng.next() < 0.02 {
                tap_left = 1 + (rng.next() * 3.0) as u32;
            }
            let hot = tap_left > 0;
            if hot {
                tap_left -= 1;
                hot_polls += 1;
            }
            out.heating.push(HeatingRow {
                time: t,
                indoor_c: Some(21.0 + 0.4 * (rng.next() - 0.5)),
                hot_water_c: Some(if hot { 50.0 } else { 24.0 + 2.0 * rng.next() }),
            });
        }
        let dhw = spec.kwh_per_dhw_minute * f64::from(hot_polls) * POLL as f64 / 60.0;
        out.truth.push(HourTruth {
            start: time,
            heating_kwh: heating,
            dhw_kwh: dhw,
            base_kwh: spec.base_load_kw,
        });
        let metering_noise = 1.0 + 0.02 * (rng.next() - 0.5);
        out.meter.push(HourlyEnergy {
            start: time,
            kwh: (heating + spec.base_load_kw + dhw) * metering_noise,
        });
    }
    out
}

/// Hourly weather (a seasonal and daily cycle, day-to-day anomalies, random wind, humidity and
/// cloud) into `out`, and its effective temperature per hour.
fn weather(
    spec: &HouseSpec,
    coefficients: &Coefficients,
    rng: &mut Rng,
    hours: std::ops::Range<i64>,
    out: &mut Vec<WeatherObs>,
) -> Vec<(Timestamp, f64)> {
    let mut anomaly = 0.0;
    hours
        .map(|h| {
            let time = Timestamp::from_second(h * 3600).expect("in range");
            let day_of_year = (h as f64 / 24.0).rem_euclid(365.25);
            let hour_of_day = (h % 24) as f64;
            if h % 24 == 0 {
                // An AR(1) anomaly with a standard deviation of about 4.5 °C.
                anomaly = 0.7 * anomaly + 5.5 * (rng.next() - 0.5) * 2.0;
            }
            let obs = WeatherObs {
                time,
                temp_c: 7.0 - 11.0 * (TAU * (day_of_year - 15.0) / 365.25).cos()
                    + 3.0 * (TAU * (hour_of_day - 9.0) / 24.0).sin()
                    + anomaly,
                wind_ms: Some(6.0 * rng.next()),
                humidity_pct: Some(55.0 + 40.0 * rng.next()),
                cloud_octas: Some((8.0 * rng.next()).round()),
            };
            let elevation = sun_elevation_deg(spec.location, time);
            out.push(obs);
            (
                time,
                effective_temp(&obs, Some(elevation), coefficients).value,
            )
        })
        .collect()
}

/// A whole year from `start`, the shape the tests and the benchmark use.
pub fn year(
    spec: &HouseSpec,
    coefficients: &Coefficients,
    tz: &TimeZone,
    start: Timestamp,
) -> SyntheticHouse {
    generate(
        spec,
        coefficients,
        tz,
        start,
        start + SignedDuration::from_hours(24 * 365),
    )
}
