use hemflux_shared::config::Location;
use hemflux_shared::point::FieldValue;
use jiff::SignedDuration;

use super::*;
use crate::energy::effective::Coefficients;
use crate::energy::forecast::{energy_forecast, ForecastInputs};
use crate::energy::synthetic::{self, generate, HouseSpec, SyntheticHouse};

fn entity(location: Option<Location>) -> Entity {
    synthetic::entity("villa_7", location)
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// The pipeline with the default settings at `now`.
fn pipeline(e: &Entity, history: &History, state: &mut EnergyState, now: &str) -> PipelineRun {
    energy_pipeline(e, history, state, &Settings::default(), at(now))
}

fn count(points: &[Point], measurement: &str) -> usize {
    points
        .iter()
        .filter(|p| p.measurement == measurement)
        .count()
}

/// The default synthetic house from 1 December 2025 to `to`.
fn winter_house(to: &str) -> (HouseSpec, Entity, SyntheticHouse) {
    let spec = HouseSpec::default();
    let e = entity(Some(spec.location));
    let house = generate(
        &spec,
        &e.coefficients,
        &e.tz,
        at("2025-12-01T00:00:00Z"),
        at(to),
    );
    (spec, e, house)
}

#[test]
fn the_pipeline_refits_every_72_hours_and_splits_with_the_k_in_use() {
    let (spec, e, house) = winter_house("2026-02-01T00:00:00Z");
    let meters = house.meters();
    let history = house.history(&meters);
    let mut state = EnergyState::default();

    let first = pipeline(&e, &history, &mut state, "2026-01-15T07:00:00Z");
    assert_eq!(count(&first.points, "k_value_history"), 1);
    assert_eq!(count(&first.points, "energy_separated"), 30);
    let fit = state.fit.as_ref().expect("a usable fit");
    assert!(
        fit.k_low < spec.k_kw_per_k && spec.k_kw_per_k < fit.k_high,
        "30 winter days: {fit:?}"
    );
    let split = first
        .points
        .iter()
        .filter(|p| p.measurement == "energy_separated");
    assert!(split
        .clone()
        .all(|p| p.fields["no_breakdown"] == FieldValue::Int(0)));
    assert_eq!(
        split.clone().next_back().unwrap().time,
        1_768_348_800_000_000_000,
        "yesterday, 2026-01-14T00Z"
    );

    // Through the checkpoint; the next day splits with the saved k and does not refit.
    let mut state: EnergyState =
        serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    let next = pipeline(&e, &history, &mut state, "2026-01-16T07:00:00Z");
    assert_eq!(count(&next.points, "k_value_history"), 0);
    assert!(next.calibration.is_none());
    assert_eq!(count(&next.points, "energy_separated"), 30);
    // 72 hours after the fit, it refits.
    let later = pipeline(&e, &history, &mut state, "2026-01-18T07:00:00Z");
    assert_eq!(count(&later.points, "k_value_history"), 1);
    assert_eq!(state.calibrated_at, Some(at("2026-01-18T07:00:00Z")));
}

#[test]
fn a_failed_fit_keeps_the_k_in_use_and_is_retried_next_run() {
    let e = entity(None);
    let mut state = EnergyState::default();
    let empty = History {
        meters: &[],
        heating: &[],
        weather: &[],
    };
    let run = pipeline(&e, &empty, &mut state, "2026-01-15T07:00:00Z");
    assert!(run.calibration.unwrap().fit.is_err());
    assert_eq!(state.calibrated_at, None, "retried next run");
    assert_eq!(
        count(&run.points, "energy_separated"),
        30,
        "no_breakdown rows, not an exception"
    );
}

#[test]
fn gap_fill_asks_for_weather_at_home_and_backfills_effective_temp() {
    let here = Location {
        lat: 59.33,
        lon: 18.07,
    };
    let e = entity(Some(here));
    let weather: Vec<WeatherObs> = [0, 1, 5]
        .iter()
        .map(|h| WeatherObs {
            time: at("2026-01-15T00:00:00Z") + SignedDuration::from_hours(*h),
            temp_c: -5.0,
            wind_ms: Some(4.0),
            humidity_pct: Some(50.0),
            cloud_octas: Some(8.0),
        })
        .collect();
    let rows = [at("2026-01-15T01:35:00Z"), at("2026-01-15T05:10:00Z")];
    let (refills, points) = gap_fill(
        &e,
        &weather,
        &rows,
        at("2026-01-15T00:00:00Z"),
        at("2026-01-15T06:00:00Z"),
    );
    assert_eq!(refills.len(), 1);
    assert_eq!(
        (refills[0].from, refills[0].to, refills[0].at),
        (at("2026-01-15T01:00:00Z"), at("2026-01-15T05:00:00Z"), here)
    );
    assert_eq!(points.len(), 2);
    assert_eq!(points[0].measurement, "heating_system");
    assert_eq!(
        points[0].fields["effective_temp"],
        FieldValue::Float(-6.12),
        "night: −5 − 0.56·√4"
    );
    assert_eq!(
        points[0].fields["effective_temp_solar_effect"],
        FieldValue::Float(0.0)
    );
}

#[test]
fn the_forecast_heats_the_loss_at_target_and_coasts_above_it() {
    let fit = DailyFit {
        balance_point_c: 17.0,
        intercept_kwh_per_day: 4.8,
        slope_kwh_per_k_day: 2.4,
        k_kw_per_k: 0.1,
        k_stderr: 0.0,
        k_low: 0.1,
        k_high: 0.1,
        r2_adj: 0.9,
        cvrmse: 0.1,
        days_used: 30,
        heating_days: 30,
        total_hdd_c: 600.0,
        rejected: None,
    };
    let now = at("2026-01-15T06:20:00Z");
    let forecast: Vec<WeatherObs> = (0..80)
        .map(|h| WeatherObs {
            time: at("2026-01-15T06:00:00Z") + SignedDuration::from_hours(h),
            temp_c: -3.0,
            wind_ms: Some(0.0),
            humidity_pct: Some(50.0),
            cloud_octas: Some(8.0),
        })
        .collect();
    let still = Coefficients {
        wind: 0.0,
        humidity: 0.0,
        solar: 0.0,
    };
    let at_target = ForecastInputs {
        now,
        hours: 72,
        indoor_now_c: 21.0,
        target_indoor_c: 21.0,
        time_constant_h: 80.0,
    };
    let hours = energy_forecast(&fit, &forecast, None, &still, &at_target);
    assert_eq!(hours.len(), 72);
    assert_eq!(hours[0].time, at("2026-01-15T07:00:00Z"));
    assert!((hours[0].lead_time_hours - 40.0 / 60.0).abs() < 1e-9);
    // k·(bp − T_eff) = 0.1·20 = 2 kWh of heating every hour, plus 0.2 kWh of base.
    assert!(hours
        .iter()
        .all(|h| (h.heating_energy_kwh - 2.0).abs() < 1e-9
            && (h.total_energy_kwh - 2.2).abs() < 1e-9));
    // Two degrees too warm: no heat while it coasts down at (T_in − T_eff − gains/k)/τ per hour.
    let warm = ForecastInputs {
        indoor_now_c: 23.0,
        ..at_target
    };
    let hours = energy_forecast(&fit, &forecast, None, &still, &warm);
    assert_eq!(hours[0].heating_energy_kwh, 0.0);
    assert!(
        (hours[0].indoor_temp - (23.0 - 22.0 / 80.0)).abs() < 1e-9,
        "{:?}",
        hours[0]
    );
    assert!(
        hours.last().unwrap().heating_energy_kwh > 1.9,
        "back at target, heating again"
    );
    let points = records::energy_forecast(&entity(None), &hours);
    assert_eq!(points.len(), 72);
    assert_eq!(
        points[0].fields["heating_energy_kwh"],
        FieldValue::Float(0.0)
    );
    assert_eq!(points[0].tags["house_id"], "villa_7");
}

#[test]
fn k_value_history_carries_the_seeds_fields_and_the_fits() {
    let (_, e, house) = winter_house("2026-01-16T00:00:00Z");
    let meters = house.meters();
    let history = house.history(&meters);
    let mut state = EnergyState::default();
    let run = pipeline(&e, &history, &mut state, "2026-01-15T07:00:00Z");
    let k = run
        .points
        .iter()
        .find(|p| p.measurement == "k_value_history")
        .unwrap();
    let fields = hemflux_shared::schema::series("k_value_history").flat_map(|s| s.fields);
    for field in fields {
        assert!(k.fields.contains_key(*field), "{field} missing from {k:?}");
    }
    assert_eq!(k.tags["method"], "caltrack_daily");
    assert_eq!(k.fields["total_days"], FieldValue::Int(30));
}
