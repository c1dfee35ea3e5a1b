//! `cargo bench -p hemflux-analytics --bench thermal`: one simulated heating season (October to
//! April, Stockholm-like weather) of the default villa, three ways: the installer's fixed curve,
//! the §7a reduction and the §7b shift controller. Prints the indoor forecast's MAE at 1, 6 and
//! 24 h lead (hemflux against the seed's Model C, both scored at the target time), the season's
//! energy and uncomfortable hours against the fixed curve, and the wall time of each season.

use std::time::Instant;

use hemflux_analytics::thermal::control::config::{ControlConfig, ControlMode};
use hemflux_analytics::thermal::season::{run_season, SeasonConfig, SeasonReport};

fn control(mode: ControlMode) -> ControlConfig {
    ControlConfig {
        enabled: true,
        mode,
        ..ControlConfig::default()
    }
}

fn run(name: &str, config: SeasonConfig) -> SeasonReport {
    let started = Instant::now();
    let report = run_season(&config);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{name:<12} season {seconds:6.2} s  space heating {:8.0} kWh  hot water {:6.0} kWh  \
         uncomfortable {:4} h (too cold {:4})  mean room {:.2} °C  writes {} (restores {})",
        report.space_heating_kwh,
        report.hot_water_kwh,
        report.uncomfortable_hours,
        report.too_cold_hours,
        report.mean_room,
        report.curve_writes,
        report.restores
    );
    report
}

fn main() {
    let fixed = run("fixed curve", SeasonConfig::stockholm(None));
    let reduction = run(
        "7a reduce",
        SeasonConfig::stockholm(Some(control(ControlMode::Reduction))),
    );
    let shift = run(
        "7b shift",
        SeasonConfig::stockholm(Some(control(ControlMode::Intelligent))),
    );
    if let Some(model) = &fixed.last_model {
        println!(
            "thermal model (fixed curve, last fit): tau {:.1} h (true {:.1} h), R² {:.3}, RMSE {:.4} °C/h, {} h",
            model.tau_hours,
            SeasonConfig::stockholm(None).house.capacity / SeasonConfig::stockholm(None).house.k,
            model.r_squared,
            model.rmse,
            model.hours_used
        );
    }
    for (name, report) in [("fixed curve", &fixed), ("7b shift", &shift)] {
        for lead in [1, 6, 24] {
            let (h, c) = (report.hemflux.mae(lead), report.model_c.mae(lead));
            if let (Some(h), Some(c)) = (h, c) {
                println!(
                    "forecast ({name}) MAE at {lead:2} h: hemflux {h:.3} °C, Model C {c:.3} °C, \
                     {:.0} % lower ({} targets)",
                    100.0 * (1.0 - h / c),
                    report.hemflux.count(lead)
                );
            }
        }
    }
    for (name, report) in [("7a reduce", &reduction), ("7b shift", &shift)] {
        println!(
            "control {name}: energy {:+.1} % against the fixed curve, uncomfortable hours {} vs {}",
            100.0 * (report.space_heating_kwh / fixed.space_heating_kwh - 1.0),
            report.uncomfortable_hours,
            fixed.uncomfortable_hours
        );
    }
}
