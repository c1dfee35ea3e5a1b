//! Heat-curve control as a pure state machine. The caller reads the curve, calls [`Controller::step`]
//! and carries out the returned [`Command`]s in order, stopping at the first that fails. That order
//! is what makes it safe (§11.3, §11.4):
//!
//! - the baseline and the state are saved before the first write of a lowered curve, and the
//!   baseline is taken from the device only while nothing of ours is on it, so a lowered curve is
//!   never saved as the baseline;
//! - every curve it computes is clamped to [room + 2, `max_supply_temp`];
//! - it restores the baseline when a reduction ends, when the room falls below target − tolerance
//!   (§7a), on [`Controller::stop`] (shutdown, offboarding), and after a restart whose saved state
//!   it should no longer follow; the state is marked idle only after the restore was written;
//! - disabled (the default), it records what it would write and writes nothing but the restore of
//!   a curve of its own that an earlier, enabled run left on the device.

pub mod config;
pub mod records;
pub mod reduction;
pub mod shift;

use hemflux_shared::point::Point;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use self::config::{ConfigError, ControlConfig, ControlMode, MIN_SUPPLY_OVER_ROOM};
use self::records::{adjustment_point, baseline_point};
use self::reduction::{plan_reduction, ReductionPlan};
use self::shift::{preemptive_shift, weather_shift, PiState};
use super::curve::{round_to, HeatCurve};
use super::forecast::WeatherHour;

/// Two curves closer than this are the same (HomeSide stores what it is sent, to 0.1 °C or finer).
const SAME_CURVE: f64 = 0.05;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    Idle,
    /// §7a, until `until`.
    Reducing {
        plan: ReductionPlan,
        until: Timestamp,
    },
    /// §7b, with the shift last computed.
    Shifting {
        offset: f64,
    },
}

/// Everything the controller remembers; the caller persists it whenever a command says so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControllerState {
    /// The user's curve, taken from the device on entering control and frozen until it exits.
    pub baseline: Option<HeatCurve>,
    pub phase: Phase,
    pub pi: PiState,
    /// What it last wrote, or (disabled) would have written.
    pub last_curve: Option<HeatCurve>,
    /// The device may hold a curve of ours rather than the baseline.
    pub device_modified: bool,
}

impl Default for ControllerState {
    fn default() -> Self {
        ControllerState {
            baseline: None,
            phase: Phase::Idle,
            pi: PiState::default(),
            last_curve: None,
            device_modified: false,
        }
    }
}

/// What the caller must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Persist this state (durably) before going on.
    SaveState(Box<ControllerState>),
    /// Write the curve to the device and read it back; `restore` when it is the baseline.
    WriteCurve { curve: HeatCurve, restore: bool },
    /// Store this point (`heat_curve_adjustment`, `heat_curve_baseline`).
    Record(Point),
}

/// One poll's view of the house.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    pub now: Timestamp,
    pub room: f64,
    pub outdoor: f64,
    pub effective_outdoor: f64,
    /// The curve read from the device.
    pub curve: HeatCurve,
}

/// Why control stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Shutdown,
    Offboarding,
}

#[derive(Debug, Clone)]
pub struct Controller {
    house_id: String,
    config: ControlConfig,
    state: ControllerState,
}

impl Controller {
    /// A controller for one house, from its saved state (`None` the first time).
    pub fn new(
        house_id: &str,
        config: ControlConfig,
        saved: Option<ControllerState>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Controller {
            house_id: house_id.to_string(),
            config,
            state: saved.unwrap_or_default(),
        })
    }

    pub fn state(&self) -> &ControllerState {
        &self.state
    }

    pub fn config(&self) -> &ControlConfig {
        &self.config
    }

    /// One poll: decide, and return what to do. `forecast` is the coming weather (hourly, 72 h);
    /// `tau_hours` the thermal model's τ when it has one.
    pub fn step(
        &mut self,
        obs: &Observation,
        forecast: &[WeatherHour],
        tau_hours: Option<f64>,
    ) -> Vec<Command> {
        let before = self.state.clone();
        let mut commands = Vec::new();
        let lowest = obs.room + MIN_SUPPLY_OVER_ROOM;
        let cannot_clamp = lowest > self.config.max_supply_temp;
        let wrong_mode = matches!(
            (&self.state.phase, self.config.mode),
            (Phase::Reducing { .. }, ControlMode::Intelligent)
                | (Phase::Shifting { .. }, ControlMode::Reduction)
        );
        // A curve of ours left on the device while disabled (a restart after the setting changed)
        // is undone for real.
        if (!self.config.enabled && self.state.device_modified) || wrong_mode || cannot_clamp {
            let why = if cannot_clamp {
                "room too warm to clamp"
            } else {
                "control disabled or mode changed"
            };
            self.exit(obs.now, why, &mut commands);
            return self.finish(before, commands);
        }
        let desired = match self.config.mode {
            ControlMode::Reduction => self.step_reduction(obs, forecast, &mut commands),
            ControlMode::Intelligent => {
                Some(self.step_shift(obs, forecast, tau_hours, &mut commands))
            }
        };
        if let Some(mut adjustment) = desired {
            let max = self.config.max_supply_temp;
            adjustment.curve = adjustment
                .curve
                .map(|_, v| round_to(v, 1).clamp(lowest, max));
            self.write(obs, adjustment, &mut commands);
        }
        self.finish(before, commands)
    }

    /// Stops control (shutdown, offboarding): restores the baseline if anything of ours may be on
    /// the device.
    pub fn stop(&mut self, now: Timestamp, reason: StopReason) -> Vec<Command> {
        let before = self.state.clone();
        let mut commands = Vec::new();
        if self.state.phase != Phase::Idle || self.state.device_modified {
            let why = match reason {
                StopReason::Shutdown => "shutdown",
                StopReason::Offboarding => "offboarding",
            };
            self.exit(now, why, &mut commands);
        }
        self.finish(before, commands)
    }

    fn finish(&mut self, before: ControllerState, mut commands: Vec<Command>) -> Vec<Command> {
        let saved = commands.iter().any(|c| matches!(c, Command::SaveState(_)));
        if !saved && self.state != before {
            commands.push(Command::SaveState(Box::new(self.state.clone())));
        }
        commands
    }

    /// Takes the device's curve as the baseline. Called only when idle, and idle means nothing of
    /// ours is on the device: [`Self::exit`] marks it so only after the restore.
    fn capture_baseline(&mut self, obs: &Observation, commands: &mut Vec<Command>) {
        self.state.baseline = Some(obs.curve);
        commands.push(Command::Record(baseline_point(
            &self.house_id,
            obs.now,
            &obs.curve,
        )));
    }

    fn step_reduction(
        &mut self,
        obs: &Observation,
        forecast: &[WeatherHour],
        commands: &mut Vec<Command>,
    ) -> Option<Adjustment> {
        let (target, tol) = (self.config.target, self.config.tolerance);
        match self.state.phase.clone() {
            Phase::Reducing { plan, until } => {
                if obs.now >= until {
                    self.exit(obs.now, "reduction expired", commands);
                    None
                } else if obs.room < target - tol {
                    self.exit(obs.now, "room below target - tolerance", commands);
                    None
                } else {
                    Some(Adjustment::reduction(
                        &plan,
                        self.baseline(),
                        until,
                        obs.now,
                    ))
                }
            }
            _ => {
                let outdoor: Vec<f64> = forecast.iter().map(|w| w.outdoor).collect();
                let plan = plan_reduction(&outdoor, obs.room, target)?;
                self.capture_baseline(obs, commands);
                let until =
                    obs.now + SignedDuration::from_secs_f64(self.config.reduction_hours * 3600.0);
                let adjustment = Adjustment::reduction(&plan, self.baseline(), until, obs.now);
                self.state.phase = Phase::Reducing { plan, until };
                Some(adjustment)
            }
        }
    }

    fn step_shift(
        &mut self,
        obs: &Observation,
        forecast: &[WeatherHour],
        tau_hours: Option<f64>,
        commands: &mut Vec<Command>,
    ) -> Adjustment {
        if self.state.phase == Phase::Idle {
            self.capture_baseline(obs, commands);
            self.state.pi = PiState::default();
        }
        let baseline = self.baseline();
        let weather = weather_shift(&baseline, obs.outdoor, obs.effective_outdoor);
        let correction = self.state.pi.update(&self.config, obs.room, obs.now);
        let pre = preemptive_shift(
            &self.config,
            &baseline,
            obs.room,
            obs.effective_outdoor,
            forecast,
            obs.now,
            tau_hours,
        );
        let mut offset = round_to(weather + correction + pre, 1);
        if obs.room < self.config.target - self.config.tolerance {
            offset = offset.max(0.0); // too cold: never below the user's curve
        }
        let previous = match self.state.phase {
            Phase::Shifting { offset } => Some(offset),
            _ => None,
        };
        // Small moves are not worth a write.
        if let Some(previous) = previous {
            if (offset - previous).abs() < self.config.min_write_step {
                offset = previous;
            }
        }
        self.state.phase = Phase::Shifting { offset };
        Adjustment {
            curve: baseline.map(|_, v| v + offset),
            action: "shift",
            delta: offset,
            reason: format!("weather {weather:+.1}, pi {correction:+.2}, preemptive {pre:+.1}"),
            forecast_change: None,
            duration_hours: None,
        }
    }

    fn baseline(&self) -> HeatCurve {
        self.state
            .baseline
            .expect("control is only active with a saved baseline")
    }

    /// Saves the state, then writes (enabled) or only records (disabled) the curve, unless it is
    /// what is already there.
    fn write(&mut self, obs: &Observation, adjustment: Adjustment, commands: &mut Vec<Command>) {
        let curve = adjustment.curve;
        let same_as_last = self
            .state
            .last_curve
            .is_some_and(|last| last.max_abs_difference(&curve) < SAME_CURVE);
        let device_differs = obs.curve.max_abs_difference(&curve) >= SAME_CURVE;
        let enabled = self.config.enabled;
        if same_as_last && !(enabled && device_differs) {
            return;
        }
        self.state.last_curve = Some(curve);
        self.state.device_modified |= enabled;
        commands.push(Command::SaveState(Box::new(self.state.clone())));
        if enabled {
            commands.push(Command::WriteCurve {
                curve,
                restore: false,
            });
        }
        let point = adjustment_point(
            &self.house_id,
            obs.now,
            &adjustment,
            &self.baseline(),
            !enabled,
        );
        commands.push(Command::Record(point));
    }

    /// Back to the baseline: written first (if anything of ours may be on the device), then the
    /// state saved as idle, so a failed write leaves the state asking for the restore again.
    fn exit(&mut self, now: Timestamp, why: &str, commands: &mut Vec<Command>) {
        if let Some(baseline) = self.state.baseline {
            if self.state.device_modified {
                commands.push(Command::WriteCurve {
                    curve: baseline,
                    restore: true,
                });
            }
            let restore = Adjustment {
                curve: baseline,
                action: "restore",
                delta: 0.0,
                reason: why.to_string(),
                forecast_change: None,
                duration_hours: None,
            };
            let dry_run = !self.state.device_modified;
            commands.push(Command::Record(adjustment_point(
                &self.house_id,
                now,
                &restore,
                &baseline,
                dry_run,
            )));
        }
        self.state.phase = Phase::Idle;
        self.state.pi = PiState::default();
        self.state.last_curve = None;
        self.state.device_modified = false;
        commands.push(Command::SaveState(Box::new(self.state.clone())));
    }
}

/// A curve the controller wants, with what `heat_curve_adjustment` says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjustment {
    pub curve: HeatCurve,
    /// `reduce`, `shift` or `restore`.
    pub action: &'static str,
    /// The change applied to the baseline, °C.
    pub delta: f64,
    pub reason: String,
    pub forecast_change: Option<f64>,
    pub duration_hours: Option<f64>,
}

impl Adjustment {
    fn reduction(
        plan: &ReductionPlan,
        baseline: HeatCurve,
        until: Timestamp,
        now: Timestamp,
    ) -> Self {
        Adjustment {
            curve: plan.apply(&baseline),
            action: "reduce",
            delta: plan.delta,
            reason: format!("forecast rises {:.1} °C", plan.forecast_change),
            forecast_change: Some(plan.forecast_change),
            duration_hours: Some((until - now).get_seconds() as f64 / 3600.0),
        }
    }
}
