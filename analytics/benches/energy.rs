//! `cargo bench -p hemflux-analytics --bench energy`: the energy analytics of 300 houses over one
//! year (5-minute heating rows, hourly energy and weather), on all cores.
//!
//! - full run: daily inputs, one fit over the year, the split of every day, and the records;
//! - daily incremental run: the 08:00 pipeline on the last 30 days (with a refit, the worst case);
//! - forecast: 72 hours of energy forecast.
//!
//! Ten distinct synthetic houses are generated (about 6 MB each) and each stands for 30 of the
//! 300: the work per house is the same, the memory is not multiplied by 30.

use std::time::Instant;

use hemflux_analytics::energy::analysis::{Entity, History, Settings};
use hemflux_analytics::energy::effective::Coefficients;
use hemflux_analytics::energy::forecast::{
    energy_forecast, ForecastInputs, DEFAULT_TIME_CONSTANT_H,
};
use hemflux_analytics::energy::records;
use hemflux_analytics::energy::run::{analyse_range, energy_pipeline, EnergyState};
use hemflux_analytics::energy::synthetic::{self, generate, HouseSpec, SyntheticHouse};
use jiff::civil::date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

const HOUSES: usize = 300;
const DISTINCT: usize = 10;

fn entity(i: usize, spec: &HouseSpec) -> Entity {
    synthetic::entity(&format!("villa_{i}"), Some(spec.location))
}

/// Runs `work` for every house on all cores and returns the seconds taken and the points made.
fn timed(
    houses: &[(Entity, &SyntheticHouse)],
    work: impl Fn(&Entity, &SyntheticHouse) -> usize + Sync,
) -> (f64, usize) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let start = Instant::now();
    let points = std::thread::scope(|s| {
        let handles: Vec<_> = houses
            .chunks(houses.len().div_ceil(threads))
            .map(|chunk| s.spawn(|| chunk.iter().map(|(e, h)| work(e, h)).sum::<usize>()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    (start.elapsed().as_secs_f64(), points)
}

/// The part of a sorted series from `from` on.
fn since<T>(items: &[T], from: Timestamp, time: impl Fn(&T) -> Timestamp) -> &[T] {
    &items[items.partition_point(|x| time(x) < from)..]
}

fn main() {
    let tz = TimeZone::get("Europe/Stockholm").unwrap();
    let (from, to): (Timestamp, Timestamp) = (
        "2025-01-01T00:00:00Z".parse().unwrap(),
        "2026-01-01T00:00:00Z".parse().unwrap(),
    );
    let t0 = Instant::now();
    let specs: Vec<HouseSpec> = (0..DISTINCT)
        .map(|i| HouseSpec {
            k_kw_per_k: 0.06 + 0.01 * i as f64,
            seed: i as u64 + 1,
            ..HouseSpec::default()
        })
        .collect();
    let data: Vec<SyntheticHouse> = specs
        .iter()
        .map(|s| generate(s, &Coefficients::default(), &tz, from, to))
        .collect();
    let houses: Vec<(Entity, &SyntheticHouse)> = (0..HOUSES)
        .map(|i| (entity(i, &specs[i % DISTINCT]), &data[i % DISTINCT]))
        .collect();
    let rows: usize = houses
        .iter()
        .map(|(_, h)| h.heating.len() + h.meter.len() + h.weather.len())
        .sum();
    println!(
        "{HOUSES} houses x 1 year: {rows} rows ({} heating rows/house), generated in {:.1} s",
        data[0].heating.len(),
        t0.elapsed().as_secs_f64()
    );
    let settings = Settings::default();

    let (secs, points) = timed(&houses, |e, h| {
        let meters = h.meters();
        let history = h.history(&meters);
        let a = analyse_range(e, &history, date(2025, 1, 1), date(2025, 12, 31), &settings);
        let now: Timestamp = "2026-01-01T07:00:00Z".parse().unwrap();
        records::energy_separated(e, &a.split).len()
            + records::k_value_history(e, &a.calibration, now)
                .iter()
                .count()
    });
    println!("full run:              {secs:.3} s ({points} points; target < 10 s)");

    let now: Timestamp = "2025-12-31T07:00:00Z".parse().unwrap();
    let window_start = now - SignedDuration::from_hours(24 * 32);
    let (secs, points) = timed(&houses, |e, h| {
        let meter = since(&h.meter, window_start, |x| x.start);
        let meters = [meter];
        let history = History {
            meters: &meters,
            heating: since(&h.heating, window_start, |x| x.time),
            weather: since(&h.weather, window_start, |x| x.time),
        };
        let mut state = EnergyState::default();
        energy_pipeline(e, &history, &mut state, &settings, now)
            .points
            .len()
    });
    println!(
        "daily incremental run: {secs:.3} s ({points} points, every house refitted; target < 1 s)"
    );

    // Forecast from 28 December: the synthetic weather stands in for the forecast to the year's end.
    let now: Timestamp = "2025-12-28T07:00:00Z".parse().unwrap();
    let (secs, points) = timed(&houses, |e, h| {
        let meters = h.meters();
        let history = h.history(&meters);
        let a = analyse_range(
            e,
            &history,
            date(2025, 11, 27),
            date(2025, 12, 27),
            &settings,
        );
        let Ok(fit) = &a.calibration.fit else {
            return 0;
        };
        let inputs = ForecastInputs {
            now,
            hours: 72,
            indoor_now_c: 21.0,
            target_indoor_c: 21.0,
            time_constant_h: DEFAULT_TIME_CONSTANT_H,
        };
        energy_forecast(
            fit,
            since(&h.weather, now, |x| x.time),
            e.location,
            &e.coefficients,
            &inputs,
        )
        .len()
    });
    println!("fit + 72 h forecast:   {secs:.3} s ({points} forecast hours)");
}
