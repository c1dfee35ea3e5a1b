//! The `controller` worker: heat-curve control of one house (hemflux-analytics' thermal model,
//! indoor forecast and controller), safe by construction. On start it reads the house's history
//! (the house worker's `heating_system` polls) from the store. Every poll it reads the house through
//! `house:<id>` (`observe`), stores `thermal_history`, scores the forecasts whose target time has
//! come (`forecast_accuracy`, learning the hourly bias), and steps the controller; every forecast
//! interval it fetches the SMHI forecast, refits the thermal model and issues the 72 h indoor
//! forecast (`temperature_forecast`).
//!
//! The controller's commands are carried out in order, stopping at the first that fails: its
//! state (with the frozen baseline) is made durable before the write that follows it, and curves
//! are written by the house worker (`write_curve`, `restore_curve`), which holds the session.
//! After a failure the controller goes on from its last durable state, exactly as after a crash.
//! Shutdown and offboarding restore the curve in the house worker; a controller removed from a
//! profile whose house stays has the supervisor ask the house to restore it.

mod inputs;

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::{Context, Result};
use hemflux_analytics::thermal::bias::{BiasConfig, ForecastTracker, HourlyBias};
use hemflux_analytics::thermal::control::{Command as Step, Controller, ControllerState, Observation};
use hemflux_analytics::thermal::forecast::{Forecaster, WeatherHour};
use hemflux_analytics::thermal::history::{thermal_history_point, ThermalSample};
use hemflux_analytics::thermal::model::{fit_thermal_model, ThermalModel};
use hemflux_shared::kinds::controller::house_worker_id;
use hemflux_shared::kinds::ControllerWorker;
use hemflux_shared::Point;
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::time::{interval, Instant, MissedTickBehavior};

use crate::link::{Command, Link, Worker};
use hemflux_clients::smhi::SmhiClient;
use hemflux_shared::read::ReadQuery;
use inputs::{stored_sample, weather_hours, HouseNow, HISTORY_FIELDS};

/// Writing a curve is eleven saves and a read-back, each save with HomeSide's 30 s timeout.
const ASK_TIMEOUT: Duration = Duration::from_secs(120);
/// The thermal model learns from the last 14 days.
const HISTORY: SignedDuration = SignedDuration::from_hours(14 * 24);

/// What survives a restart: the controller's state (baseline, phase, PI) and what was learned.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    controller: Option<ControllerState>,
    model: Option<ThermalModel>,
    #[serde(default)]
    bias: HourlyBias,
}

struct Control {
    house_id: String,
    house: String,
    config: ControllerWorker,
    controller: Controller,
    /// The controller's state as last made durable: where it goes on from after a failure.
    durable: Option<ControllerState>,
    model: Option<ThermalModel>,
    bias: HourlyBias,
    bias_config: BiasConfig,
    tracker: ForecastTracker,
    history: VecDeque<ThermalSample>,
    weather: Vec<WeatherHour>,
    smhi: SmhiClient,
    next_forecast: Instant,
}

pub async fn run(mut worker: Worker, config: ControllerWorker) -> Result<()> {
    let saved: Checkpoint = match worker.init.state.clone() {
        Some(state) => serde_json::from_value(state)
            // Starting afresh could take a lowered curve for the baseline: refuse instead.
            .context("the saved controller state is unreadable; not starting without it")?,
        None => Checkpoint::default(),
    };
    let house_id = config.house_id.clone();
    let controller = Controller::new(&house_id, config.control.clone(), saved.controller.clone())
        .with_context(|| format!("profile of {house_id}"))?;
    let smhi = SmhiClient::new(
        &config.weather.observations_url,
        &config.weather.forecast_url,
        Duration::from_secs(config.weather.timeout_secs),
    )?;
    let mut control = Control {
        house: house_worker_id(&house_id),
        house_id,
        durable: saved.controller,
        controller,
        model: saved.model,
        bias: saved.bias,
        bias_config: BiasConfig::default(),
        tracker: ForecastTracker::default(),
        history: VecDeque::new(),
        weather: Vec::new(),
        smhi,
        next_forecast: Instant::now(),
        config,
    };
    let link = worker.link.clone();
    control.restore_history(&link).await;
    let mut poll = interval(Duration::from_secs(control.config.control.poll_interval_secs));
    poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = poll.tick() => {}
            Some(cmd) = worker.commands.recv() => {
                let id = match cmd { Command::Sync { id, .. } | Command::Custom { id, .. } => id };
                link.reply(id, false, "the controller takes no commands");
                continue;
            }
        }
        match control.cycle(&link).await {
            Ok(status) => link.status(status),
            Err(e) => {
                tracing::warn!(house = %control.house_id, "{e:#}");
                link.error(format!("controller {}: {e:#}", control.house_id));
            }
        }
    }
}

impl Control {
    fn checkpoint(&self) -> Value {
        serde_json::to_value(Checkpoint {
            controller: self.durable.clone(),
            model: self.model,
            bias: self.bias.clone(),
        })
        .unwrap_or(Value::Null)
    }

    /// One poll; returns a status line.
    async fn cycle(&mut self, link: &Link) -> Result<String> {
        let answer = link
            .ask(&self.house, "observe", Value::Null, ASK_TIMEOUT)
            .await?;
        let now = HouseNow::parse(&answer)?;
        let sample = now.sample()?;
        let obs = Observation {
            now: now.time,
            room: sample.room,
            outdoor: sample.outdoor,
            effective_outdoor: sample.felt_outdoor(),
            curve: now.curve()?,
        };
        let mut points = vec![thermal_history_point(&self.house_id, &sample)];
        self.remember(sample);
        for record in self.tracker.observe(obs.now, obs.room, obs.outdoor) {
            self.bias.learn(&record, &self.bias_config);
            points.push(record.to_point(&self.house_id));
        }
        if Instant::now() >= self.next_forecast {
            self.next_forecast = Instant::now()
                + Duration::from_secs(self.config.control.forecast_interval_secs);
            points.extend(self.forecast(link, &obs).await);
        }
        let coming: Vec<WeatherHour> = self
            .weather
            .iter()
            .filter(|w| w.time > obs.now)
            .copied()
            .collect();
        let steps = self
            .controller
            .step(&obs, &coming, self.model.map(|m| m.tau_hours));
        let result = self.carry_out(link, steps, &mut points).await;
        if result.is_err() {
            // Go on from what is durable, as after a crash: never from a state whose write failed.
            self.controller = Controller::new(
                &self.house_id,
                self.config.control.clone(),
                self.durable.clone(),
            )?;
        }
        link.send_points(points, Some(self.checkpoint())).await?;
        result?;
        Ok(format!(
            "room {:.1} °C, outdoor {:.1} °C, {}",
            obs.room,
            obs.outdoor,
            phase_text(self.controller.state())
        ))
    }

    /// The house's stored polls, for the thermal model (the last [`HISTORY`] of them are kept).
    async fn restore_history(&mut self, link: &Link) {
        let query = ReadQuery::new("heating_system")
            .tag("house_id", &self.house_id)
            .fields(HISTORY_FIELDS);
        let before = self.history.len();
        // One series, in time order: the window is trimmed as the pages arrive.
        let read = link
            .query_pages(query, |page| {
                for sample in page.iter().filter_map(stored_sample) {
                    self.remember(sample);
                }
            })
            .await;
        let count = self.history.len() - before;
        match read {
            Ok(()) => tracing::info!(house = %self.house_id, count, "history restored"),
            Err(e) => link.error(format!(
                "controller {}: history not read, the model starts from nothing: {e:#}",
                self.house_id
            )),
        }
    }

    fn remember(&mut self, sample: ThermalSample) {
        while self
            .history
            .front()
            .is_some_and(|s| sample.time.duration_since(s.time) > HISTORY)
        {
            self.history.pop_front();
        }
        if self.history.back().is_none_or(|s| s.time < sample.time) {
            self.history.push_back(sample);
        }
    }

    /// Fetches the weather forecast, refits the model and issues the indoor forecast. A failed
    /// fetch keeps the last forecast (reported); no model yet means no indoor forecast.
    async fn forecast(&mut self, link: &Link, obs: &Observation) -> Vec<Point> {
        let at = self.config.location;
        match self.smhi.forecast(at.lat, at.lon).await {
            Ok(steps) => self.weather = weather_hours(&steps, obs.now),
            Err(e) => link.error(format!(
                "controller {}: weather forecast: {e:#}",
                self.house_id
            )),
        }
        let samples: Vec<ThermalSample> = self.history.iter().copied().collect();
        if let Ok(model) = fit_thermal_model(&samples) {
            self.model = Some(model);
        }
        let Some(model) = self.model else {
            return Vec::new();
        };
        let mut hourly = vec![WeatherHour {
            time: obs.now,
            outdoor: obs.outdoor,
            effective_outdoor: obs.effective_outdoor,
        }];
        hourly.extend(self.weather.iter().filter(|w| w.time > obs.now));
        let forecast = Forecaster {
            model: &model,
            curve: &obs.curve,
            controller: Some(&self.controller),
            bias: &self.bias,
            bias_config: &self.bias_config,
        }
        .forecast(obs.now, obs.room, &hourly);
        self.tracker.add(&forecast);
        let baseline = self.controller.state().baseline;
        forecast.to_points(&self.house_id, baseline.as_ref())
    }

    /// Carries out the controller's commands in order, stopping at the first that fails. A state
    /// to save goes out with the points so far, durable before anything after it happens.
    async fn carry_out(
        &mut self,
        link: &Link,
        steps: Vec<Step>,
        points: &mut Vec<Point>,
    ) -> Result<()> {
        for step in steps {
            match step {
                Step::Record(point) => points.push(point),
                Step::SaveState(state) => {
                    self.durable = Some(*state);
                    link.send_points(std::mem::take(points), Some(self.checkpoint()))
                        .await
                        .context("saving the controller's state")?;
                }
                Step::WriteCurve { curve, restore } => {
                    let baseline = self.durable.as_ref().and_then(|s| s.baseline);
                    let (name, args) = if restore {
                        ("restore_curve", json!({ "baseline": baseline.map(|b| b.0) }))
                    } else {
                        let baseline = baseline.context("a write without a saved baseline")?;
                        ("write_curve", json!({ "curve": curve.0, "baseline": baseline.0 }))
                    };
                    let reply = link.ask(&self.house, name, args, ASK_TIMEOUT).await?;
                    tracing::info!(house = %self.house_id, "{name}: {reply}");
                }
            }
        }
        Ok(())
    }
}

fn phase_text(state: &ControllerState) -> String {
    use hemflux_analytics::thermal::control::Phase;
    match &state.phase {
        Phase::Idle => "idle".into(),
        Phase::Reducing { plan, until } => format!("reducing {:+.1} °C until {until}", plan.delta),
        Phase::Shifting { offset } => format!("shifting {offset:+.1} °C"),
    }
}
