use std::collections::HashMap;
use std::convert::Infallible;

use hemflux_analytics::meters::{
    parse, run, Changes, MeterOutput, MeterSet, Reading, Source, State, Ts, Usage,
};

pub fn set(yaml: &str) -> MeterSet {
    parse(
        Source {
            name: "meters.yaml",
            text: yaml,
        },
        None,
    )
    .unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

/// `2024-01-05T12:00` in UTC, or with an explicit offset.
pub fn ts(s: &str) -> Ts {
    let s = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else if s.ends_with('Z') || s.contains('+') {
        s.to_string()
    } else {
        format!("{s}:00Z")
    };
    s.parse::<jiff::Timestamp>().unwrap().as_second()
}

pub fn readings(pairs: &[(&str, f64)]) -> Vec<Reading> {
    pairs
        .iter()
        .map(|&(t, value)| Reading { t: ts(t), value })
        .collect()
}

pub type Data = HashMap<String, Vec<Reading>>;

/// A run that reads from `data` (only readings after the resume point, as a store would).
pub fn run_on(
    set: &MeterSet,
    state: &mut State,
    data: &Data,
    now: Ts,
    full: bool,
) -> Vec<MeterOutput> {
    run_changes(set, state, data, now, full, &Changes::new())
}

pub fn run_changes(
    set: &MeterSet,
    state: &mut State,
    data: &Data,
    now: Ts,
    full: bool,
    changes: &Changes,
) -> Vec<MeterOutput> {
    run(set, state, now, changes, full, |i, _, after| {
        let all = data.get(&set.meters[i].id).cloned().unwrap_or_default();
        Ok::<_, Infallible>(
            all.into_iter()
                .filter(|r| after.is_none_or(|a| r.t > a))
                .collect(),
        )
    })
    .unwrap()
}

pub fn full(set: &MeterSet, data: &Data, now: Ts) -> (State, Vec<MeterOutput>) {
    let mut state = State::default();
    let out = run_on(set, &mut state, data, now, true);
    (state, out)
}

pub fn meter<'a>(out: &'a [MeterOutput], id: &str) -> &'a MeterOutput {
    out.iter()
        .find(|m| m.meter_id == id)
        .unwrap_or_else(|| panic!("no output for {id}"))
}

pub fn usage<'a>(list: &'a [Usage], label: &str) -> &'a Usage {
    list.iter().find(|u| u.label == label).unwrap_or_else(|| {
        panic!(
            "no {label} in {:?}",
            list.iter().map(|u| &u.label).collect::<Vec<_>>()
        )
    })
}

/// The register of `id` at grid instant `date` (a local midnight).
pub fn register(state: &State, id: &str, date: &str) -> f64 {
    let t = ts(date);
    let s = state.meters[id]
        .register
        .samples
        .iter()
        .find(|s| s.t == t)
        .unwrap_or_else(|| panic!("{id} has no value at {date}"));
    s.value
}

pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[track_caller]
pub fn assert_close(a: f64, b: f64) {
    assert!(close(a, b), "{a} != {b}");
}
