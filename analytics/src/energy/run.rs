//! The tasks as a worker runs them, with the state it checkpoints: the daily energy pipeline
//! (split with the k in use, refit when due), the gap fill, and a one-off analysis of a range.

use hemflux_shared::point::Point;
use jiff::civil::Date;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::analysis::{
    calibrate, day_inputs, separate, window_before, Calibration, Entity, History, Settings,
};
use super::effective::{effective_temp_at, WeatherAsOf, WeatherObs, DEFAULT_MAX_WEATHER_AGE};
use super::gaps::{weather_refills, WeatherRefill};
use super::hot_water::HotWaterModel;
use super::records;
use super::regression::DailyFit;
use super::schedule::{recalibration_due, ScheduleState};
use super::separation::{DayInputs, DaySeparation};

/// What the analytics worker keeps across restarts (its checkpoint): the k in use (the entity's
/// state, not the file the user edits), when it was fitted, and which slots have run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergyState {
    pub fit: Option<DailyFit>,
    pub hot_water: Option<HotWaterModel>,
    pub calibrated_at: Option<Timestamp>,
    pub schedule: ScheduleState,
}

/// The records of a run, and the calibration if one was attempted.
#[derive(Debug, Clone)]
pub struct PipelineRun {
    pub points: Vec<Point>,
    pub calibration: Option<Calibration>,
}

/// The daily energy pipeline over the last `calibration_days` local days before today: refit k
/// when due (a usable fit replaces the k in use; a failed one is reported and retried next run),
/// then split every day of the window with the k in use. `history` must cover the window.
pub fn energy_pipeline(
    entity: &Entity,
    history: &History,
    state: &mut EnergyState,
    settings: &Settings,
    now: Timestamp,
) -> PipelineRun {
    let (first, last) = window_before(now, &entity.tz, settings.calibration_days);
    let days = day_inputs(entity, history, first, last);
    let mut points = Vec::new();
    let mut calibration = None;
    if recalibration_due(state.calibrated_at, now, settings.recalibration_hours) {
        let cal = calibrate(&days, settings);
        points.extend(records::k_value_history(entity, &cal, now));
        if let Some(fit) = cal.usable_fit() {
            state.fit = Some(fit.clone());
            state.hot_water = cal.hot_water;
            state.calibrated_at = Some(now);
        }
        calibration = Some(cal);
    }
    let split = separate(&days, state.fit.as_ref(), state.hot_water.as_ref(), entity);
    points.extend(records::energy_separated(entity, &split));
    PipelineRun {
        points,
        calibration,
    }
}

/// A one-off analysis of the local days `first..=last` (`hemflux analytics run`): one fit over
/// all complete days of the range, and the split of every day with it.
#[derive(Debug, Clone)]
pub struct RangeAnalysis {
    pub days: Vec<DayInputs>,
    pub calibration: Calibration,
    pub split: Vec<DaySeparation>,
}

impl RangeAnalysis {
    /// Hot water's share of the metered energy of the days that were split.
    pub fn dhw_share(&self) -> Option<f64> {
        let split = self.split.iter().filter(|d| !d.no_breakdown);
        let (dhw, total) = split.fold((0.0, 0.0), |(h, t), d| {
            (h + d.dhw_energy_kwh, t + d.actual_energy_kwh)
        });
        (total > 0.0).then(|| dhw / total)
    }
}

pub fn analyse_range(
    entity: &Entity,
    history: &History,
    first: Date,
    last: Date,
    settings: &Settings,
) -> RangeAnalysis {
    let days = day_inputs(entity, history, first, last);
    let calibration = calibrate(&days, settings);
    let split = separate(
        &days,
        calibration.usable_fit(),
        calibration.hot_water.as_ref(),
        entity,
    );
    RangeAnalysis {
        days,
        calibration,
        split,
    }
}

/// The gap fill over `[from, to]`: the weather to fetch at the entity's own position, and
/// `effective_temp` for the heating rows at `rows_missing_it` (merged into those rows by the store).
pub fn gap_fill(
    entity: &Entity,
    weather: &[WeatherObs],
    rows_missing_it: &[Timestamp],
    from: Timestamp,
    to: Timestamp,
) -> (Vec<WeatherRefill>, Vec<Point>) {
    let observed: Vec<Timestamp> = weather.iter().map(|o| o.time).collect();
    let refills = weather_refills(&observed, from, to, entity.location);
    let as_of = WeatherAsOf::new(weather, DEFAULT_MAX_WEATHER_AGE);
    let points = rows_missing_it
        .iter()
        .filter_map(|t| {
            let eff = effective_temp_at(&as_of, entity.location, &entity.coefficients, *t)?;
            Some(records::effective_temp(entity, *t, &eff))
        })
        .collect();
    (refills, points)
}

#[cfg(test)]
mod tests;
