//! A run that resumes from the last state gives what a full run gives, reading only what is new.

use std::cell::Cell;
use std::convert::Infallible;

use hemflux_analytics::meters::synth::{readings, Profile};
use hemflux_analytics::meters::{run, Changes, MeterOutput, MeterSet, Reading, State, Ts};

use crate::common::*;

const SET: &str = "timezone: Europe/Berlin
meters:
  - meter_id: house
    type: master
    output_unit: kWh
    periods:
      - {start_date: 2024-01-01, end_date: 2024-02-14, composition_type: sum, source_meters: [ht, nt], source_unit: kWh}
      - {start_date: 2024-02-15, end_date: 9999-12-31, composition_type: single, source_meters: [main], source_unit: kWh, apply_offset_from_previous_period: true}
  - meter_id: common
    type: virtual
    output_unit: kWh
    terms: [{meter: house, coef: 1}, {meter: flat, coef: -1}]
  - {meter_id: ht, type: physical, output_unit: kWh, installation_date: 2024-01-01, deinstallation_date: 2024-02-14}
  - {meter_id: nt, type: physical, output_unit: kWh, installation_date: 2024-01-01, deinstallation_date: 2024-02-14}
  - {meter_id: main, type: physical, output_unit: kWh, installation_date: 2024-02-14}
  - meter_id: flat
    type: physical
    output_unit: kWh
    installation_date: 2024-01-01
    seasonal: [15, 12, 10, 8, 5, 3, 3, 3, 6, 9, 12, 14]
";

fn data(until: Ts) -> Data {
    let dense = Profile {
        per_day: 10.0,
        seasonal: None,
        step: 900,
        gaps: 2,
        resets: 1,
        start_value: 100.0,
    };
    let manual = Profile {
        step: 10 * 86_400 + 3_600,
        gaps: 0,
        resets: 0,
        ..dense
    };
    let life = [
        ("ht", "2024-01-01", "2024-02-14"),
        ("nt", "2024-01-01", "2024-02-14"),
        ("main", "2024-02-14", "2025-01-01"),
        ("flat", "2024-01-01", "2025-01-01"),
    ];
    life.iter()
        .enumerate()
        .map(|(k, (id, a, b))| {
            let profile = if *id == "flat" { manual } else { dense };
            let mut r: Vec<Reading> = readings(k as u64 + 1, ts(a), ts(b), &profile);
            r.retain(|r| r.t < until);
            (id.to_string(), r)
        })
        .collect()
}

fn assert_same(a: &State, b: &State) {
    for (id, m) in &b.meters {
        let x = &a.meters[id].register.samples;
        assert_eq!(x.len(), m.register.samples.len(), "{id}");
        for (s, t) in x.iter().zip(&m.register.samples) {
            assert!(
                s.value.is_nan() && t.value.is_nan() || close(s.value, t.value),
                "{id} at {}: {} vs {}",
                s.t,
                s.value,
                t.value
            );
            assert_eq!(s.provenance, t.provenance, "{id} at {}", s.t);
        }
    }
}

/// Every day whose consumption a full run changed against `before` is among the days the
/// resumed run put out, with the full run's value: what a worker writes is complete.
fn assert_outputs_cover(before: &[MeterOutput], resumed: &[MeterOutput], full: &[MeterOutput]) {
    for f in full {
        let old = meter(before, &f.meter_id);
        let new = meter(resumed, &f.meter_id);
        for day in &f.days {
            let was = old.days.iter().find(|d| d.label == day.label);
            if was.is_some_and(|w| close(w.consumption, day.consumption)) {
                continue;
            }
            let put = new.days.iter().find(|d| d.label == day.label);
            assert!(
                put.is_some_and(|p| close(p.consumption, day.consumption)),
                "{} on {}: full {} (before {:?}), the resumed run put out {:?} (from {:?})",
                f.meter_id,
                day.label,
                day.consumption,
                was.map(|w| w.consumption),
                put.map(|p| p.consumption),
                new.from
            );
        }
    }
}

/// A resumed run; returns how many readings it read of `meter`.
fn counted_run(
    set: &MeterSet,
    state: &mut State,
    data: &Data,
    now: Ts,
    changes: &Changes,
    meter: &str,
) -> (usize, Vec<MeterOutput>) {
    let read = Cell::new(0);
    let out = run(set, state, now, changes, false, |i, _, after| {
        let r: Vec<Reading> = data[&set.meters[i].id]
            .iter()
            .copied()
            .filter(|r| after.is_none_or(|a| r.t > a))
            .collect();
        if set.meters[i].id == meter {
            read.set(r.len());
        }
        Ok::<_, Infallible>(r)
    })
    .unwrap();
    (read.get(), out)
}

#[test]
fn a_nightly_run_reads_one_day_and_matches_a_full_run() {
    let set = set(SET);
    let (mut state, before) = full(&set, &data(ts("2024-06-01T00:00")), ts("2024-06-01T00:30"));
    let next = data(ts("2024-06-02T00:00"));
    let (read, resumed) = counted_run(
        &set,
        &mut state,
        &next,
        ts("2024-06-02T00:30"),
        &Changes::new(),
        "main",
    );
    assert!(read <= 96, "read {read} readings for one new day");
    let (expected, outputs) = full(&set, &next, ts("2024-06-02T00:30"));
    assert_same(&state, &expected);
    assert_outputs_cover(&before, &resumed, &outputs);
}

#[test]
fn a_reading_added_in_the_past_recomputes_from_there_through_master_and_virtual() {
    let set = set(SET);
    let mut d = data(ts("2024-06-01"));
    let (mut state, before) = full(&set, &d, ts("2024-06-01"));
    // A reading typed in by hand for 2024-03-03 12:00, between two of `flat`'s.
    let flat = d.get_mut("flat").unwrap();
    let at = ts("2024-03-03T12:00");
    let pos = flat.partition_point(|r| r.t < at);
    let value = (flat[pos - 1].value + flat[pos].value) / 2.0 + 1.0;
    flat.insert(pos, Reading { t: at, value });
    let changes: Changes = [("flat".to_string(), at)].into();
    let (read, outputs) = counted_run(&set, &mut state, &d, ts("2024-06-01"), &changes, "flat");
    assert!(
        read < d["flat"].len(),
        "re-read {read} of {}",
        d["flat"].len()
    );
    let (expected, full_outputs) = full(&set, &d, ts("2024-06-01"));
    assert_same(&state, &expected);
    assert_outputs_cover(&before, &outputs, &full_outputs);
    let from = meter(&outputs, "common").from.clone().unwrap();
    assert!(
        ("2024-02-20".to_string()..="2024-03-03".to_string()).contains(&from),
        "{from}"
    );
    assert_eq!(meter(&outputs, "ht").from, None, "nothing of ht changed");
}
