use jiff::civil::date;

use super::*;
use crate::energy::records;
use crate::energy::synthetic::{self, year, HouseSpec};

fn stockholm_entity(location: Option<Location>) -> Entity {
    synthetic::entity("villa_1", location)
}

#[test]
fn a_synthetic_year_gives_back_k_within_2_percent_and_hot_water_within_5() {
    let spec = HouseSpec::default();
    let e = stockholm_entity(Some(spec.location));
    let house = year(
        &spec,
        &e.coefficients,
        &e.tz,
        "2025-01-01T00:00:00Z".parse().unwrap(),
    );
    let meters = house.meters();
    let history = house.history(&meters);
    let days = day_inputs(&e, &history, date(2025, 1, 1), date(2025, 12, 31));
    let cal = calibrate(&days, &Settings::default());
    let fit = cal.usable_fit().unwrap_or_else(|| panic!("{:?}", cal.fit));
    let k_err = (fit.k_kw_per_k - spec.k_kw_per_k).abs() / spec.k_kw_per_k;
    eprintln!("synthetic year: {fit:?}");
    assert!(
        k_err < 0.02,
        "k {} vs {}: {:.2} %",
        fit.k_kw_per_k,
        spec.k_kw_per_k,
        k_err * 100.0
    );

    let split = separate(&days, Some(fit), cal.hot_water.as_ref(), &e);
    let split_days: Vec<_> = split.iter().filter(|d| !d.no_breakdown).collect();
    assert!(split_days.len() >= 360, "{} days split", split_days.len());
    // The true hot water of exactly the days that were split.
    let true_dhw: f64 = house
        .truth
        .iter()
        .filter(|h| {
            split_days
                .iter()
                .any(|d| d.date == crate::energy::days::local_date(h.start, &e.tz))
        })
        .map(|h| h.dhw_kwh)
        .sum();
    let dhw: f64 = split_days.iter().map(|d| d.dhw_energy_kwh).sum();
    let dhw_err = (dhw - true_dhw).abs() / true_dhw;
    eprintln!(
        "hot water {dhw:.0} kWh vs {true_dhw:.0} kWh true ({:+.2} %)",
        (dhw - true_dhw) / true_dhw * 100.0
    );
    assert!(
        dhw_err < 0.05,
        "hot water {dhw:.0} vs {true_dhw:.0} kWh: {:.2} %",
        dhw_err * 100.0
    );
    let base = cal.hot_water.unwrap().base_kwh_per_day;
    assert!(
        (base - 24.0 * spec.base_load_kw).abs() < 0.5,
        "base load {base} kWh/day"
    );
}

#[test]
fn fixture_e5_flipped_temperatures_pair_with_energy_by_stockholm_date() {
    // The seed's daily temperature labelled 01-16 was the mean of UTC 01-15. Here UTC 01-15 is
    // 0 °C and UTC 01-16 is 10 °C: the Stockholm day 01-16 (01-15T23Z..01-16T23Z) has one hour
    // at 0 and 23 at 10.
    let weather: Vec<WeatherObs> = (0..48)
        .map(|h| WeatherObs {
            time: Timestamp::from_second(1_768_435_200 + h * 3600).unwrap(), // 2026-01-15T00Z
            temp_c: if h < 24 { 0.0 } else { 10.0 },
            wind_ms: Some(0.0),
            humidity_pct: Some(50.0),
            cloud_octas: Some(8.0),
        })
        .collect();
    let history = History {
        meters: &[],
        heating: &[],
        weather: &weather,
    };
    let days = day_inputs(
        &stockholm_entity(None),
        &history,
        date(2026, 1, 16),
        date(2026, 1, 16),
    );
    let t = days[0].effective_temp.unwrap();
    assert!((t.mean - 230.0 / 24.0).abs() < 1e-9, "{t:?}");
    assert_eq!(t.coverage, 1.0);
}

fn fixed_day(
    d: jiff::civil::Date,
    kwh: f64,
    t_eff: f64,
    rows: usize,
    hours_present: u32,
) -> DayInputs {
    DayInputs {
        date: d,
        hours: 24.0,
        energy: crate::energy::days::DayEnergy {
            kwh,
            hours_expected: 24,
            hours_present,
        },
        effective_temp: Some(crate::energy::days::DayMean {
            mean: t_eff,
            coverage: 1.0,
        }),
        rows: crate::energy::hot_water::DayRows {
            rows,
            mean_indoor_c: Some(21.0),
            dhw_events: 0,
            dhw_minutes: 0.0,
        },
        rows_expected: 96,
    }
}

/// Twenty complete February days from -10 °C up, at k 2.4 kWh/K/day over 21 °C plus 5 kWh.
fn twenty_clean_days() -> Vec<DayInputs> {
    (0..20)
        .map(|i| {
            fixed_day(
                date(2026, 2, 1 + i),
                2.4 * (21.0 - (-10.0 + i as f64)) + 5.0,
                -10.0 + i as f64,
                96,
                24,
            )
        })
        .collect()
}

/// A fit of k 0.1, moved to a balance point at the indoor 21 °C so that degree-hours are the
/// seed's (the grid's nearest point is 70 °F = 21.1 °C).
fn fit_k_0_1() -> DailyFit {
    let bp = (70.0 - 32.0) / 1.8;
    let days: Vec<DayInputs> = (0..40)
        .map(|i| {
            let t = -10.0 + f64::from(i);
            fixed_day(
                date(2026, 2, 1)
                    .checked_add(jiff::Span::new().days(i))
                    .unwrap(),
                2.4 * (bp - t).max(0.0) + 3.0,
                t,
                96,
                24,
            )
        })
        .collect();
    let fit = calibrate(&days, &Settings::default()).fit.unwrap();
    assert!(
        (fit.k_kw_per_k - 0.1).abs() < 1e-9 && (fit.balance_point_c - bp).abs() < 1e-9,
        "{fit:?}"
    );
    assert!((fit.intercept_kwh_per_day - 3.0).abs() < 1e-9, "{fit:?}");
    DailyFit {
        balance_point_c: 21.0,
        intercept_kwh_per_day: 0.0,
        ..fit
    }
}

#[test]
fn fixture_d1_a_full_day_at_k_0_1_is_all_heating() {
    let e = stockholm_entity(None);
    let day = fixed_day(date(2026, 1, 16), 60.0, -4.0, 96, 24);
    let d = separate(&[day], Some(&fit_k_0_1()), None, &e)[0];
    assert_eq!(d.degree_hours, 600.0);
    assert!(
        (d.heating_energy_kwh - 60.0).abs() < 1e-9 && d.dhw_energy_kwh < 1e-9,
        "{d:?}"
    );
    assert!((d.k_implied - 0.1).abs() < 1e-12 && !d.no_breakdown);
    assert_eq!(d.avg_temp_difference, 25.0);
}

#[test]
fn fixture_d1_flipped_one_day_alone_gives_no_k_and_no_breakdown() {
    let e = stockholm_entity(None);
    let days = [fixed_day(date(2026, 1, 16), 60.0, -4.0, 96, 24)];
    let cal = calibrate(&days, &Settings::default());
    assert!(cal.fit.is_err());
    assert!(separate(&days, cal.usable_fit(), None, &e)[0].no_breakdown);
}

#[test]
fn fixture_d2_flipped_ten_days_at_one_temperature_give_no_percentile_k() {
    // The seed picked P15 = 0.072 of the ten k_implied and called 107.4 of 538.2 kWh hot water.
    // At one temperature the energy cannot tell k from hot water: no fit, no split.
    let e = stockholm_entity(None);
    let days: Vec<DayInputs> = [
        0.070, 0.072, 0.075, 0.080, 0.085, 0.090, 0.095, 0.100, 0.110, 0.120,
    ]
    .iter()
    .enumerate()
    .map(|(i, k)| fixed_day(date(2026, 1, 1 + i as i8), k * 600.0, -4.0, 96, 24))
    .collect();
    let cal = calibrate(&days, &Settings::default());
    assert_eq!(
        cal.fit,
        Err(crate::energy::regression::NoFit::NoTemperatureSpread)
    );
    let split = separate(&days, cal.usable_fit(), None, &e);
    assert!(split
        .iter()
        .all(|d| d.no_breakdown && d.dhw_energy_kwh == 0.0));
    assert!(
        (split[1].actual_energy_kwh - 43.2).abs() < 1e-9,
        "the metered energy is still reported"
    );
}

#[test]
fn fixture_d3_flipped_meter_hours_not_heating_rows_decide_a_breakdown() {
    let e = stockholm_entity(None);
    let fit = fit_k_0_1();
    // 72 of 96 heating rows (the seed: coverage 0.75, no breakdown) but all 24 metered hours.
    let sparse_rows = fixed_day(date(2026, 1, 16), 45.0, -4.0, 72, 24);
    let d = separate(&[sparse_rows], Some(&fit), None, &e)[0];
    assert!(!d.no_breakdown);
    assert!(
        (d.heating_energy_kwh - 60.0).abs() < 1e-9 && d.data_coverage == 1.0,
        "{d:?}"
    );
    // 23 of 24 metered hours: no breakdown, and kept out of the fit.
    let missing_hour = fixed_day(date(2026, 1, 17), 45.0, -4.0, 96, 23);
    let d = separate(&[missing_hour], Some(&fit), None, &e)[0];
    assert!(d.no_breakdown && d.heating_energy_kwh == 0.0);
    assert!((d.data_coverage - 23.0 / 24.0).abs() < 1e-12);
    let mut days = twenty_clean_days();
    let clean = calibrate(&days, &Settings::default()).fit.unwrap();
    days.push(fixed_day(date(2026, 2, 28), 1.0, -20.0, 96, 3));
    assert_eq!(
        calibrate(&days, &Settings::default())
            .fit
            .unwrap()
            .k_kw_per_k,
        clean.k_kw_per_k
    );
}

#[test]
fn fixture_d6_flipped_no_qualifying_day_writes_no_breakdown_rows() {
    let e = stockholm_entity(None);
    let days = [fixed_day(date(2026, 1, 16), 60.0, -4.0, 10, 5)];
    let cal = calibrate(&days, &Settings::default());
    let points = records::energy_separated(&e, &separate(&days, cal.usable_fit(), None, &e));
    assert_eq!(points.len(), 1);
    let p = &points[0];
    assert_eq!(
        p.fields["no_breakdown"],
        hemflux_shared::point::FieldValue::Int(1)
    );
    assert_eq!(p.fields["heating_energy_kwh"], 0.0.into());
    assert_eq!(
        p.time, 1_768_521_600_000_000_000,
        "stamped at 2026-01-16T00:00Z"
    );
    assert_eq!(p.tags["house_id"], "villa_1");
    assert!(records::k_value_history(&e, &cal, "2026-01-17T07:00:00Z".parse().unwrap()).is_none());
}

#[test]
fn fixture_e4_flipped_k_comes_from_the_meter_so_a_wrong_k_does_not_echo() {
    // The seed recalibrated from its own heating_energy_kwh (= k_sep·DH), so k echoed itself.
    // Here the split with a wrong k changes nothing in the next fit.
    let e = stockholm_entity(None);
    let days = twenty_clean_days();
    let wrong = DailyFit {
        k_kw_per_k: 0.072,
        ..fit_k_0_1()
    };
    let _ = separate(&days, Some(&wrong), None, &e);
    let refit = calibrate(&days, &Settings::default()).fit.unwrap();
    assert!((refit.k_kw_per_k - 0.1).abs() < 1e-9, "{refit:?}");
}
