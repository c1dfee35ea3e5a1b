//! The energy forecast (heating.md §9): hourly heating energy for the next hours from k, the
//! balance point, the thermal time constant and the weather forecast.
//!
//! The house loses `k·(T_in − T_eff)` and gains `k·(target − bp)` for free (what the fit's balance
//! point says about internal and solar gains). At or below target the heating covers the
//! difference; above target the house coasts down with time constant τ (thermal mass `C = k·τ`).

use hemflux_shared::config::Location;
use jiff::{SignedDuration, Timestamp};

use super::effective::{effective_temp_at, Coefficients, WeatherAsOf, WeatherObs};
use super::regression::DailyFit;

/// Forecast steps of SMHI grow to 6 hours after two days: an hour takes the step before it.
pub const MAX_FORECAST_STEP: SignedDuration = SignedDuration::from_hours(6);
/// The seed's time constant when none has been measured, hours.
pub const DEFAULT_TIME_CONSTANT_H: f64 = 80.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForecastInputs {
    pub now: Timestamp,
    pub hours: u32,
    pub indoor_now_c: f64,
    pub target_indoor_c: f64,
    pub time_constant_h: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForecastHour {
    pub time: Timestamp,
    pub lead_time_hours: f64,
    pub outdoor_temp: f64,
    pub effective_temp: f64,
    pub indoor_temp: f64,
    pub heating_energy_kwh: f64,
    /// Hot water and base load: the fit's intercept spread evenly over the day.
    pub base_energy_kwh: f64,
    pub total_energy_kwh: f64,
}

/// One point per whole hour after `now` for `hours` hours that the forecast covers.
pub fn energy_forecast(
    fit: &DailyFit,
    forecast: &[WeatherObs],
    location: Option<Location>,
    coefficients: &Coefficients,
    inputs: &ForecastInputs,
) -> Vec<ForecastHour> {
    let weather = WeatherAsOf::new(forecast, MAX_FORECAST_STEP);
    let k = fit.k_kw_per_k;
    let gains_kw = k * (inputs.target_indoor_c - fit.balance_point_c);
    let mass_kwh_per_k = k * inputs.time_constant_h;
    let base_kwh = fit.intercept_kwh_per_day / 24.0;
    let first = inputs.now.as_second().div_euclid(3600) + 1;
    let mut indoor = inputs.indoor_now_c;
    let mut out = Vec::new();
    for h in first..first + i64::from(inputs.hours) {
        let time = Timestamp::from_second(h * 3600).expect("in range");
        let Some(obs) = weather.at(time) else {
            continue;
        };
        let t_eff = effective_temp_at(&weather, location, coefficients, time)
            .map_or(obs.temp_c, |t| t.value);
        let net_loss_kw = k * (indoor - t_eff) - gains_kw;
        let heating = if indoor <= inputs.target_indoor_c {
            net_loss_kw.max(0.0)
        } else {
            if mass_kwh_per_k > 0.0 {
                indoor = (indoor - net_loss_kw / mass_kwh_per_k).max(inputs.target_indoor_c);
            }
            0.0
        };
        out.push(ForecastHour {
            time,
            lead_time_hours: time.duration_since(inputs.now).as_secs_f64() / 3600.0,
            outdoor_temp: obs.temp_c,
            effective_temp: t_eff,
            indoor_temp: indoor,
            heating_energy_kwh: heating,
            base_energy_kwh: base_kwh,
            total_energy_kwh: heating + base_kwh,
        });
    }
    out
}
