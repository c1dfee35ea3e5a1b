//! Hot-water use seen in the tap temperature (heating.md §5 step 1 and the DHW counters of step 3),
//! and the split of the non-heating energy into hot water and base load.

use jiff::Timestamp;

use super::regression::Ols;

/// One heating-system sample (5-minute polls for houses): what the split needs of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeatingRow {
    pub time: Timestamp,
    pub indoor_c: Option<f64>,
    pub hot_water_c: Option<f64>,
}

/// Degrees above the tap baseline that mean hot water is running (the seed's +5).
pub const DHW_RISE_C: f64 = 5.0;

/// The tap temperature above which hot water is running: the 25th percentile of the non-zero
/// readings (the seed's `sorted(...)[n//4]`) plus 5 °C. `None` without readings.
pub fn dhw_threshold_c(rows: &[HeatingRow]) -> Option<f64> {
    let mut temps: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.hot_water_c)
        .filter(|t| *t != 0.0 && t.is_finite())
        .collect();
    if temps.is_empty() {
        return None;
    }
    let i = temps.len() / 4;
    let (_, p25, _) = temps.select_nth_unstable_by(i, f64::total_cmp);
    Some(*p25 + DHW_RISE_C)
}

/// What one day's heating rows say.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DayRows {
    pub rows: usize,
    pub mean_indoor_c: Option<f64>,
    /// Cold-to-hot steps of the tap temperature.
    pub dhw_events: u32,
    /// Rows above the threshold times the sample interval.
    pub dhw_minutes: f64,
}

/// Counts one day's rows (sorted by time); `sample_minutes` is the entity's poll interval.
pub fn day_rows(rows: &[HeatingRow], threshold_c: Option<f64>, sample_minutes: f64) -> DayRows {
    let (mut indoor_sum, mut indoor_n) = (0.0, 0usize);
    let (mut events, mut hot_rows, mut was_hot) = (0u32, 0usize, None::<bool>);
    for r in rows {
        if let Some(t) = r.indoor_c {
            indoor_sum += t;
            indoor_n += 1;
        }
        if let (Some(thr), Some(t)) = (threshold_c, r.hot_water_c) {
            let hot = t > thr;
            if hot {
                hot_rows += 1;
                if was_hot == Some(false) {
                    events += 1;
                }
            }
            was_hot = Some(hot);
        }
    }
    DayRows {
        rows: rows.len(),
        mean_indoor_c: (indoor_n > 0).then(|| indoor_sum / indoor_n as f64),
        dhw_events: events,
        dhw_minutes: hot_rows as f64 * sample_minutes,
    }
}

/// The non-heating energy of a day is hot water plus a base load (circulation and standing losses):
/// `rest = base + rate·dhw_minutes`, fitted by least squares over the days of the fit.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HotWaterModel {
    pub base_kwh_per_day: f64,
    pub kwh_per_dhw_minute: f64,
}

/// Fits the model on `(dhw_minutes, rest_kwh)` per 24 hours. `None` (all of the rest is then hot
/// water, the seed's rule) when the tap minutes do not explain the rest: no spread, or a slope
/// that is not positive.
pub fn fit_hot_water(days: &[(f64, f64)]) -> Option<HotWaterModel> {
    let ols = Ols::fit(days.iter().copied())?;
    if ols.slope <= 0.0 {
        return None;
    }
    if ols.intercept >= 0.0 {
        return Some(HotWaterModel {
            base_kwh_per_day: ols.intercept,
            kwh_per_dhw_minute: ols.slope,
        });
    }
    // A negative base load is not physical: fit through the origin instead.
    let (sxy, sxx) = days
        .iter()
        .fold((0.0, 0.0), |(sxy, sxx), (x, y)| (sxy + x * y, sxx + x * x));
    Some(HotWaterModel {
        base_kwh_per_day: 0.0,
        kwh_per_dhw_minute: sxy / sxx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(minute: i64, hot_water_c: f64) -> HeatingRow {
        HeatingRow {
            time: Timestamp::from_second(minute * 60).unwrap(),
            indoor_c: Some(21.0),
            hot_water_c: Some(hot_water_c),
        }
    }

    #[test]
    fn fixture_d5_two_runs_of_hot_water_are_two_events_and_90_minutes() {
        // 96 rows of 15 minutes at 30 °C, with runs of 4 and 2 rows at 50 °C.
        let rows: Vec<HeatingRow> = (0..96)
            .map(|i| {
                row(
                    i * 15,
                    if (20..24).contains(&i) || (60..62).contains(&i) {
                        50.0
                    } else {
                        30.0
                    },
                )
            })
            .collect();
        let thr = dhw_threshold_c(&rows).unwrap();
        assert_eq!(thr, 35.0, "baseline 30 (P25) + 5");
        let d = day_rows(&rows, Some(thr), 15.0);
        assert_eq!((d.dhw_events, d.dhw_minutes, d.rows), (2, 90.0, 96));
        assert_eq!(d.mean_indoor_c, Some(21.0));
    }

    #[test]
    fn zero_readings_do_not_count_towards_the_baseline() {
        let rows = vec![row(0, 0.0), row(5, 0.0), row(10, 0.0), row(15, 40.0)];
        assert_eq!(dhw_threshold_c(&rows), Some(45.0));
        assert_eq!(dhw_threshold_c(&[]), None);
    }

    #[test]
    fn the_rest_splits_into_base_load_and_hot_water_by_tap_minutes() {
        // 3 kWh/day base, 0.2 kWh per tap minute.
        let days: Vec<(f64, f64)> = (0..20)
            .map(|i| (i as f64 * 3.0, 3.0 + 0.2 * i as f64 * 3.0))
            .collect();
        let m = fit_hot_water(&days).unwrap();
        assert!(
            (m.base_kwh_per_day - 3.0).abs() < 1e-9 && (m.kwh_per_dhw_minute - 0.2).abs() < 1e-9
        );
        // Constant tap minutes explain nothing.
        assert_eq!(
            fit_hot_water(&[(10.0, 5.0), (10.0, 6.0), (10.0, 7.0)]),
            None
        );
        // A fit with a negative intercept goes through the origin.
        let m = fit_hot_water(&[(10.0, 1.0), (20.0, 4.0), (30.0, 7.0)]).unwrap();
        assert_eq!(m.base_kwh_per_day, 0.0);
        assert!(m.kwh_per_dhw_minute > 0.0);
    }
}
