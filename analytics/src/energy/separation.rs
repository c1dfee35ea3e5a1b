//! The daily split of metered energy (heating.md §5, fixed): space heating = k × degree-hours from
//! the regression, the rest is hot water plus base load. Days without a usable fit or without
//! complete data get `no_breakdown` rather than an exception.

use jiff::civil::Date;

use super::days::{DayEnergy, DayMean};
use super::hot_water::{DayRows, HotWaterModel};
use super::regression::DailyFit;

/// A day counts for fits and splits only when every metered hour is there and T_eff is known for
/// at least this share of its hours (CalTRACK's 90 % daily coverage).
pub const MIN_TEMP_COVERAGE: f64 = 0.9;

/// Everything known about one local day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayInputs {
    pub date: Date,
    /// Length of the local day: 23, 24 or 25 hours.
    pub hours: f64,
    pub energy: DayEnergy,
    /// Mean effective outdoor temperature over the day's whole hours.
    pub effective_temp: Option<DayMean>,
    pub rows: DayRows,
    /// Heating rows a full day holds at the entity's poll interval.
    pub rows_expected: usize,
}

impl DayInputs {
    /// Complete meter hours and enough weather: the day may enter fits and be split.
    pub fn complete(&self) -> bool {
        self.energy.complete()
            && self
                .effective_temp
                .is_some_and(|t| t.coverage >= MIN_TEMP_COVERAGE)
    }

    /// Energy scaled to a 24-hour day (DST days are 23 or 25 hours long).
    pub fn kwh_per_24h(&self) -> f64 {
        self.energy.kwh * 24.0 / self.hours
    }
}

/// One day's split, with the seed's `energy_separated` fields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DaySeparation {
    pub date: Date,
    pub actual_energy_kwh: f64,
    pub heating_energy_kwh: f64,
    pub dhw_energy_kwh: f64,
    /// Actual − heating: hot water plus base load (negative on a day colder in use than modelled).
    pub excess_energy_kwh: f64,
    pub base_energy_kwh: f64,
    /// Mean indoor − mean effective outdoor temperature.
    pub avg_temp_difference: f64,
    /// Hours × degrees below the balance point: `k × degree_hours` is the space heating.
    pub degree_hours: f64,
    pub k_value: f64,
    /// Actual energy per degree-hour (0 without degree-hours), for comparison with k.
    pub k_implied: f64,
    pub dhw_events: u32,
    pub dhw_minutes: f64,
    /// Share of the day's metered hours present.
    pub data_coverage: f64,
    pub avg_indoor_temp: Option<f64>,
    pub avg_effective_outdoor_temp: Option<f64>,
    pub no_breakdown: bool,
}

/// Splits one day with a fit (`None`, or a rejected fit, gives `no_breakdown`). `assumed_indoor_c`
/// stands in for a missing indoor temperature (buildings: 21 °C).
pub fn separate_day(
    day: &DayInputs,
    fit: Option<&DailyFit>,
    hot_water: Option<&HotWaterModel>,
    assumed_indoor_c: f64,
) -> DaySeparation {
    let t_eff = day.effective_temp.map(|t| t.mean);
    let indoor = day.rows.mean_indoor_c.unwrap_or(assumed_indoor_c);
    let degree_hours = match (fit, t_eff) {
        (Some(f), Some(t)) => f.hdd(t) * day.hours,
        _ => 0.0,
    };
    let mut out = DaySeparation {
        date: day.date,
        actual_energy_kwh: day.energy.kwh,
        heating_energy_kwh: 0.0,
        dhw_energy_kwh: 0.0,
        excess_energy_kwh: 0.0,
        base_energy_kwh: 0.0,
        avg_temp_difference: t_eff.map_or(0.0, |t| indoor - t),
        degree_hours,
        k_value: fit.map_or(0.0, |f| f.k_kw_per_k),
        k_implied: if degree_hours > 0.0 {
            day.energy.kwh / degree_hours
        } else {
            0.0
        },
        dhw_events: day.rows.dhw_events,
        dhw_minutes: day.rows.dhw_minutes,
        data_coverage: day.energy.coverage(),
        avg_indoor_temp: day.rows.mean_indoor_c,
        avg_effective_outdoor_temp: t_eff,
        no_breakdown: true,
    };
    let Some(fit) = fit.filter(|f| f.usable() && day.complete()) else {
        return out;
    };
    out.heating_energy_kwh = fit.k_kw_per_k * degree_hours;
    out.excess_energy_kwh = day.energy.kwh - out.heating_energy_kwh;
    let base = hot_water.map_or(0.0, |m| m.base_kwh_per_day * day.hours / 24.0);
    out.base_energy_kwh = base.min(out.excess_energy_kwh.max(0.0));
    out.dhw_energy_kwh = (out.excess_energy_kwh - out.base_energy_kwh).max(0.0);
    out.no_breakdown = false;
    out
}
