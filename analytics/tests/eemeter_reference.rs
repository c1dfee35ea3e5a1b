//! hemflux's daily fit against an independent implementation: eemeter's CalTRACK 2.0 daily model
//! on eemeter's own sample (see tests/fixtures/README.md).
//!
//! Day convention: eemeter groups by the index's days, which are UTC days for this sample, so the
//! entity here is in UTC. hemflux itself groups by the entity's local days (Europe/Stockholm by
//! default); only the time zone differs, the code is the same.

use std::io::{BufRead, BufReader};

use flate2::read::GzDecoder;
use hemflux_analytics::energy::analysis::{calibrate, day_inputs, Entity, History, Settings};
use hemflux_analytics::energy::days::HourlyEnergy;
use hemflux_analytics::energy::effective::{Coefficients, WeatherObs};
use jiff::civil::{date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// Computed once by `analytics/reference/eemeter_caltrack_daily.py` with eemeter 3.2.0 (pandas
/// 2.0.3, statsmodels 0.14): baseline 2020-04-01..2021-04-01 (364 complete UTC days), heating-only
/// candidates at 30..90 °F, winner `hdd_only`; prediction over 2021-04-01..=2022-03-31.
const EEMETER_BALANCE_POINT_C: f64 = 12.222222; // 54 °F
const EEMETER_INTERCEPT_KWH_PER_DAY: f64 = 10.049211;
const EEMETER_SLOPE_KWH_PER_K_DAY: f64 = 2.984424; // 1.658013 per °F·day
const EEMETER_R2_ADJ: f64 = 0.721045;
const EEMETER_DAYS_USED: usize = 364;
const EEMETER_ANNUAL_PREDICTION_KWH: f64 = 7365.474;

fn gz_lines(name: &str) -> impl Iterator<Item = String> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    BufReader::new(GzDecoder::new(file))
        .lines()
        .skip(1)
        .map(|l| l.unwrap())
}

fn utc(naive: &str) -> Timestamp {
    naive
        .parse::<DateTime>()
        .unwrap()
        .to_zoned(TimeZone::UTC)
        .unwrap()
        .timestamp()
}

fn sample() -> (Vec<HourlyEnergy>, Vec<WeatherObs>) {
    let meter = gz_lines("uk-gas-hdd-only-hourly-sample-0.csv.gz")
        .map(|l| {
            let (start, kwh) = l.split_once(',').unwrap();
            HourlyEnergy {
                start: utc(start.trim_end_matches("+00:00")),
                kwh: kwh.parse().unwrap(),
            }
        })
        .collect();
    let temps = gz_lines("uk-tempC-sample-0.csv.gz")
        .map(|l| {
            let cols: Vec<&str> = l.split(',').collect();
            WeatherObs {
                time: utc(cols[1]),
                temp_c: cols[2].parse().unwrap(),
                wind_ms: None,
                humidity_pct: None,
                cloud_octas: None,
            }
        })
        .collect();
    (meter, temps)
}

fn entity() -> Entity {
    Entity {
        id: "uk-gas-sample-0".into(),
        tag: "house_id",
        tz: TimeZone::UTC,
        location: None,
        // eemeter regresses on the plain outdoor temperature.
        coefficients: Coefficients {
            wind: 0.0,
            humidity: 0.0,
            solar: 0.0,
        },
        assumed_indoor_c: 21.0,
        poll_interval: SignedDuration::from_mins(5),
    }
}

#[test]
fn daily_fit_agrees_with_eemeter_caltrack_daily() {
    let (meter, weather) = sample();
    let meters = [meter.as_slice()];
    let history = History {
        meters: &meters,
        heating: &[],
        weather: &weather,
    };
    let e = entity();

    let baseline = day_inputs(&e, &history, date(2020, 4, 1), date(2021, 3, 31));
    let cal = calibrate(&baseline, &Settings::default());
    let fit = cal.fit.expect("a heating fit");
    assert_eq!(fit.days_used, EEMETER_DAYS_USED);
    assert!(
        (fit.balance_point_c - EEMETER_BALANCE_POINT_C).abs() < 1e-5,
        "{fit:?}"
    );
    assert!(
        (fit.intercept_kwh_per_day - EEMETER_INTERCEPT_KWH_PER_DAY).abs() < 1e-4,
        "{fit:?}"
    );
    assert!(
        (fit.slope_kwh_per_k_day - EEMETER_SLOPE_KWH_PER_K_DAY).abs() < 1e-4,
        "{fit:?}"
    );
    assert!((fit.r2_adj - EEMETER_R2_ADJ).abs() < 1e-5, "{fit:?}");
    assert!((fit.k_kw_per_k - EEMETER_SLOPE_KWH_PER_K_DAY / 24.0).abs() < 1e-5);

    let reporting = day_inputs(&e, &history, date(2021, 4, 1), date(2022, 3, 31));
    assert_eq!(reporting.len(), 365);
    let predicted: f64 = reporting
        .iter()
        .filter_map(|d| d.effective_temp)
        .map(|t| fit.predict_kwh_per_day(t.mean))
        .sum();
    let off = (predicted - EEMETER_ANNUAL_PREDICTION_KWH).abs() / EEMETER_ANNUAL_PREDICTION_KWH;
    eprintln!(
        "hemflux: {fit:?}, annual {predicted:.3} kWh ({:+.4} % from eemeter)",
        off * 100.0
    );
    assert!(
        off < 0.01,
        "hemflux {predicted:.3} kWh vs eemeter {EEMETER_ANNUAL_PREDICTION_KWH} kWh: {:.3} %",
        off * 100.0
    );
}
