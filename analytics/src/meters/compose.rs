//! Masters and virtual meters, composed from their sources' registers on the day grid (never
//! from coarse series): a master continues the previous period's count across a swap, a
//! virtual meter is Σ coef·V and may fall (reported, not clipped). A missing source makes the
//! point missing, not smaller.

use super::calendar::Ts;
use super::definition::{Kind, Master, MeterSet, Virtual};
use super::series::{RegisterSeries, Sample};

/// Registers of every meter so far, and a physical meter's value at an extra instant.
pub trait Registers {
    fn series(&self, meter: usize) -> &RegisterSeries;
    fn at(&self, meter: usize, t: Ts) -> f64;
}

/// Σ factor·sample over `terms` at grid index `i`: NaN if any is missing.
fn combine(regs: &impl Registers, terms: &[(usize, f64)], i: usize, t: Ts, offset: f64) -> Sample {
    let mut out = Sample {
        t,
        value: offset,
        provenance: super::series::Provenance::Measured,
        gap_days: 0.0,
    };
    for &(m, f) in terms {
        let s = regs
            .series(m)
            .samples
            .get(i)
            .copied()
            .unwrap_or(Sample::missing(t));
        out.value += f * s.value;
        out.provenance = out.provenance.max(s.provenance);
        out.gap_days = out.gap_days.max(s.gap_days);
    }
    out
}

pub fn master(set: &MeterSet, ms: &Master, grid: &[Ts], regs: &impl Registers) -> RegisterSeries {
    let mut offsets = Vec::with_capacity(ms.periods.len());
    for (k, p) in ms.periods.iter().enumerate() {
        let offset = match (k, p.continue_register) {
            (0, _) | (_, false) => 0.0,
            _ => {
                let prev = &ms.periods[k - 1];
                let (old, new) = p.swap_readings.unwrap_or_else(|| {
                    let side = |sources: &[(usize, f64)], pick: fn(Ts, &Kind) -> Ts| {
                        sources
                            .iter()
                            .map(|&(m, f)| f * regs.at(m, pick(p.from, &set.meters[m].kind)))
                            .sum::<f64>()
                    };
                    (
                        side(&prev.sources, old_side_instant),
                        side(&p.sources, new_side_instant),
                    )
                });
                offsets[k - 1] + old - new
            }
        };
        offsets.push(offset);
    }
    let samples = grid
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let period = ms.periods.iter().rposition(|p| p.from <= t);
            match period {
                Some(k) if ms.periods[k].until.is_none_or(|u| t <= u) => {
                    combine(regs, &ms.periods[k].sources, i, t, offsets[k])
                }
                _ => Sample::missing(t),
            }
        })
        .collect();
    RegisterSeries { samples }
}

/// Where an old meter's register is read at a swap: at the swap, or at its removal if earlier.
pub fn old_side_instant(swap: Ts, kind: &Kind) -> Ts {
    match kind {
        Kind::Physical(p) => p.removed.map_or(swap, |r| r.min(swap)),
        _ => swap,
    }
}

/// Where a new meter's register is read at a swap: at the swap, or at its installation if later.
pub fn new_side_instant(swap: Ts, kind: &Kind) -> Ts {
    match kind {
        Kind::Physical(p) => p.installed.map_or(swap, |i| i.max(swap)),
        _ => swap,
    }
}

pub fn virtual_meter(v: &Virtual, grid: &[Ts], regs: &impl Registers) -> RegisterSeries {
    let samples = grid
        .iter()
        .enumerate()
        .map(|(i, &t)| combine(regs, &v.terms, i, t, 0.0))
        .collect();
    RegisterSeries { samples }
}

/// The instants at which physical meter `m` must be known for the masters built on it.
pub fn extra_instants(set: &MeterSet, m: usize) -> Vec<Ts> {
    let mut out = Vec::new();
    for meter in &set.meters {
        let Kind::Master(ms) = &meter.kind else {
            continue;
        };
        for (k, p) in ms.periods.iter().enumerate().skip(1) {
            if !p.continue_register || p.swap_readings.is_some() {
                continue;
            }
            if ms.periods[k - 1].sources.iter().any(|s| s.0 == m) {
                out.push(old_side_instant(p.from, &set.meters[m].kind));
            }
            if p.sources.iter().any(|s| s.0 == m) {
                out.push(new_side_instant(p.from, &set.meters[m].kind));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}
