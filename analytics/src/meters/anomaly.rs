//! Flags per meter-day. `spike` and `stuck` compare a day with its class (calendar month ×
//! weekday/weekend) over the meter's whole history, robustly (median and MAD, with CalTRACK's
//! "above Q3 + k·IQR" as a second gate), and only on days measured densely: a day spread
//! evenly between monthly readings cannot spike.

use serde::Serialize;

use super::calendar::{DayGrid, Ts};
use super::definition::Thresholds;
use super::flags::{Flag, FlagKind};
use super::series::{Provenance, RegisterSeries};

/// A flag on a local day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayFlag {
    pub date: String,
    /// The local midnight that starts the day.
    pub start: Ts,
    pub kind: FlagKind,
    pub reason: String,
}

/// What a fall of the register means for this kind of meter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fall {
    /// Already flagged per reading (physical meters).
    FromReadings,
    NegativeDelta,
    NegativeResidual,
}

/// Days between readings at most this far apart count as densely measured.
const DENSE_GAP_DAYS: f32 = 2.0;
/// A class needs this many dense days for `spike` and `stuck`.
const MIN_CLASS: usize = 8;

struct Class {
    median: f64,
    sigma: f64,
    q1: f64,
    q3: f64,
}

fn class_of(grid: &DayGrid, i: usize) -> usize {
    let d = grid.date(i);
    let weekend = matches!(
        d.weekday(),
        jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
    );
    (d.month() as usize - 1) * 2 + usize::from(weekend)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn classes(grid: &DayGrid, usage: &[f64], dense: &[bool]) -> Vec<Option<Class>> {
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); 24];
    for i in (0..usage.len()).filter(|&i| dense[i]) {
        values[class_of(grid, i)].push(usage[i]);
    }
    values
        .into_iter()
        .map(|mut v| {
            if v.len() < MIN_CLASS {
                return None;
            }
            v.sort_by(f64::total_cmp);
            let median = quantile(&v, 0.5);
            let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
            dev.sort_by(f64::total_cmp);
            Some(Class {
                median,
                sigma: 1.4826 * quantile(&dev, 0.5),
                q1: quantile(&v, 0.25),
                q3: quantile(&v, 0.75),
            })
        })
        .collect()
}

/// Flags for days `from..` of one meter: its per-reading flags, falls, estimated and
/// extrapolated days, spikes and stuck runs.
pub fn day_flags(
    grid: &DayGrid,
    reg: &RegisterSeries,
    th: &Thresholds,
    fall: Fall,
    reading_flags: &[Flag],
    from: usize,
) -> Vec<DayFlag> {
    let days = grid.len().saturating_sub(1);
    let s = &reg.samples;
    let usage: Vec<f64> = (0..days).map(|i| s[i + 1].value - s[i].value).collect();
    let dense: Vec<bool> = (0..days)
        .map(|i| {
            usage[i].is_finite()
                && s[i].provenance.max(s[i + 1].provenance) <= Provenance::Linear
                && s[i].gap_days.max(s[i + 1].gap_days) <= DENSE_GAP_DAYS
        })
        .collect();
    let classes = classes(grid, &usage, &dense);
    let mut out = Vec::new();
    let mut flag = |i: usize, kind: FlagKind, reason: String| {
        out.push(DayFlag {
            date: grid.date(i).to_string(),
            start: grid.instants()[i],
            kind,
            reason,
        });
    };
    for f in reading_flags {
        // A reading at midnight closes the day before.
        let i = grid.first_at_or_after(f.t);
        if i > from && i <= days {
            flag(i - 1, f.kind, f.reason.clone());
        }
    }
    let mut zero_run = 0;
    for i in 0..days {
        let c = usage[i];
        let class = classes[class_of(grid, i)].as_ref();
        let expects_use = class.is_some_and(|k| k.median > 0.0);
        zero_run = if dense[i] && c == 0.0 && expects_use {
            zero_run + 1
        } else {
            0
        };
        if i < from || !c.is_finite() {
            continue;
        }
        let scale = s[i].value.abs().max(1.0);
        let falls = c < -1e-9 * scale;
        match fall {
            Fall::NegativeDelta if falls => flag(
                i,
                FlagKind::NegativeDelta,
                format!("the register fell by {:.3}", -c),
            ),
            Fall::NegativeResidual if falls => flag(
                i,
                FlagKind::NegativeResidual,
                format!("sub-meters counted {:.3} more than the main meter", -c),
            ),
            _ => {}
        }
        let provenance = s[i].provenance.max(s[i + 1].provenance);
        let gap = s[i].gap_days.max(s[i + 1].gap_days);
        if provenance == Provenance::Extrapolated {
            flag(
                i,
                FlagKind::Extrapolated,
                "beyond the first or last reading, at the recent rate".into(),
            );
        } else if provenance > Provenance::Measured && f64::from(gap) > th.long_gap_days {
            flag(
                i,
                FlagKind::LongGap,
                format!("estimated between readings {gap:.1} days apart"),
            );
        }
        if let (true, Some(k)) = (dense[i], class) {
            let limit = k.median + th.spike_mad * k.sigma.max(0.1 * k.median.abs());
            let gate = k.q3 + th.spike_iqr * (k.q3 - k.q1);
            if c > limit && c > gate {
                flag(
                    i,
                    FlagKind::Spike,
                    format!(
                        "{c:.3}, usual for the day is {:.3} (limit {:.3})",
                        k.median,
                        limit.max(gate)
                    ),
                );
            }
        }
        if zero_run == th.stuck_days {
            for j in i + 1 - zero_run..=i {
                if j >= from {
                    flag(
                        j,
                        FlagKind::Stuck,
                        format!(
                            "{} days without consumption where the usual is more",
                            th.stuck_days
                        ),
                    );
                }
            }
        } else if zero_run > th.stuck_days {
            flag(
                i,
                FlagKind::Stuck,
                format!("{zero_run} days without consumption where the usual is more"),
            );
        }
    }
    out.sort_by_key(|f| (f.start, f.kind));
    out
}
