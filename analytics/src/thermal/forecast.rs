//! The 72 h indoor forecast from the thermal model, the heat curve and the weather forecast, with
//! the learned hourly bias, and its `temperature_forecast` points: the seed's tags (`house_id`,
//! `forecast_type`) and fields (`value`, `lead_time_hours`), with the generation time as the field
//! `forecast_time` rather than a tag, which made a new series on every run (§4).

use hemflux_shared::point::Point;
use jiff::Timestamp;

use super::bias::{BiasConfig, HourlyBias};
use super::control::{Command, Controller, Observation};
use super::curve::{round_to, HeatCurve};
use super::model::ThermalModel;

pub const TEMPERATURE_FORECAST: &str = "temperature_forecast";
pub const FORECAST_HOURS: f64 = 72.0;

/// One point of the weather forecast.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeatherHour {
    pub time: Timestamp,
    pub outdoor: f64,
    /// Wind and sun folded in (the energy analytics' effective temperature).
    pub effective_outdoor: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForecastPoint {
    pub time: Timestamp,
    pub lead_hours: f64,
    /// With the bias correction.
    pub indoor: f64,
    pub uncorrected: f64,
    pub outdoor: f64,
    /// What the curve asks for at this point's outdoor temperature.
    pub supply: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndoorForecast {
    pub issued: Timestamp,
    pub points: Vec<ForecastPoint>,
}

/// What the forecast of one house is made from.
#[derive(Debug, Clone, Copy)]
pub struct Forecaster<'a> {
    pub model: &'a ThermalModel,
    /// The curve on the device now.
    pub curve: &'a HeatCurve,
    /// The house's controller as it is now, when the house is under control.
    pub controller: Option<&'a Controller>,
    pub bias: &'a HourlyBias,
    pub bias_config: &'a BiasConfig,
}

impl Forecaster<'_> {
    /// Forecasts the room from `indoor_now` at `now` over the weather points after `now` (up to
    /// 72 h; their spacing may vary; a point at or before `now` gives the conditions at the start),
    /// with the curve's supply temperature at the measured outdoor temperature (the substation's
    /// sensor) and the house feeling the effective one. With a controller the forecast runs a copy
    /// of it, so the curve changes as it will.
    pub fn forecast(
        &self,
        now: Timestamp,
        indoor_now: f64,
        weather: &[WeatherHour],
    ) -> IndoorForecast {
        let Forecaster {
            model,
            curve,
            controller,
            bias,
            bias_config,
        } = *self;
        let mut points = Vec::new();
        let mut room = indoor_now;
        let mut curve = *curve;
        // The controller, if any, steers the curve in the forecast as it will in the house.
        let mut controller = controller.cloned();
        let mut previous: Option<&WeatherHour> = None;
        for w in weather {
            if w.time <= now {
                previous = Some(w);
                continue;
            }
            let lead_hours = (w.time - now).get_seconds() as f64 / 3600.0;
            if lead_hours > FORECAST_HOURS {
                break;
            }
            let from = previous.unwrap_or(w);
            let step_from = if from.time > now { from.time } else { now };
            let step_hours = (w.time - step_from).get_seconds() as f64 / 3600.0;
            if let Some(controller) = controller.as_mut() {
                let obs = Observation {
                    now: step_from,
                    room,
                    outdoor: from.outdoor,
                    effective_outdoor: from.effective_outdoor,
                    curve,
                };
                let coming: Vec<WeatherHour> = weather
                    .iter()
                    .filter(|x| x.time > step_from)
                    .copied()
                    .collect();
                for command in controller.step(&obs, &coming, Some(model.tau_hours)) {
                    if let Command::WriteCurve { curve: written, .. } = command {
                        curve = written;
                    }
                }
            }
            let felt = (from.effective_outdoor + w.effective_outdoor) / 2.0;
            let supply = (curve.supply_at(from.outdoor) + curve.supply_at(w.outdoor)) / 2.0;
            room = model.step(room, felt, Some(supply), step_hours);
            let correction = bias.correction(w.time, lead_hours, now, bias_config);
            points.push(ForecastPoint {
                time: w.time,
                lead_hours,
                indoor: room + correction,
                uncorrected: room,
                outdoor: w.outdoor,
                supply: curve.supply_at(w.outdoor),
            });
            previous = Some(w);
        }
        IndoorForecast {
            issued: now,
            points,
        }
    }
}

impl IndoorForecast {
    /// `temperature_forecast` points: `indoor_temp`, `outdoor_temp` and `supply_temp_ml` (the
    /// current curve) per target time, and `supply_temp_baseline` when a baseline curve is saved.
    pub fn to_points(&self, house_id: &str, baseline: Option<&HeatCurve>) -> Vec<Point> {
        let issued = self.issued.to_string();
        let point = |p: &ForecastPoint, kind: &str, value: f64| {
            Point::new(TEMPERATURE_FORECAST, p.time.as_nanosecond() as i64)
                .tag("house_id", house_id)
                .tag("forecast_type", kind)
                .field("value", round_to(value, 2))
                .field("lead_time_hours", round_to(p.lead_hours, 1))
                .field("forecast_time", issued.as_str())
        };
        let mut out = Vec::new();
        for p in &self.points {
            out.push(point(p, "indoor_temp", p.indoor));
            out.push(point(p, "outdoor_temp", p.outdoor));
            out.push(point(p, "supply_temp_ml", p.supply));
            if let Some(curve) = baseline {
                out.push(point(p, "supply_temp_baseline", curve.supply_at(p.outdoor)));
            }
        }
        out
    }
}
