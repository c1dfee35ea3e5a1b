//! The records the analysis writes, as points with the seed's measurement and field names.

use hemflux_shared::point::Point;
use hemflux_shared::time::to_nanos;
use jiff::Timestamp;

use super::analysis::{Calibration, Entity};
use super::days::label_instant;
use super::effective::EffectiveTemp;
use super::forecast::ForecastHour;
use super::separation::DaySeparation;

/// The `method` tag of the daily split (the seed's, so dashboards keep their series).
pub const SEPARATION_METHOD: &str = "k_calibration";
/// The `method` tag of a k from the CalTRACK daily regression.
pub const K_METHOD: &str = "caltrack_daily";

fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

fn base(measurement: &str, entity: &Entity, time: Timestamp) -> Point {
    Point::new(measurement, to_nanos(time)).tag(entity.tag, entity.id.as_str())
}

/// `energy_separated`, one point per day at UTC midnight of its local date label.
pub fn energy_separated(entity: &Entity, days: &[DaySeparation]) -> Vec<Point> {
    days.iter()
        .map(|d| {
            let mut p = base("energy_separated", entity, label_instant(d.date))
                .tag("method", SEPARATION_METHOD)
                .field("actual_energy_kwh", round(d.actual_energy_kwh, 3))
                .field("heating_energy_kwh", round(d.heating_energy_kwh, 3))
                .field("dhw_energy_kwh", round(d.dhw_energy_kwh, 3))
                .field("excess_energy_kwh", round(d.excess_energy_kwh, 3))
                .field("base_energy_kwh", round(d.base_energy_kwh, 3))
                .field("avg_temp_difference", round(d.avg_temp_difference, 2))
                .field("degree_hours", round(d.degree_hours, 1))
                .field("k_value", round(d.k_value, 5))
                .field("k_implied", round(d.k_implied, 5))
                .field("dhw_events", i64::from(d.dhw_events))
                .field("dhw_minutes", d.dhw_minutes)
                .field("data_coverage", round(d.data_coverage, 3))
                .field("no_breakdown", i64::from(d.no_breakdown));
            if let Some(t) = d.avg_indoor_temp {
                p = p.field("avg_indoor_temp", round(t, 2));
            }
            if let Some(t) = d.avg_effective_outdoor_temp {
                p = p.field("avg_effective_outdoor_temp", round(t, 2));
            }
            p
        })
        .collect()
}

/// `k_value_history` at `now`: the seed's fields plus the fit's. `None` when there is no fit
/// (a fit that is rejected is still written, with `usable = 0`, so that it is seen).
pub fn k_value_history(entity: &Entity, cal: &Calibration, now: Timestamp) -> Option<Point> {
    let fit = cal.fit.as_ref().ok()?;
    let mut p = base("k_value_history", entity, now)
        .tag("method", K_METHOD)
        .field("k_value", round(fit.k_kw_per_k, 6))
        .field(
            "k_median",
            round(cal.daily_k_median.unwrap_or(fit.k_kw_per_k), 6),
        )
        .field("k_stddev", round(fit.k_stderr, 6))
        .field("days_used", fit.days_used as i64)
        .field("total_days", cal.total_days as i64)
        .field(
            "confidence",
            if fit.usable() {
                round(fit.r2_adj.clamp(0.0, 1.0), 4)
            } else {
                0.0
            },
        )
        .field("balance_point_c", round(fit.balance_point_c, 3))
        .field("intercept_kwh_per_day", round(fit.intercept_kwh_per_day, 3))
        .field("slope_kwh_per_k_day", round(fit.slope_kwh_per_k_day, 4))
        .field("r2_adj", round(fit.r2_adj, 4))
        .field("cvrmse", round(fit.cvrmse, 4))
        .field("k_low", round(fit.k_low, 6))
        .field("k_high", round(fit.k_high, 6))
        .field("heating_days", fit.heating_days as i64)
        .field("usable", i64::from(fit.usable()));
    if let Some(t) = cal.avg_effective_temp_c {
        p = p.field("avg_outdoor_temp", round(t, 2));
    }
    if let Some(m) = cal.hot_water {
        p = p
            .field("base_kwh_per_day", round(m.base_kwh_per_day, 3))
            .field("kwh_per_dhw_minute", round(m.kwh_per_dhw_minute, 5));
    }
    Some(p)
}

/// `energy_forecast`, one point per forecast hour.
pub fn energy_forecast(entity: &Entity, hours: &[ForecastHour]) -> Vec<Point> {
    hours
        .iter()
        .map(|h| {
            base("energy_forecast", entity, h.time)
                .field("heating_energy_kwh", round(h.heating_energy_kwh, 3))
                .field("base_energy_kwh", round(h.base_energy_kwh, 3))
                .field("total_energy_kwh", round(h.total_energy_kwh, 3))
                .field("indoor_temp", round(h.indoor_temp, 2))
                .field("outdoor_temp", round(h.outdoor_temp, 2))
                .field("effective_temp", round(h.effective_temp, 2))
                .field("lead_time_hours", round(h.lead_time_hours, 1))
        })
        .collect()
}

/// The effective temperature of one heating row, into the row's own measurement
/// (`heating_system` for houses, `building_system` for buildings), 2 decimals as the seed wrote.
pub fn effective_temp(entity: &Entity, time: Timestamp, t: &EffectiveTemp) -> Point {
    let measurement = if entity.tag == "building_id" {
        "building_system"
    } else {
        "heating_system"
    };
    base(measurement, entity, time)
        .field("effective_temp", round(t.value, 2))
        .field("effective_temp_wind_effect", round(t.wind_effect, 2))
        .field("effective_temp_solar_effect", round(t.solar_effect, 2))
}
