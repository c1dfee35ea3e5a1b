use super::*;

/// Days with mean temperatures spread over −12..+18 °C and energy from a known model.
pub(crate) fn days_from(k: f64, bp: f64, intercept: f64, n: usize, noise: f64) -> Vec<FitDay> {
    let start: Date = "2026-01-01".parse().unwrap();
    (0..n)
        .map(|i| {
            let t = -12.0 + 30.0 * ((i * 7) % n) as f64 / n as f64;
            let wobble = noise * ((i as f64 * 2.3).sin());
            FitDay {
                date: start.checked_add(jiff::Span::new().days(i as i64)).unwrap(),
                kwh_per_day: intercept + 24.0 * k * (bp - t).max(0.0) + wobble,
                mean_temp_c: t,
            }
        })
        .collect()
}

fn fit_with_defaults(days: &[FitDay]) -> Result<DailyFit, NoFit> {
    fit_daily(days, &FitSettings::default())
}

#[test]
fn recovers_a_villa() {
    let fit = fit_with_defaults(&days_from(0.09, 15.0, 8.0, 60, 0.0)).unwrap();
    assert!((fit.k_kw_per_k - 0.09).abs() < 1e-9, "{fit:?}");
    assert!((fit.intercept_kwh_per_day - 8.0).abs() < 1e-6);
    assert!(
        (fit.balance_point_c - 15.0).abs() < 1e-9,
        "15 °C = 59 °F is on the grid"
    );
    assert!(fit.usable() && fit.r2_adj > 0.999 && fit.cvrmse < 1e-6);
}

#[test]
fn fixture_e1_flipped_constant_temperature_gives_no_k_instead_of_a_percentile() {
    // The seed took P15 of heating/(ΔT·24) = 0.083333 from days at one temperature; the energy
    // at one temperature cannot separate k from hot water and base load.
    let days: Vec<FitDay> = [40.0, 45.0, 50.0, 55.0, 60.0]
        .iter()
        .cycle()
        .take(15)
        .enumerate()
        .map(|(i, kwh)| FitDay {
            date: jiff::civil::date(2026, 1, 1 + i as i8),
            kwh_per_day: *kwh,
            mean_temp_c: 1.0,
        })
        .collect();
    assert_eq!(fit_with_defaults(&days), Err(NoFit::NoTemperatureSpread));
}

#[test]
fn fixture_e2_two_days_give_no_k() {
    let days = days_from(0.1, 15.0, 5.0, 2, 0.0);
    assert_eq!(
        fit_with_defaults(&days),
        Err(NoFit::TooFewDays { have: 2, need: 10 })
    );
}

#[test]
fn fixture_e3_flipped_a_building_with_k_2_5_is_recovered_not_rejected_by_a_cap() {
    let fit = fit_with_defaults(&days_from(2.5, 17.0, 300.0, 45, 20.0)).unwrap();
    assert!((fit.k_kw_per_k - 2.5).abs() / 2.5 < 0.02, "{fit:?}");
    assert!(fit.usable(), "{fit:?}");
}

#[test]
fn too_few_heating_days_or_degree_days_give_no_k() {
    // A warm month: every day above any balance point that has ten heating days.
    let warm: Vec<FitDay> = days_from(0.1, 15.0, 5.0, 30, 0.0)
        .into_iter()
        .map(|d| FitDay {
            mean_temp_c: d.mean_temp_c + 40.0,
            ..d
        })
        .collect();
    assert_eq!(
        fit_with_defaults(&warm),
        Err(NoFit::InsufficientHeating {
            need: 10,
            min_hdd: 20.0 / 1.8
        })
    );
}

#[test]
fn energy_that_ignores_temperature_is_intercept_only() {
    let flat: Vec<FitDay> = days_from(0.0, 15.0, 10.0, 40, 1.0);
    assert_eq!(
        fit_with_defaults(&flat).map(|f| f.k_kw_per_k),
        Err(NoFit::InterceptOnly)
    );
}

#[test]
fn a_poor_fit_is_reported_with_its_reason_not_hidden() {
    let noisy = days_from(0.05, 15.0, 10.0, 40, 20.0);
    let fit = fit_with_defaults(&noisy).unwrap();
    assert!(!fit.usable());
    assert!(
        fit.rejected.as_deref().unwrap().contains("adjusted R²"),
        "{fit:?}"
    );
    // An implausible k is rejected by the band even when the fit is perfect.
    let tight = FitSettings {
        k_max_kw_per_k: 1.0,
        ..FitSettings::default()
    };
    let fit = fit_daily(&days_from(2.5, 17.0, 300.0, 45, 0.0), &tight).unwrap();
    assert!(
        fit.rejected
            .as_deref()
            .unwrap()
            .contains("outside the plausible"),
        "{fit:?}"
    );
}

#[test]
fn quality_figures_match_their_definitions() {
    let days = days_from(0.1, 15.0, 6.0, 50, 2.0);
    let fit = fit_with_defaults(&days).unwrap();
    let n = days.len() as f64;
    let resid: Vec<f64> = days
        .iter()
        .map(|d| d.kwh_per_day - fit.predict_kwh_per_day(d.mean_temp_c))
        .collect();
    let ssr: f64 = resid.iter().map(|r| r * r).sum();
    let mean = days.iter().map(|d| d.kwh_per_day).sum::<f64>() / n;
    let sst: f64 = days.iter().map(|d| (d.kwh_per_day - mean).powi(2)).sum();
    assert!((fit.r2_adj - (1.0 - ssr / sst * (n - 1.0) / (n - 2.0))).abs() < 1e-9);
    assert!((fit.cvrmse - (ssr / (n - 2.0)).sqrt() / mean).abs() < 1e-9);
    assert!(fit.k_low < 0.1 && 0.1 < fit.k_high, "{fit:?}");
}
