use super::*;

fn stockholm() -> TimeZone {
    TimeZone::get("Europe/Stockholm").unwrap()
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn date(s: &str) -> Date {
    s.parse().unwrap()
}

#[test]
fn fixture_d4_hours_are_labelled_with_their_swedish_date() {
    let tz = stockholm();
    assert_eq!(
        local_date(at("2026-01-15T23:00:00Z"), &tz),
        date("2026-01-16")
    );
    assert_eq!(
        label_instant(date("2026-01-16")),
        at("2026-01-16T00:00:00Z")
    );
    assert_eq!(
        local_date(at("2026-07-15T22:00:00Z"), &tz),
        date("2026-07-16")
    );
    assert_eq!(
        local_date(at("2026-07-15T21:59:59Z"), &tz),
        date("2026-07-15")
    );
}

#[test]
fn fixture_d4_spring_day_has_23_hours_and_autumn_day_25() {
    let tz = stockholm();
    let days = LocalDays::between(&tz, date("2026-03-28"), date("2026-03-30"));
    assert_eq!(
        (days.hours(0), days.hours(1), days.hours(2)),
        (24.0, 23.0, 24.0)
    );
    assert_eq!(
        (days.start(1), days.end(1)),
        (at("2026-03-28T23:00:00Z"), at("2026-03-29T22:00:00Z"))
    );
    assert_eq!(days.metered_hours(1), 23, "28T23Z..29T21Z");
    let days = LocalDays::between(&tz, date("2026-10-25"), date("2026-10-25"));
    assert_eq!(
        (days.start(0), days.end(0)),
        (at("2026-10-24T22:00:00Z"), at("2026-10-25T23:00:00Z"))
    );
    assert_eq!((days.hours(0), days.metered_hours(0)), (25.0, 25));
}

fn hours(from: &str, n: i64, kwh: f64) -> Vec<HourlyEnergy> {
    (0..n)
        .map(|h| HourlyEnergy {
            start: at(from) + jiff::SignedDuration::from_hours(h),
            kwh,
        })
        .collect()
}

#[test]
fn a_25_hour_day_is_complete_with_25_readings_and_sums_them_all() {
    let tz = stockholm();
    let days = LocalDays::between(&tz, date("2026-10-24"), date("2026-10-26"));
    let meter = hours("2026-10-23T22:00:00Z", 24 + 25 + 24, 1.0);
    let e = daily_energy(&days, &[&meter]);
    assert_eq!(
        e.iter().map(|d| d.kwh).collect::<Vec<_>>(),
        vec![24.0, 25.0, 24.0]
    );
    assert!(e.iter().all(DayEnergy::complete));
}

#[test]
fn a_missing_hour_or_a_missing_meter_hour_makes_the_day_incomplete() {
    let tz = stockholm();
    let days = LocalDays::between(&tz, date("2026-03-29"), date("2026-03-29"));
    let full = hours("2026-03-28T23:00:00Z", 23, 2.0);
    assert!(daily_energy(&days, &[&full])[0].complete());
    let mut holed = full.clone();
    holed.remove(5);
    let e = daily_energy(&days, &[&holed])[0];
    assert!(!e.complete());
    assert_eq!((e.hours_present, e.hours_expected), (22, 23));
    // Two meters: the day is complete only if both are; their energy is summed.
    let e = daily_energy(&days, &[&full, &holed])[0];
    assert!(!e.complete());
    assert_eq!(e.kwh, 46.0 + 44.0);
    assert!(
        !daily_energy(&days, &[])[0].complete(),
        "no meter, no complete day"
    );
}

#[test]
fn bad_and_repeated_readings() {
    let tz = TimeZone::UTC;
    let days = LocalDays::between(&tz, date("2026-01-01"), date("2026-01-01"));
    let mut m = hours("2026-01-01T00:00:00Z", 24, 1.0);
    m[3].kwh = f64::NAN;
    m.insert(
        8,
        HourlyEnergy {
            start: m[7].start,
            kwh: 5.0,
        },
    ); // a correction of hour 7
    let e = daily_energy(&days, &[&m])[0];
    // 23 good hours of 1 kWh, hour 7 corrected from 1 to 5 kWh.
    assert_eq!((e.hours_present, e.kwh), (23, 23.0 - 1.0 + 5.0));
}

#[test]
fn daily_means_report_their_coverage() {
    let tz = TimeZone::UTC;
    let days = LocalDays::between(&tz, date("2026-01-01"), date("2026-01-02"));
    let temps: Vec<(Timestamp, f64)> = (0..12)
        .map(|h| {
            (
                at("2026-01-01T00:00:00Z") + jiff::SignedDuration::from_hours(h),
                h as f64,
            )
        })
        .collect();
    let m = daily_means(&days, &temps);
    assert_eq!(
        m[0],
        Some(DayMean {
            mean: 5.5,
            coverage: 0.5
        })
    );
    assert_eq!(m[1], None);
}

#[test]
fn index_of_finds_the_day() {
    let days = LocalDays::between(&stockholm(), date("2026-01-15"), date("2026-01-16"));
    assert_eq!(days.index_of(at("2026-01-15T23:00:00Z")), Some(1));
    assert_eq!(days.index_of(at("2026-01-14T23:00:00Z")), Some(0));
    assert_eq!(days.index_of(at("2026-01-14T22:59:59Z")), None);
    assert_eq!(days.index_of(at("2026-01-16T23:00:00Z")), None);
}
