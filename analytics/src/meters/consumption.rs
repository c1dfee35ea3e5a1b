//! Consumption per day, month and year: differences of one register at local midnights, so
//! days add up to their month and months to their year. Falls are kept, not clipped.

use serde::Serialize;

use super::calendar::{DayGrid, Period, Ts};
use super::series::{Provenance, RegisterSeries};

/// A day, month or year of one meter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    /// `2024-01-31`, `2024-01` or `2024`.
    pub label: String,
    /// The local midnight that starts it (clipped to the meter's values).
    pub start: Ts,
    /// The local midnight that ends it.
    pub end: Ts,
    /// The register at `end`.
    pub value: f64,
    /// V(end) − V(start).
    pub consumption: f64,
    /// The worst provenance of the two ends.
    pub provenance: Provenance,
}

/// Days `from..` of the grid that have a value at both ends.
pub fn days(grid: &DayGrid, reg: &RegisterSeries, from: usize) -> Vec<Usage> {
    (from..grid.len().saturating_sub(1))
        .filter_map(|i| usage(grid, reg, i, i + 1, grid.date(i).to_string()))
        .collect()
}

/// Months or years (as `periods`) that end after grid index `from`, clipped to where the
/// meter has values.
pub fn periods(
    grid: &DayGrid,
    reg: &RegisterSeries,
    periods: &[Period],
    from: usize,
) -> Vec<Usage> {
    periods
        .iter()
        .filter(|p| p.to > from)
        .filter_map(|p| {
            let known = |i: &usize| reg.value(*i).is_finite();
            let a = (p.from..=p.to).find(known)?;
            let b = (p.from..=p.to).rev().find(known)?;
            (b > a)
                .then(|| usage(grid, reg, a, b, p.label.clone()))
                .flatten()
        })
        .collect()
}

fn usage(grid: &DayGrid, reg: &RegisterSeries, a: usize, b: usize, label: String) -> Option<Usage> {
    let (sa, sb) = (reg.samples.get(a)?, reg.samples.get(b)?);
    let consumption = sb.value - sa.value;
    consumption.is_finite().then(|| Usage {
        label,
        start: grid.instants()[a],
        end: grid.instants()[b],
        value: sb.value,
        consumption,
        provenance: sa.provenance.max(sb.provenance),
    })
}
