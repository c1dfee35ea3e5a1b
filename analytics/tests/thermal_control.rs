//! The heat-curve controller's safety: the baseline saved before the first write and never taken
//! from a curve of ours, restarts mid-reduction, restores on exit and stop, the dry run, config
//! errors, and (a property) no write outside [room + 2, max_supply_temp].

use hemflux_analytics::thermal::control::config::{ConfigError, ControlConfig, ControlMode};
use hemflux_analytics::thermal::control::{
    Command, Controller, ControllerState, Observation, Phase, StopReason,
};
use hemflux_analytics::thermal::curve::HeatCurve;
use hemflux_analytics::thermal::forecast::WeatherHour;
use hemflux_shared::point::FieldValue;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

fn at(hours: f64) -> Timestamp {
    "2026-01-15T00:00:00Z".parse::<Timestamp>().unwrap()
        + SignedDuration::from_secs_f64(hours * 3600.0)
}

fn user_curve() -> HeatCurve {
    HeatCurve(std::array::from_fn(|i| 45.0 - 2.0 * i as f64))
}

/// 72 h of forecast from `now`, rising linearly from `first` by `change`.
fn forecast(now: Timestamp, first: f64, change: f64) -> Vec<WeatherHour> {
    (1..=72)
        .map(|h| WeatherHour {
            time: now + SignedDuration::from_hours(h),
            outdoor: first + change * (h - 1) as f64 / 71.0,
            effective_outdoor: first + change * (h - 1) as f64 / 71.0,
        })
        .collect()
}

fn reduction(enabled: bool) -> ControlConfig {
    ControlConfig {
        enabled,
        mode: ControlMode::Reduction,
        target: 21.0,
        ..ControlConfig::default()
    }
}

/// A device and a store, executing commands in order as the house worker does.
struct Device {
    curve: HeatCurve,
    saved: Option<ControllerState>,
    writes: Vec<(HeatCurve, bool)>,
    records: Vec<hemflux_shared::point::Point>,
}

impl Device {
    fn new() -> Self {
        Device {
            curve: user_curve(),
            saved: None,
            writes: Vec::new(),
            records: Vec::new(),
        }
    }

    /// Carries out commands; `crash_after` stops after that many (a crash mid-way).
    fn run(&mut self, commands: Vec<Command>, crash_after: Option<usize>) {
        for command in commands.into_iter().take(crash_after.unwrap_or(usize::MAX)) {
            match command {
                Command::SaveState(state) => self.saved = Some(*state),
                Command::WriteCurve { curve, restore } => {
                    self.curve = curve;
                    self.writes.push((curve, restore));
                }
                Command::Record(point) => self.records.push(point),
            }
        }
    }

    /// The controller's commands at `hours`, for this room and outdoor temperature and a
    /// forecast from that outdoor temperature rising by `change`.
    fn commands(
        &self,
        controller: &mut Controller,
        hours: f64,
        room: f64,
        outdoor: f64,
        change: f64,
    ) -> Vec<Command> {
        controller.step(
            &self.obs(hours, room, outdoor),
            &forecast(at(hours), outdoor, change),
            None,
        )
    }

    /// [`Device::commands`], then carries them out (see [`Device::run`]).
    fn step(
        &mut self,
        controller: &mut Controller,
        hours: f64,
        room: f64,
        outdoor: f64,
        change: f64,
        crash_after: Option<usize>,
    ) {
        let commands = self.commands(controller, hours, room, outdoor, change);
        self.run(commands, crash_after);
    }

    fn obs(&self, hours: f64, room: f64, outdoor: f64) -> Observation {
        Observation {
            now: at(hours),
            room,
            outdoor,
            effective_outdoor: outdoor,
            curve: self.curve,
        }
    }
}

#[test]
fn tolerance_zero_is_a_config_error() {
    let config = ControlConfig {
        tolerance: 0.0,
        ..ControlConfig::default()
    };
    let err = Controller::new("villa_1", config, None).err().unwrap();
    assert!(matches!(
        err,
        ConfigError::Invalid {
            field: "tolerance",
            ..
        }
    ));
    assert!(
        err.to_string().contains("heat_curve_control.tolerance = 0"),
        "{err}"
    );
}

#[test]
fn the_baseline_is_saved_before_the_first_write() {
    let mut device = Device::new();
    let mut controller = Controller::new("villa_1", reduction(true), None).unwrap();
    let commands = device.commands(&mut controller, 0.0, 21.5, 1.0, 6.0);
    let save = commands.iter().position(|c| matches!(c, Command::SaveState(s) if s.baseline == Some(user_curve()) && s.device_modified));
    let write = commands
        .iter()
        .position(|c| matches!(c, Command::WriteCurve { restore: false, .. }));
    assert!(save.unwrap() < write.unwrap(), "{commands:?}");
    device.run(commands, None);
    assert!(device.curve.0[7] < user_curve().0[7]);
    assert!(device
        .records
        .iter()
        .any(|p| p.measurement == "heat_curve_baseline"));
    let adjustment = device
        .records
        .iter()
        .find(|p| p.measurement == "heat_curve_adjustment")
        .unwrap();
    assert_eq!(adjustment.tags["action"], "reduce");
    assert_eq!(adjustment.fields["dry_run"], FieldValue::Bool(false));
}

#[test]
fn restart_mid_reduction_resumes_and_then_restores_the_true_baseline() {
    let mut device = Device::new();
    let mut controller = Controller::new("villa_1", reduction(true), None).unwrap();
    device.step(&mut controller, 0.0, 21.5, 1.0, 6.0, None);
    let lowered = device.curve;
    assert_ne!(lowered, user_curve());
    drop(controller); // kill -9

    // The next start finds the saved state and resumes: no write, baseline unchanged.
    let mut controller = Controller::new("villa_1", reduction(true), device.saved.clone()).unwrap();
    let commands = device.commands(&mut controller, 1.0, 21.4, 2.0, 0.0);
    assert!(
        !commands
            .iter()
            .any(|c| matches!(c, Command::WriteCurve { .. })),
        "{commands:?}"
    );
    assert_eq!(controller.state().baseline, Some(user_curve()));
    assert_eq!(device.curve, lowered);

    // Expiry restores the user's curve, not the lowered one.
    device.step(&mut controller, 73.0, 21.4, 5.0, 0.0, None);
    assert_eq!(device.curve, user_curve());
    assert_eq!(device.saved.as_ref().unwrap().phase, Phase::Idle);
    assert!(!device.saved.as_ref().unwrap().device_modified);

    // A new warm spell takes the user's curve as the baseline again.
    device.step(&mut controller, 74.0, 21.5, 1.0, 6.0, None);
    assert_eq!(device.saved.as_ref().unwrap().baseline, Some(user_curve()));
}

#[test]
fn a_crash_at_any_command_never_saves_a_lowered_curve_as_baseline() {
    for crash_at in 0..8 {
        let mut device = Device::new();
        let mut controller = Controller::new("villa_1", reduction(true), None).unwrap();
        device.step(&mut controller, 0.0, 21.5, 1.0, 6.0, Some(crash_at));
        // Restart, a new warm spell, then the room falls below target - tolerance, then shutdown.
        let mut controller =
            Controller::new("villa_1", reduction(true), device.saved.clone()).unwrap();
        device.step(&mut controller, 1.0, 21.5, 1.0, 8.0, Some(crash_at));
        let mut controller =
            Controller::new("villa_1", reduction(true), device.saved.clone()).unwrap();
        device.step(&mut controller, 2.0, 19.8, 1.0, 8.0, None);
        device.run(controller.stop(at(3.0), StopReason::Shutdown), None);
        assert_eq!(
            device.curve,
            user_curve(),
            "crash after {crash_at} commands"
        );
        if let Some(saved) = &device.saved {
            assert!(saved.baseline.is_none() || saved.baseline == Some(user_curve()));
        }
    }
}

#[test]
fn room_below_target_minus_tolerance_restores_at_once() {
    let mut device = Device::new();
    let mut controller = Controller::new("villa_1", reduction(true), None).unwrap();
    device.step(&mut controller, 0.0, 21.5, 1.0, 6.0, None);
    device.step(&mut controller, 5.0, 19.9, 1.5, 6.0, None);
    assert_eq!(device.writes.last(), Some(&(user_curve(), true)));
    let restore = device
        .records
        .iter()
        .rev()
        .find(|p| p.measurement == "heat_curve_adjustment")
        .unwrap();
    assert_eq!(restore.tags["action"], "restore");
    assert_eq!(
        restore.fields["reason"],
        "room below target - tolerance".into()
    );
}

#[test]
fn shutdown_and_offboarding_restore_the_baseline_first() {
    for reason in [StopReason::Shutdown, StopReason::Offboarding] {
        let mut device = Device::new();
        let config = ControlConfig {
            enabled: true,
            ..ControlConfig::default()
        };
        let mut controller = Controller::new("villa_1", config, None).unwrap();
        device.run(
            controller.step(&device.obs(0.0, 23.5, 0.0), &[], None),
            None,
        );
        assert_ne!(
            device.curve,
            user_curve(),
            "the PI lowers a warm room's curve"
        );
        let commands = controller.stop(at(1.0), reason);
        assert!(
            matches!(commands[0], Command::WriteCurve { restore: true, .. }),
            "{commands:?}"
        );
        assert!(matches!(commands.last(), Some(Command::SaveState(s)) if s.phase == Phase::Idle));
        device.run(commands, None);
        assert_eq!(device.curve, user_curve());
        assert!(
            controller.stop(at(2.0), reason).is_empty(),
            "nothing to undo twice"
        );
    }
}

#[test]
fn disabled_records_a_dry_run_and_writes_nothing() {
    let mut device = Device::new();
    let mut controller = Controller::new("villa_1", reduction(false), None).unwrap();
    device.step(&mut controller, 0.0, 21.5, 1.0, 6.0, None);
    assert!(device.writes.is_empty());
    assert_eq!(device.curve, user_curve());
    let record = device
        .records
        .iter()
        .find(|p| p.measurement == "heat_curve_adjustment")
        .unwrap();
    assert_eq!(record.fields["dry_run"], FieldValue::Bool(true));
    assert_eq!(record.fields["point_8"], FieldValue::Float(28.0));
}

#[test]
fn disabling_after_a_crash_still_undoes_our_curve() {
    let mut device = Device::new();
    let mut controller = Controller::new("villa_1", reduction(true), None).unwrap();
    device.step(&mut controller, 0.0, 21.5, 1.0, 6.0, None);
    let mut controller =
        Controller::new("villa_1", reduction(false), device.saved.clone()).unwrap();
    device.step(&mut controller, 1.0, 21.5, 1.0, 6.0, None);
    assert_eq!(device.curve, user_curve());
}

fn curve_strategy() -> impl Strategy<Value = HeatCurve> {
    prop::array::uniform10(15.0f64..80.0).prop_map(HeatCurve)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever the curve, weather, room and settings, a curve the controller computes is within
    /// [room + 2, max_supply_temp]; a restore writes exactly the baseline it saved.
    #[test]
    fn writes_stay_inside_the_clamp(
        baseline in curve_strategy(),
        target in 18.0f64..24.0,
        tolerance in 0.1f64..2.0,
        extra_max in 7.0f64..40.0,
        intelligent in any::<bool>(),
        steps in prop::collection::vec((10.0f64..30.0, -30.0f64..20.0, -8.0f64..8.0, -5.0f64..15.0), 1..12),
    ) {
        let config = ControlConfig {
            enabled: true,
            mode: if intelligent { ControlMode::Intelligent } else { ControlMode::Reduction },
            target,
            tolerance,
            max_supply_temp: target + extra_max,
            ..ControlConfig::default()
        };
        let max = config.max_supply_temp;
        let mut controller = Controller::new("villa_1", config, None).unwrap();
        let mut device = baseline;
        for (i, (room, outdoor, solar, change)) in steps.into_iter().enumerate() {
            let now = at(i as f64 * 2.0);
            let obs = Observation { now, room, outdoor, effective_outdoor: outdoor + solar, curve: device };
            for command in controller.step(&obs, &forecast(now, outdoor, change), Some(60.0)) {
                if let Command::WriteCurve { curve, restore } = command {
                    if restore {
                        prop_assert_eq!(curve, baseline);
                    } else {
                        for v in curve.0 {
                            prop_assert!(v >= room + 2.0 - 1e-9 && v <= max + 1e-9, "{} outside [{}, {}]", v, room + 2.0, max);
                        }
                    }
                    device = curve;
                }
            }
            if let Some(saved) = controller.state().baseline {
                prop_assert_eq!(saved, baseline);
            }
        }
    }
}
