//! Fixtures B, C and F of `../shared/analytics/heating.md` §12 (G, gaps, is tested with
//! `energy::gaps`): the seed's results where hemflux keeps the behaviour, flipped (with the reason
//! in the test's name) where it fixes it.

use std::collections::BTreeMap;

use hemflux_analytics::thermal::bias::{BiasConfig, ForecastTracker, HourlyBias};
use hemflux_analytics::thermal::control::config::{ControlConfig, ControlMode, PiConfig};
use hemflux_analytics::thermal::control::reduction::plan_reduction;
use hemflux_analytics::thermal::control::shift::{preemptive_shift, weather_shift, PiState};
use hemflux_analytics::thermal::control::{Command, Controller, Observation};
use hemflux_analytics::thermal::curve::{round_to, HeatCurve};
use hemflux_analytics::thermal::forecast::{Forecaster, IndoorForecast, WeatherHour};
use hemflux_analytics::thermal::history::{
    restore_thermal_history, thermal_history_point, ThermalSample,
};
use hemflux_analytics::thermal::model::{fit_thermal_model, FitError, ThermalModel};
use hemflux_analytics::thermal::model_c::{ModelC, ThermalResponse};
use hemflux_analytics::thermal::seed_analyzer::{seed_coefficient, seed_predict, SeedSample};
use jiff::{SignedDuration, Timestamp};

fn t0() -> Timestamp {
    "2026-01-15T00:00:00Z".parse().unwrap()
}

fn at(minutes: i64) -> Timestamp {
    t0() + SignedDuration::from_mins(minutes)
}

fn close(a: f64, b: f64, eps: f64) -> bool {
    (a - b).abs() <= eps
}

// ---- B: thermal analyzer -------------------------------------------------------------------

/// A model with a perfect fit over a day of history.
fn model(tau_hours: f64, heat_rate: f64) -> ThermalModel {
    ThermalModel {
        tau_hours,
        heat_rate,
        free_heat: 0.0,
        r_squared: 1.0,
        rmse: 0.0,
        hours_used: 24,
    }
}

/// Hourly weather from `t0` to `hours` later at one outdoor temperature, no sun or wind.
fn steady_weather(hours: i64, outdoor: f64) -> Vec<WeatherHour> {
    (0..=hours)
        .map(|h| WeatherHour {
            time: at(60 * h),
            outdoor,
            effective_outdoor: outdoor,
        })
        .collect()
}

fn seed_series(
    n: usize,
    step_min: i64,
    room: impl Fn(usize) -> f64,
    heater_on: bool,
) -> Vec<SeedSample> {
    (0..n)
        .map(|i| SeedSample {
            time: at(i as i64 * step_min),
            room: room(i),
            outdoor: -8.0,
            heater_on,
        })
        .collect()
}

fn samples_of(seed: &[SeedSample]) -> Vec<ThermalSample> {
    seed.iter()
        .map(|s| ThermalSample {
            time: s.time,
            room: s.room,
            outdoor: s.outdoor,
            effective_outdoor: None,
            supply: None,
            return_temp: None,
            electric_heater: s.heater_on,
        })
        .collect()
}

#[test]
fn b1_23_points_give_no_coefficient_and_no_fit() {
    let series = seed_series(23, 15, |i| 21.0 - 0.05 * i as f64, false);
    assert_eq!(seed_coefficient(&series), None);
    assert!(matches!(
        fit_thermal_model(&samples_of(&series)),
        Err(FitError::TooFewHours { .. })
    ));
}

#[test]
fn b2_seed_coefficient_of_a_linear_fall() {
    let series = seed_series(24, 15, |i| 21.0 - 0.05 * i as f64, false);
    let c = seed_coefficient(&series).unwrap();
    assert!(close(c.coefficient, 0.007036, 1e-6), "{c:?}");
    assert!(close(c.confidence, 1.0, 1e-12));
    assert_eq!(c.samples, 23);
    assert!(close(c.avg_indoor, 20.425, 1e-9));
}

#[test]
fn b2_flipped_six_hours_are_too_little_history_for_hemflux() {
    let series = seed_series(24, 15, |i| 21.0 - 0.05 * i as f64, false);
    assert_eq!(
        fit_thermal_model(&samples_of(&series)),
        Err(FitError::TooFewHours { found: 5 })
    );
}

#[test]
fn b2_flipped_newton_cooling_at_sensor_resolution_gives_tau() {
    // Three days of cooling with τ = 142 h, polled every 5 min by a 0.1 °C sensor.
    let tau = 142.0;
    let series = seed_series(
        3 * 288,
        5,
        |i| {
            let hours = i as f64 / 12.0;
            let room = -8.0 + 29.0 * (-hours / tau).exp();
            (room * 10.0).round() / 10.0
        },
        false,
    );
    let model = fit_thermal_model(&samples_of(&series)).unwrap();
    assert!(close(model.tau_hours, tau, 0.05 * tau), "{model:?}");
    assert!(model.r_squared > 0.5, "{model:?}");
    assert_eq!(model.hours_used, 71);
}

#[test]
fn b3_constant_room_seed_claims_full_confidence() {
    let series = seed_series(24, 15, |_| 21.0, false);
    let c = seed_coefficient(&series).unwrap();
    assert_eq!((c.coefficient, c.confidence), (0.0, 1.0));
}

#[test]
fn b3_flipped_constant_room_says_nothing_about_tau() {
    let series = seed_series(3 * 288, 5, |_| 21.0, false);
    assert_eq!(
        fit_thermal_model(&samples_of(&series)),
        Err(FitError::NoVariation)
    );
}

#[test]
fn b4_heater_on_or_two_hour_steps_give_nothing() {
    let heater = seed_series(48, 15, |i| 21.0 - 0.05 * i as f64, true);
    assert_eq!(seed_coefficient(&heater), None);
    assert_eq!(
        fit_thermal_model(&samples_of(&heater)),
        Err(FitError::TooFewHours { found: 0 })
    );
    let sparse = seed_series(48, 120, |i| 21.0 - 0.05 * i as f64, false);
    assert_eq!(seed_coefficient(&sparse), None);
    assert_eq!(
        fit_thermal_model(&samples_of(&sparse)),
        Err(FitError::TooFewHours { found: 0 })
    );
}

#[test]
fn b5_seed_prediction_is_linear() {
    assert!(close(
        seed_predict(0.01, 21.0, -9.0, 6.0, false),
        19.2,
        1e-9
    ));
    assert!(close(seed_predict(0.01, 21.0, -9.0, 6.0, true), 20.7, 1e-9));
}

#[test]
fn b5_flipped_hemflux_cools_exponentially() {
    let model = model(100.0, 0.0);
    assert!(close(
        model.cool_down(21.0, -9.0, 6.0),
        -9.0 + 30.0 * (-0.06f64).exp(),
        1e-9
    ));
    assert!(close(model.cool_down(21.0, -9.0, 6.0), 19.25, 0.01));
}

#[test]
fn thermal_history_restore_keeps_only_the_asking_house() {
    let sample = |room| ThermalSample {
        time: t0(),
        room,
        outdoor: -3.0,
        effective_outdoor: None,
        supply: Some(40.0),
        return_temp: Some(30.0),
        electric_heater: true,
    };
    let points = vec![
        thermal_history_point("villa_1", &sample(21.0)),
        thermal_history_point("villa_2", &sample(19.0)),
    ];
    let mine = &points[0];
    assert_eq!(mine.tags.len(), 1);
    assert_eq!(mine.fields.len(), 5);
    assert_eq!(mine.fields["electric_heater"], 1i64.into());
    let restored = restore_thermal_history("villa_1", &points);
    assert_eq!(restored, vec![sample(21.0)]);
}

// ---- C: Model C ----------------------------------------------------------------------------

fn model_c(confidence: f64, samples: u64) -> ModelC {
    ModelC {
        target: 22.0,
        dev: 1.0,
        response: ThermalResponse::Medium,
        confidence,
        total_samples: samples,
        hourly_bias: BTreeMap::new(),
    }
}

#[test]
fn c1_to_c4_model_c_steps() {
    let m = model_c(0.8, 100);
    assert_eq!(m.step(20.0, -10.0, 3), 20.1);
    assert_eq!(m.step(21.5, 0.0, 3), 21.75);
    assert_eq!(m.step(22.0, -5.0, 3), 21.9);
    assert_eq!(m.step(21.9, -5.0, 3), 22.0);
    assert_eq!(m.step(24.0, 4.0, 3), 23.5);
}

#[test]
fn c3_model_c_oscillates_on_steady_weather() {
    let chain = model_c(0.8, 100).forecast(22.0, &[(-5.0, 0); 4]);
    assert_eq!(chain, vec![21.9, 22.0, 21.9, 22.0]);
}

#[test]
fn c3_flipped_hemflux_settles_on_steady_weather() {
    let model = ThermalModel {
        r_squared: 0.9,
        rmse: 0.01,
        hours_used: 300,
        ..model(80.0, 0.02)
    };
    let curve = HeatCurve([55.0, 52.0, 49.0, 46.0, 43.0, 40.0, 37.0, 34.0, 31.0, 28.0]);
    let weather = steady_weather(72, -5.0);
    let f = forecast_unbiased(&model, &curve, 22.0, &weather);
    assert_eq!(f.points.len(), 72);
    let steps: Vec<f64> = f
        .points
        .windows(2)
        .map(|w| w[1].indoor - w[0].indoor)
        .collect();
    assert!(
        steps.iter().all(|d| *d <= 0.0) || steps.iter().all(|d| *d >= 0.0),
        "not monotonic: {steps:?}"
    );
}

#[test]
fn c5_bias_weight_follows_confidence_and_samples() {
    let with_bias = |conf, samples| {
        let mut m = model_c(conf, samples);
        m.hourly_bias.insert(7, 0.4);
        m.step(21.5, 0.0, 7)
    };
    assert_eq!(with_bias(0.8, 100), 22.07);
    assert_eq!(with_bias(0.4, 100), 21.83);
    assert_eq!(with_bias(0.8, 10), 21.75);
}

#[test]
fn c6_seed_bias_update_keeps_small_biases_forever() {
    let mut m = model_c(0.8, 100);
    m.hourly_bias.insert(7, 0.1);
    let mut records = vec![(7, 0.3), (7, 0.3), (7, 0.6)];
    records.extend([(8, 0.05); 3]);
    records.extend([(9, 1.0), (9, 1.0), (10, 1.0), (10, 1.0)]);
    assert!(m.update_bias(&records));
    assert_eq!(m.hourly_bias, BTreeMap::from([(7, 0.34)]));
    assert!(!m.update_bias(&records[..9]), "fewer than 10 records");
}

#[test]
fn c6_flipped_hemflux_bias_learns_small_errors_and_decays() {
    let config = BiasConfig::default();
    let model = model(80.0, 0.0);
    let weather = steady_weather(72, 21.0);
    let curve = HeatCurve([21.0; 10]);
    let mut tracker = ForecastTracker::default();
    let forecast =
        forecaster(&model, &curve, &HourlyBias::default(), &config).forecast(t0(), 21.0, &weather);
    tracker.add(&forecast);
    // Scored at the target time, not before it.
    assert!(tracker.observe(at(55), 21.04, 0.0).is_empty());
    let mut bias = HourlyBias::default();
    for h in 1..=8 {
        for record in tracker.observe(at(60 * h), 21.04, 0.0) {
            assert!(close(record.lead_hours, h as f64, 1e-9));
            assert!(close(record.error(), 0.04, 1e-9));
            bias.learn(&record, &config);
        }
    }
    // Leads 6, 7 and 8 are learned from (errors of 0.04, which the seed would drop).
    let target = at(8 * 60);
    let learned = bias.correction(target, 24.0, target, &config);
    assert!(learned > 0.0 && learned < 0.04, "{learned}");
    let week_later = target + SignedDuration::from_hours(7 * 24);
    assert!(close(
        bias.correction(target, 24.0, week_later, &config),
        learned / 2.0,
        1e-9
    ));
    // Phased in with lead time.
    assert!(close(
        bias.correction(target, 3.0, target, &config),
        learned / 2.0,
        1e-9
    ));
}

#[test]
fn temperature_forecast_keeps_the_generation_time_out_of_the_tags() {
    let model = model(80.0, 0.02);
    let weather = steady_weather(3, 0.0);
    let curve = HeatCurve([40.0; 10]);
    let f = forecast_unbiased(&model, &curve, 21.0, &weather);
    let points = f.to_points("villa_1", Some(&curve));
    assert_eq!(points.len(), 3 * 4);
    for p in &points {
        assert_eq!(
            p.tags.keys().collect::<Vec<_>>(),
            vec!["forecast_type", "house_id"]
        );
        assert_eq!(p.fields["forecast_time"], t0().to_string().into());
    }
    assert_eq!(points[0].fields["lead_time_hours"], 1.0.into());
}

// ---- F: curve and control ------------------------------------------------------------------

fn seed_curve() -> HeatCurve {
    HeatCurve(std::array::from_fn(|i| 45.0 - 2.0 * i as f64))
}

#[test]
fn f1_interpolation() {
    let c = seed_curve();
    assert!(close(c.supply_at(2.0), 32.2, 1e-9));
    assert_eq!(c.supply_at(-35.0), 45.0);
    assert_eq!(c.supply_at(20.0), 27.0);
}

fn rising(first: f64, change: f64) -> Vec<f64> {
    (0..=72).map(|h| first + change * h as f64 / 72.0).collect()
}

#[test]
fn f2_f3_reduction_plans() {
    let plan = plan_reduction(&rising(1.0, 4.0), 22.0, 22.0).unwrap();
    assert_eq!(
        (plan.delta, plan.points.clone(), plan.confidence),
        (-2.0, vec![6, 7], 0.8)
    );
    let lowered = plan.apply(&seed_curve());
    assert_eq!((lowered.0[6], lowered.0[7]), (31.0, 29.0));
    let plan = plan_reduction(&rising(1.0, 10.0), 22.0, 22.0).unwrap();
    assert_eq!(
        (plan.delta, plan.points, plan.confidence),
        (-3.0, vec![6, 7, 8], 1.0)
    );
}

#[test]
fn f4_no_action_when_cool_room_or_small_change() {
    assert_eq!(plan_reduction(&rising(1.0, 4.0), 21.4, 22.0), None);
    assert_eq!(plan_reduction(&rising(1.0, 1.5), 22.0, 22.0), None);
}

fn weather_from(outdoor: &[f64]) -> Vec<WeatherHour> {
    outdoor
        .iter()
        .enumerate()
        .map(|(h, &o)| WeatherHour {
            time: at(60 * (h as i64 + 1)),
            outdoor: o,
            effective_outdoor: o,
        })
        .collect()
}

#[test]
fn f4_flipped_clamped_at_room_plus_2_not_floored_at_20() {
    let mut curve = seed_curve();
    curve.0[7] = 21.5;
    let config = ControlConfig {
        enabled: true,
        mode: ControlMode::Reduction,
        target: 22.0,
        ..ControlConfig::default()
    };
    let mut controller = Controller::new("villa_1", config, None).unwrap();
    let obs = Observation {
        now: t0(),
        room: 22.0,
        outdoor: 1.0,
        effective_outdoor: 1.0,
        curve,
    };
    let commands = controller.step(&obs, &weather_from(&rising(1.0, 10.0)), None);
    let written: Vec<HeatCurve> = commands
        .iter()
        .filter_map(|c| match c {
            Command::WriteCurve { curve, .. } => Some(*curve),
            _ => None,
        })
        .collect();
    assert_eq!(written.len(), 1);
    assert_eq!(
        written[0].0[7], 24.0,
        "seed: max(20, 21.5 - 3) = 20; hemflux: room + 2"
    );
    assert_eq!((written[0].0[6], written[0].0[8]), (30.0, 26.0));
}

fn seed_pi_config() -> ControlConfig {
    ControlConfig {
        target: 22.0,
        tolerance: 1.0,
        pi: PiConfig {
            dead_band_fraction: 1.0,
            ..PiConfig::default()
        },
        ..ControlConfig::default()
    }
}

#[test]
fn f5_weather_shift() {
    let c = seed_curve();
    assert_eq!(weather_shift(&c, 0.0, -2.5), 1.0);
    assert_eq!(weather_shift(&c, 0.0, -7.0), 2.0);
}

#[test]
fn f5_pi_with_the_seed_dead_band() {
    let config = seed_pi_config();
    let mut pi = PiState::default();
    let corr = pi.update(&config, 23.5, t0());
    assert!(close(corr, -0.625 - 0.034722, 1e-5), "{corr}");
    assert!(close(pi.integral, 2.5, 1e-9));
    // With the weather shift of +1.0 (offset −2.5 above), the total is +0.3.
    assert_eq!(round_to(1.0 + corr, 1), 0.3);
    let corr = pi.update(&config, 22.5, at(5));
    assert!(close(pi.integral, 2.0, 1e-9));
    assert!(close(corr, -2.0 * 1.25 / 90.0, 1e-9));
    assert_eq!(round_to(1.0 + corr, 1), 1.0);
}

#[test]
fn f5_preemptive_reduction() {
    let config = seed_pi_config();
    let c = seed_curve();
    // A warm window (T_eff ≥ 22 for 2 h) 2.75 h ahead, T_eff now 2.
    let window = |lead_min: i64| -> Vec<WeatherHour> {
        (0..3)
            .map(|i| WeatherHour {
                time: at(lead_min + 60 * i),
                outdoor: 22.0,
                effective_outdoor: 22.0,
            })
            .collect()
    };
    assert_eq!(
        preemptive_shift(&config, &c, 22.0, 2.0, &window(165), t0(), None),
        -0.2
    );
    assert_eq!(
        preemptive_shift(&config, &c, 19.9, 2.0, &window(165), t0(), None),
        0.0
    );
    assert_eq!(
        preemptive_shift(&config, &c, 22.0, 2.0, &window(360), t0(), None),
        0.0
    );
}

#[test]
fn f5_flipped_tau_from_two_hours_is_not_estimated() {
    // The seed estimates τ = 189 h from a 0.2 °C drop over 2 h; hemflux fits τ on a day or more.
    let samples: Vec<ThermalSample> = (0..=24)
        .map(|i| ThermalSample {
            time: at(5 * i),
            room: 22.0 - 0.2 * i as f64 / 24.0,
            outdoor: 2.0 + 2.0 * i as f64 / 24.0,
            effective_outdoor: None,
            supply: None,
            return_temp: None,
            electric_heater: false,
        })
        .collect();
    assert!(matches!(
        fit_thermal_model(&samples),
        Err(FitError::TooFewHours { .. })
    ));
}

/// The forecast from `t0()` with no bias learned yet.
fn forecast_unbiased(
    model: &ThermalModel,
    curve: &HeatCurve,
    indoor_now: f64,
    weather: &[WeatherHour],
) -> IndoorForecast {
    forecaster(model, curve, &HourlyBias::default(), &BiasConfig::default()).forecast(
        t0(),
        indoor_now,
        weather,
    )
}

fn forecaster<'a>(
    model: &'a ThermalModel,
    curve: &'a HeatCurve,
    bias: &'a HourlyBias,
    config: &'a BiasConfig,
) -> Forecaster<'a> {
    Forecaster {
        model,
        curve,
        controller: None,
        bias,
        bias_config: config,
    }
}
