//! Properties over random readings (UTC days and Europe/Berlin days).

use hemflux_analytics::meters::{midnight, Reading, State};
use proptest::prelude::*;

use crate::common::*;

/// Increasing readings at random hours of 2023, some at local midnights of `zone`.
fn readings(zone: &'static str) -> impl Strategy<Value = Vec<Reading>> {
    let tz = jiff::tz::TimeZone::get(zone).unwrap();
    prop::collection::vec((0i64..365 * 24, 0.0f64..50.0, any::<bool>()), 2..40).prop_map(
        move |mut v| {
            v.sort_by_key(|x| x.0);
            v.dedup_by_key(|x| x.0 / 24);
            let first = jiff::civil::date(2023, 1, 1);
            let mut value = 1000.0;
            v.into_iter()
                .map(|(h, inc, at_midnight)| {
                    value += inc;
                    let day = midnight(
                        first.checked_add(jiff::Span::new().days(h / 24)).unwrap(),
                        &tz,
                    );
                    let t = if at_midnight {
                        day
                    } else {
                        day + h % 24 * 3600 + 1
                    };
                    Reading { t, value }
                })
                .collect()
        },
    )
}

fn zone() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("UTC"), Just("Europe/Berlin")]
}

fn one_meter(zone: &str, pattern: Option<&str>) -> hemflux_analytics::meters::MeterSet {
    let seasonal = pattern.map_or(String::new(), |p| format!("\n    seasonal: [{p}]"));
    set(&format!("timezone: {zone}\nmeters:\n  - meter_id: m\n    type: physical\n    output_unit: kWh\n    installation_date: 2023-01-01{seasonal}\n"))
}

fn run_one(
    set: &hemflux_analytics::meters::MeterSet,
    r: &[Reading],
) -> (State, Vec<hemflux_analytics::meters::MeterOutput>) {
    let data: Data = [("m".to_string(), r.to_vec())].into();
    full(set, &data, ts("2024-01-01"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Between any two readings that fall on midnights, the days' consumption adds up to the
    /// difference of the readings, and the register is exact at every reading.
    #[test]
    fn consumption_between_readings_is_their_difference((zone, r) in zone().prop_flat_map(|z| (Just(z), readings(z)))) {
        let set = one_meter(zone, Some("15,12,10,8,5,3,3,3,6,9,12,14"));
        let (state, out) = run_one(&set, &r);
        let samples = &state.meters["m"].register.samples;
        let at_midnight: Vec<(usize, f64)> = r.iter().filter_map(|x| samples.iter().position(|s| s.t == x.t).map(|i| (i, x.value))).collect();
        for &(i, v) in &at_midnight {
            prop_assert!(close(samples[i].value, v));
        }
        let days = &out[0].days;
        for w in at_midnight.windows(2) {
            let (a, b) = (w[0], w[1]);
            let sum: f64 = days[a.0..b.0].iter().map(|d| d.consumption).sum();
            prop_assert!((sum - (b.1 - a.1)).abs() < 1e-7, "{sum} vs {}", b.1 - a.1);
        }
    }

    /// Shares in proportion to month lengths mean the same use every day: seasonal filling is
    /// then linear interpolation (2023 has no 29 February).
    #[test]
    fn a_flat_pattern_is_linear(r in readings("UTC")) {
        let flat = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31].map(|d| (d as f64 * 100.0 / 365.0).to_string()).join(",");
        let (with, _) = run_one(&one_meter("UTC", Some(&flat)), &r);
        let (without, _) = run_one(&one_meter("UTC", None), &r);
        let (a, b) = (&with.meters["m"].register.samples, &without.meters["m"].register.samples);
        for (x, y) in a.iter().zip(b) {
            prop_assert!((x.value - y.value).abs() < 1e-6 * y.value.abs().max(1.0), "{} vs {} at {}", x.value, y.value, x.t);
        }
    }

    /// Days add up to their month and months to their year, DST days included.
    #[test]
    fn days_add_up_to_months_and_months_to_years((zone, r) in zone().prop_flat_map(|z| (Just(z), readings(z)))) {
        let set = one_meter(zone, None);
        let (_, out) = run_one(&set, &r);
        let m = &out[0];
        for month in &m.months {
            let sum: f64 = m.days.iter().filter(|d| d.start >= month.start && d.end <= month.end).map(|d| d.consumption).sum();
            prop_assert!((sum - month.consumption).abs() < 1e-7, "{}: {sum} vs {}", month.label, month.consumption);
        }
        let year = &m.years[0];
        let sum: f64 = m.months.iter().map(|x| x.consumption).sum();
        prop_assert!((sum - year.consumption).abs() < 1e-7);
        prop_assert!(m.days.iter().all(|d| d.consumption >= -1e-9), "registers only rise here");
    }
}
