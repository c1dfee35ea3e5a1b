//! A heating season in seconds: the controller (or the installer's fixed curve) against the
//! [`House`] model, October to April, on hourly Stockholm-like weather with warm spells, polled
//! every 5 minutes like a real house, with the indoor forecasts (hemflux's and the seed's Model C)
//! issued every hour and scored at their target times.

pub mod weather;

use std::collections::VecDeque;

use jiff::{SignedDuration, Timestamp};

use self::weather::{forecast, stockholm_season, WeatherSample};
use super::bias::{BiasConfig, ForecastTracker, HourlyBias, LeadAccuracy};
use super::control::config::ControlConfig;
use super::control::{Command, Controller, Observation};
use super::curve::{round_to, HeatCurve};
use super::forecast::{ForecastPoint, Forecaster, IndoorForecast, WeatherHour};
use super::history::ThermalSample;
use super::house::{House, HouseInput, HouseParams};
use super::model::{fit_thermal_model, ThermalModel};
use super::model_c::{polls_until_next_update, ModelC, ThermalResponse};
use super::seed_analyzer::{seed_coefficient, SeedSample, SEED_BUFFER_CAP};

const POLLS_PER_HOUR: usize = 12;
const HORIZON_HOURS: usize = 72;
/// The thermal model learns from the last 14 days, refitted daily.
const HISTORY_POLLS: usize = 14 * 24 * POLLS_PER_HOUR;

#[derive(Debug, Clone, PartialEq)]
pub struct SeasonConfig {
    pub start: Timestamp,
    pub days: usize,
    pub house: HouseParams,
    pub target: f64,
    pub tolerance: f64,
    /// `None`: the installer's curve, never changed.
    pub control: Option<ControlConfig>,
    pub seed: u64,
    /// The effective temperature's sun term as the energy analytics would estimate it, °C per
    /// kW/m² (the house's true one is `solar_aperture / k`).
    pub solar_estimate: f64,
}

impl SeasonConfig {
    /// 1 October 2025 to 30 April 2026 for the default villa, target 21 ± 1 °C.
    pub fn stockholm(control: Option<ControlConfig>) -> Self {
        let house = HouseParams::default();
        SeasonConfig {
            start: "2025-10-01T00:00:00Z".parse().expect("a valid timestamp"),
            days: 212,
            house,
            target: 21.0,
            tolerance: 1.0,
            control,
            seed: 2025,
            solar_estimate: 0.8 * house.solar_aperture / house.k,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeasonReport {
    pub hours: usize,
    pub space_heating_kwh: f64,
    pub hot_water_kwh: f64,
    /// Hours whose mean room temperature is outside target ± tolerance.
    pub uncomfortable_hours: usize,
    pub too_cold_hours: usize,
    pub mean_room: f64,
    pub hemflux: LeadAccuracy,
    pub model_c: LeadAccuracy,
    pub curve_writes: usize,
    pub restores: usize,
    /// Lowest margin of any written supply temperature over the room, °C (clamp: ≥ 2).
    pub lowest_margin_over_room: f64,
    pub last_model: Option<ThermalModel>,
}

fn utc_hour(time: Timestamp) -> u8 {
    (time.as_second().rem_euclid(86_400) / 3600) as u8
}

/// The room sensor's 0.1 °C resolution.
fn sensor(room: f64) -> f64 {
    round_to(room, 1)
}

/// Runs the season; deterministic for a config.
pub fn run_season(config: &SeasonConfig) -> SeasonReport {
    let hours = config.days * 24;
    let weather = stockholm_season(config.start, hours + HORIZON_HOURS + 1, config.seed);
    let mut rng = fastrand::Rng::with_seed(config.seed ^ 0x5eed);
    let effective = |w: &WeatherSample| w.outdoor + config.solar_estimate * w.irradiance / 1000.0;
    let mut house = House {
        params: config.house,
        room: config.target + 1.0,
    };
    let mut device_curve: HeatCurve = House::installer_curve(&config.house, config.target + 1.0);
    let mut controller = config
        .control
        .clone()
        .map(|c| Controller::new("season", c, None).expect("the season's control config is valid"));
    let mut report = SeasonReport {
        hours,
        lowest_margin_over_room: f64::INFINITY,
        ..SeasonReport::default()
    };
    let mut history: VecDeque<ThermalSample> = VecDeque::with_capacity(HISTORY_POLLS + 1);
    let mut model: Option<ThermalModel> = None;
    let (bias_config, mut bias) = (BiasConfig::default(), HourlyBias::default());
    let (mut tracker, mut tracker_c) = (ForecastTracker::default(), ForecastTracker::default());
    let mut seed = SeedRun::new(config);
    let mut room_sum = 0.0;

    for h in 0..hours {
        let hour_start = config.start + SignedDuration::from_hours(h as i64);
        let forecast_hours: Vec<WeatherHour> = forecast(&weather, h, HORIZON_HOURS, &mut rng)
            .iter()
            .enumerate()
            .map(|(i, w)| WeatherHour {
                time: hour_start + SignedDuration::from_hours(i as i64 + 1),
                outdoor: w.outdoor,
                effective_outdoor: effective(w),
            })
            .collect();
        let reading = sensor(house.room);
        for record in tracker.observe(hour_start, reading, weather[h].outdoor) {
            report.hemflux.add(record.lead_hours, record.error());
            bias.learn(&record, &bias_config);
        }
        for record in tracker_c.observe(hour_start, reading, weather[h].outdoor) {
            report.model_c.add(record.lead_hours, record.error());
        }
        if h % 24 == 0 {
            let samples: Vec<ThermalSample> = history.iter().copied().collect();
            if let Ok(fitted) = fit_thermal_model(&samples) {
                model = Some(fitted);
            }
            seed.refresh_confidence();
        }
        if let Some(m) = &model {
            let now_weather = WeatherHour {
                time: hour_start,
                outdoor: weather[h].outdoor,
                effective_outdoor: effective(&weather[h]),
            };
            let mut hourly = vec![now_weather];
            hourly.extend_from_slice(&forecast_hours);
            let f = Forecaster {
                model: m,
                curve: &device_curve,
                controller: controller.as_ref(),
                bias: &bias,
                bias_config: &bias_config,
            }
            .forecast(hour_start, reading, &hourly);
            tracker.add(&f);
            tracker_c.add(&seed.forecast(hour_start, reading, &forecast_hours));
        }

        let mut hour_room = 0.0;
        for poll in 0..POLLS_PER_HOUR {
            let now = hour_start + SignedDuration::from_mins(5 * poll as i64);
            let frac = poll as f64 / POLLS_PER_HOUR as f64;
            let (w0, w1) = (weather[h], weather[h + 1]);
            let outdoor = w0.outdoor + (w1.outdoor - w0.outdoor) * frac;
            let irradiance = w0.irradiance + (w1.irradiance - w0.irradiance) * frac;
            let felt = outdoor + config.solar_estimate * irradiance / 1000.0;
            let reading = sensor(house.room);
            if let Some(ctrl) = controller.as_mut() {
                let obs = Observation {
                    now,
                    room: reading,
                    outdoor,
                    effective_outdoor: felt,
                    curve: device_curve,
                };
                for command in ctrl.step(&obs, &forecast_hours, model.map(|m| m.tau_hours)) {
                    if let Command::WriteCurve { curve, restore } = command {
                        device_curve = curve;
                        report.curve_writes += 1;
                        report.restores += usize::from(restore);
                        if !restore {
                            let lowest = curve.0.iter().copied().fold(f64::INFINITY, f64::min);
                            report.lowest_margin_over_room =
                                report.lowest_margin_over_room.min(lowest - reading);
                        }
                    }
                }
            }
            let input = HouseInput {
                outdoor,
                irradiance,
                hot_water_draw: rng.f64() < hot_water_probability(utc_hour(now)),
            };
            let heat = house.step(&device_curve, &input, 1.0 / POLLS_PER_HOUR as f64);
            report.space_heating_kwh += heat.space_heating;
            report.hot_water_kwh += heat.hot_water;
            hour_room += house.room / POLLS_PER_HOUR as f64;
            if history.len() == HISTORY_POLLS {
                history.pop_front();
            }
            history.push_back(ThermalSample {
                time: now,
                room: reading,
                outdoor,
                effective_outdoor: Some(felt),
                supply: Some(House::supply(&device_curve, &input)),
                return_temp: None,
                electric_heater: false,
            });
            seed.poll(now, reading, outdoor);
        }
        room_sum += hour_room;
        if (hour_room - config.target).abs() > config.tolerance {
            report.uncomfortable_hours += 1;
            report.too_cold_hours += usize::from(hour_room < config.target);
        }
    }
    report.mean_room = room_sum / hours as f64;
    report.last_model = model;
    report
}

/// Hot water is drawn mornings and evenings (Swedish time ≈ UTC + 1).
fn hot_water_probability(hour_utc: u8) -> f64 {
    match hour_utc {
        5..=7 => 0.12,
        16..=20 => 0.08,
        _ => 0.01,
    }
}

/// The seed's forecaster as it runs in a house: Model C, its analyzer's confidence, and its bias
/// learning from the first value of the latest forecast against each poll (scored early, §4).
struct SeedRun {
    model: ModelC,
    buffer: VecDeque<SeedSample>,
    records: Vec<(u8, f64)>,
    first_prediction: Option<f64>,
    polls_since_update: u64,
    updates_done: u32,
}

impl SeedRun {
    fn new(config: &SeasonConfig) -> Self {
        SeedRun {
            model: ModelC {
                target: config.target,
                dev: config.tolerance,
                response: ThermalResponse::Medium,
                confidence: 0.0,
                total_samples: 0,
                hourly_bias: Default::default(),
            },
            buffer: VecDeque::with_capacity(SEED_BUFFER_CAP + 1),
            records: Vec::new(),
            first_prediction: None,
            polls_since_update: 0,
            updates_done: 0,
        }
    }

    fn refresh_confidence(&mut self) {
        let buffer: Vec<SeedSample> = self.buffer.iter().copied().collect();
        self.model.confidence = seed_coefficient(&buffer).map_or(0.0, |c| c.confidence);
    }

    fn forecast(
        &mut self,
        now: Timestamp,
        reading: f64,
        weather: &[WeatherHour],
    ) -> IndoorForecast {
        let steps: Vec<(f64, u8)> = weather
            .iter()
            .map(|w| (w.outdoor, utc_hour(w.time)))
            .collect();
        let values = self.model.forecast(reading, &steps);
        self.first_prediction = values.first().copied();
        let points = weather
            .iter()
            .zip(values)
            .map(|(w, indoor)| ForecastPoint {
                time: w.time,
                lead_hours: (w.time - now).get_seconds() as f64 / 3600.0,
                indoor,
                uncorrected: indoor,
                outdoor: w.outdoor,
                supply: 0.0,
            })
            .collect();
        IndoorForecast {
            issued: now,
            points,
        }
    }

    fn poll(&mut self, now: Timestamp, reading: f64, outdoor: f64) {
        if self.buffer.len() == SEED_BUFFER_CAP {
            self.buffer.pop_front();
        }
        self.buffer.push_back(SeedSample {
            time: now,
            room: reading,
            outdoor,
            heater_on: false,
        });
        if let Some(predicted) = self.first_prediction {
            self.records.push((utc_hour(now), reading - predicted));
        }
        self.model.total_samples += 1;
        self.polls_since_update += 1;
        if self.polls_since_update >= polls_until_next_update(self.updates_done) {
            if self.model.update_bias(&self.records) {
                self.records.clear();
            }
            self.polls_since_update = 0;
            self.updates_done += 1;
        }
    }
}
