//! One entity's energy analysis from its history: daily inputs, the calibration (k fit plus the
//! hot-water model) and the daily split. The worker, `hemflux analytics run` and the benchmark
//! all go through these three functions.

use hemflux_shared::config::Location;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::days::{daily_energy, daily_means, HourlyEnergy, LocalDays};
use super::effective::{
    hourly_effective_temps, Coefficients, WeatherAsOf, WeatherObs, DEFAULT_MAX_WEATHER_AGE,
};
use super::hot_water::{day_rows, dhw_threshold_c, fit_hot_water, HeatingRow, HotWaterModel};
use super::regression::{fit_daily, DailyFit, FitDay, FitSettings, NoFit};
use super::separation::{separate_day, DayInputs, DaySeparation};

/// Who is analysed and how its data are to be read.
#[derive(Debug, Clone)]
pub struct Entity {
    pub id: String,
    /// `house_id` or `building_id`: the tag of every record.
    pub tag: &'static str,
    pub tz: TimeZone,
    pub location: Option<Location>,
    pub coefficients: Coefficients,
    /// Stands in for a missing indoor temperature (the seed's `assumed_indoor_temp`).
    pub assumed_indoor_c: f64,
    /// The heating rows' poll interval.
    pub poll_interval: SignedDuration,
}

/// The history the analysis reads, each series sorted by time.
#[derive(Debug, Clone, Copy)]
pub struct History<'a> {
    /// One slice per meter of the entity; the meters are summed.
    pub meters: &'a [&'a [HourlyEnergy]],
    pub heating: &'a [HeatingRow],
    pub weather: &'a [WeatherObs],
}

/// Tunables of the analysis, per entity (`analytics` section of a profile).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub fit: FitSettings,
    /// The fit uses the complete days among this many most recent days.
    pub calibration_days: usize,
    /// Refit this often (hours).
    pub recalibration_hours: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            fit: FitSettings::default(),
            calibration_days: 30,
            recalibration_hours: 72,
        }
    }
}

/// Builds the daily inputs of the local days `first..=last`. The hot-water threshold comes from
/// all heating rows passed (pass the calibration window for a stable baseline).
pub fn day_inputs(entity: &Entity, history: &History, first: Date, last: Date) -> Vec<DayInputs> {
    let days = LocalDays::between(&entity.tz, first, last);
    if days.is_empty() {
        return Vec::new();
    }
    let (from, to) = (days.start(0), days.end(days.len() - 1));
    let energy = daily_energy(&days, history.meters);
    let weather = WeatherAsOf::new(history.weather, DEFAULT_MAX_WEATHER_AGE);
    let temps = daily_means(
        &days,
        &hourly_effective_temps(&weather, entity.location, &entity.coefficients, from, to),
    );
    let threshold = dhw_threshold_c(history.heating);
    let poll_minutes = entity.poll_interval.as_secs_f64() / 60.0;
    (0..days.len())
        .map(|i| {
            let rows = &history.heating[days.slice_range(i, history.heating, |r| r.time)];
            DayInputs {
                date: days.date(i),
                hours: days.hours(i),
                energy: energy[i],
                effective_temp: temps[i],
                rows: day_rows(rows, threshold, poll_minutes),
                rows_expected: (days.hours(i) * 60.0 / poll_minutes).round() as usize,
            }
        })
        .collect()
}

/// The outcome of a calibration: the fit (or why there is none) and the hot-water model.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub fit: Result<DailyFit, NoFit>,
    pub hot_water: Option<HotWaterModel>,
    /// Days offered (the window) and their mean effective outdoor temperature.
    pub total_days: usize,
    pub avg_effective_temp_c: Option<f64>,
    /// Median of the heating days' own k, `(energy − intercept)/(24·HDD)`: the spread behind the fit.
    pub daily_k_median: Option<f64>,
}

impl Calibration {
    /// The fit if it may be used.
    pub fn usable_fit(&self) -> Option<&DailyFit> {
        self.fit.as_ref().ok().filter(|f| f.usable())
    }
}

/// Fits k on the complete days of `days`, then the hot-water model on the same days.
pub fn calibrate(days: &[DayInputs], settings: &Settings) -> Calibration {
    let complete: Vec<&DayInputs> = days.iter().filter(|d| d.complete()).collect();
    let fit_days: Vec<FitDay> = complete
        .iter()
        .map(|d| FitDay {
            date: d.date,
            kwh_per_day: d.kwh_per_24h(),
            mean_temp_c: d.effective_temp.map_or(f64::NAN, |t| t.mean),
        })
        .collect();
    let fit = fit_daily(&fit_days, &settings.fit);
    let hot_water = fit.as_ref().ok().filter(|f| f.usable()).and_then(|f| {
        let rests: Vec<(f64, f64)> = complete
            .iter()
            .zip(&fit_days)
            .map(|(d, fd)| {
                let scale = 24.0 / d.hours;
                let rest = fd.kwh_per_day - f.slope_kwh_per_k_day * f.hdd(fd.mean_temp_c);
                (d.rows.dhw_minutes * scale, rest)
            })
            .collect();
        fit_hot_water(&rests)
    });
    let daily_k_median = fit.as_ref().ok().and_then(|f| {
        let mut ks: Vec<f64> = fit_days
            .iter()
            .filter(|d| f.hdd(d.mean_temp_c) > 0.0)
            .map(|d| (d.kwh_per_day - f.intercept_kwh_per_day) / (24.0 * f.hdd(d.mean_temp_c)))
            .collect();
        ks.sort_by(f64::total_cmp);
        ks.get(ks.len() / 2).copied()
    });
    let temps: Vec<f64> = days
        .iter()
        .filter_map(|d| d.effective_temp.map(|t| t.mean))
        .collect();
    Calibration {
        fit,
        hot_water,
        total_days: days.len(),
        avg_effective_temp_c: (!temps.is_empty())
            .then(|| temps.iter().sum::<f64>() / temps.len() as f64),
        daily_k_median,
    }
}

/// Splits every day with a calibration (the newest usable one).
pub fn separate(
    days: &[DayInputs],
    fit: Option<&DailyFit>,
    hot_water: Option<&HotWaterModel>,
    entity: &Entity,
) -> Vec<DaySeparation> {
    days.iter()
        .map(|d| separate_day(d, fit, hot_water, entity.assumed_indoor_c))
        .collect()
}

/// The local days a run covers: the `calibration_days` complete local days before `now`'s date
/// (today is never split: it is not over).
pub fn window_before(now: Timestamp, tz: &TimeZone, days: usize) -> (Date, Date) {
    let today = super::days::local_date(now, tz);
    let last = today.yesterday().expect("dates stay in range");
    let first = last
        .checked_sub(jiff::Span::new().days(days.saturating_sub(1) as i64))
        .expect("dates stay in range");
    (first, last)
}

#[cfg(test)]
mod tests;
