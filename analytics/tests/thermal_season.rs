//! The closed loop on a short season: the controller against the house model, and the thermal
//! model learned from the simulated polls. The whole season's figures are the benchmark's.

use hemflux_analytics::thermal::control::config::{ControlConfig, ControlMode};
use hemflux_analytics::thermal::season::{run_season, SeasonConfig};

fn three_weeks(control: Option<ControlConfig>) -> SeasonConfig {
    SeasonConfig {
        days: 21,
        ..SeasonConfig::stockholm(control)
    }
}

#[test]
fn the_shift_controller_holds_the_room_nearer_target_inside_the_clamp() {
    let fixed = run_season(&three_weeks(None));
    let config = ControlConfig {
        enabled: true,
        mode: ControlMode::Intelligent,
        ..ControlConfig::default()
    };
    let controlled = run_season(&three_weeks(Some(config)));
    assert!(controlled.curve_writes > 0);
    assert!(
        controlled.lowest_margin_over_room >= 2.0 - 1e-9,
        "{}",
        controlled.lowest_margin_over_room
    );
    assert!(
        (controlled.mean_room - 21.0).abs() < (fixed.mean_room - 21.0).abs(),
        "{controlled:?} vs {fixed:?}"
    );
    assert!(controlled.uncomfortable_hours <= fixed.uncomfortable_hours);
    assert!(controlled.space_heating_kwh < fixed.space_heating_kwh);
    assert_eq!(
        fixed.hot_water_kwh, controlled.hot_water_kwh,
        "the same draws in both runs"
    );
}

#[test]
fn the_thermal_model_learns_tau_from_simulated_polls() {
    let config = three_weeks(None);
    let report = run_season(&config);
    let model = report.last_model.expect("a fit after three weeks");
    let true_tau = config.house.capacity / config.house.k;
    assert!(
        (model.tau_hours / true_tau - 1.0).abs() < 0.35,
        "tau {} vs {true_tau}",
        model.tau_hours
    );
    assert!(model.r_squared > 0.2, "{model:?}");
    // With k from the energy analytics, the heat capacity follows.
    let capacity = model.capacity_kwh_per_k(config.house.k);
    assert!(
        (capacity / config.house.capacity - 1.0).abs() < 0.35,
        "{capacity}"
    );
    // Forecasts were issued and scored at their target times at every lead.
    assert!(report.hemflux.count(24) > 200 && report.model_c.count(24) == report.hemflux.count(24));
}

#[test]
fn a_season_is_deterministic() {
    let config = SeasonConfig {
        days: 3,
        ..SeasonConfig::stockholm(None)
    };
    assert_eq!(run_season(&config), run_season(&config));
}
