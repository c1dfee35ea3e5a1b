//! From raw readings to one continuous register: replacements continue the old meter's count
//! (V = new − new_start + old_final), a reset (a fall below `reset_ratio` of the previous
//! reading, Home Assistant's rule) restarts counting from zero on top of what was counted, and
//! smaller falls are kept and flagged.

use serde::{Deserialize, Serialize};

use super::calendar::Ts;
use super::definition::{Physical, Swap, Thresholds};
use super::flags::{Flag, FlagKind};

/// A raw reading of a physical meter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub t: Ts,
    pub value: f64,
}

/// A point of the continuous register: the raw reading it came from and its value in the
/// meter's unit. Also what a later run resumes from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub t: Ts,
    pub raw: f64,
    pub value: f64,
}

/// The continuous register from `readings` (any order; for equal instants the last wins),
/// starting after `resume` when given. Readings outside the meter's life are ignored.
pub fn continuous(
    readings: &[Reading],
    meter: &Physical,
    thresholds: &Thresholds,
    resume: Option<Point>,
    flags: &mut Vec<Flag>,
) -> Vec<Point> {
    let mut sorted;
    let mut readings = readings;
    if !readings.is_sorted_by_key(|r| r.t) {
        sorted = readings.to_vec();
        sorted.sort_by_key(|r| r.t); // stable: the last of equal instants stays last
        readings = &sorted;
    }
    let f = meter.reading_factor;
    let after = resume.map_or(i64::MIN, |p| p.t);
    let mut swaps = meter.swaps.iter().filter(|s| s.at > after).peekable();
    let mut out: Vec<Point> = Vec::with_capacity(readings.len() + meter.swaps.len());
    let mut last = resume;
    let mut offset = resume.map_or(0.0, |p| p.value - p.raw * f);
    for (k, r) in readings.iter().enumerate() {
        let duplicate = readings.get(k + 1).is_some_and(|n| n.t == r.t);
        let outside =
            meter.installed.is_some_and(|i| r.t < i) || meter.removed.is_some_and(|e| r.t > e);
        if duplicate || outside || r.t <= after || !r.value.is_finite() {
            continue;
        }
        while let Some(s) = swaps.next_if(|s| s.at <= r.t) {
            let at_swap = continue_at_swap(s, f, &mut offset);
            out.push(at_swap);
            last = Some(at_swap);
        }
        if meter.swaps.iter().any(|s| s.at == r.t) {
            continue; // the fitter's readings at the swap rule
        }
        let mut value = r.value * f + offset;
        if let Some(prev) = last {
            if r.value < prev.raw * thresholds.reset_ratio && prev.raw > 0.0 {
                offset += prev.raw * f;
                value = r.value * f + offset;
                flags.push(Flag::at(
                    r.t,
                    FlagKind::NegativeDelta,
                    format!(
                        "reset: register fell from {} to {}, counted on from zero",
                        prev.raw, r.value
                    ),
                ));
            } else if value < prev.value {
                flags.push(Flag::at(
                    r.t,
                    FlagKind::NegativeDelta,
                    format!("register went back from {} to {}", prev.raw, r.value),
                ));
            } else if let Some(max) = thresholds.max_rate_per_h {
                let hours = (r.t - prev.t) as f64 / 3600.0;
                let rate = (value - prev.value) / hours;
                if rate > max {
                    flags.push(Flag::at(
                        r.t,
                        FlagKind::ImplausibleRate,
                        format!("{rate:.3}/h over {hours:.2} h, more than {max}/h"),
                    ));
                }
            }
        }
        let p = Point {
            t: r.t,
            raw: r.value,
            value,
        };
        out.push(p);
        last = Some(p);
    }
    // Replacements after the last reading still continue the register.
    for s in swaps {
        out.push(continue_at_swap(s, f, &mut offset));
    }
    out
}

/// The register at a replacement: the old meter's final count, from which the new meter's
/// readings (less its `new_start`) count on; `offset` becomes the new meter's.
fn continue_at_swap(s: &Swap, f: f64, offset: &mut f64) -> Point {
    let at_swap = Point {
        t: s.at,
        raw: s.new_start,
        value: s.old_final * f + *offset,
    };
    *offset = at_swap.value - s.new_start * f;
    at_swap
}
