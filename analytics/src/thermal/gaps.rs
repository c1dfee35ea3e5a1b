//! Gaps in a series (§8): the seed's rule, and the cadence fix of §11.8. A gap is an interval
//! longer than twice the interval (strictly) from the range's start to the first point, between
//! points, and from the last point to the range's end; no points make the whole range one gap.
//! The seed used the house's 5-min poll interval for hourly weather too, so every hour was a gap,
//! forever; [`find_gaps_at_cadence`] takes the series' own spacing when it is coarser.

use jiff::{SignedDuration, Timestamp};

/// The seed's rule with a fixed `interval`.
pub fn find_gaps(
    times: &[Timestamp],
    start: Timestamp,
    end: Timestamp,
    interval: SignedDuration,
) -> Vec<(Timestamp, Timestamp)> {
    let mut points: Vec<Timestamp> = times
        .iter()
        .copied()
        .filter(|t| (start..=end).contains(t))
        .collect();
    points.sort();
    points.dedup();
    let limit = interval * 2;
    let mut edges = Vec::with_capacity(points.len() + 2);
    edges.push(start);
    edges.extend(points);
    edges.push(end);
    edges
        .windows(2)
        .filter(|w| w[1].duration_since(w[0]) > limit)
        .map(|w| (w[0], w[1]))
        .collect()
}

/// The median spacing of the distinct points; `None` with fewer than two.
pub fn source_cadence(times: &[Timestamp]) -> Option<SignedDuration> {
    let mut points = times.to_vec();
    points.sort();
    points.dedup();
    let mut steps: Vec<SignedDuration> = points
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .collect();
    steps.sort();
    steps.get(steps.len().checked_sub(1)? / 2).copied()
}

/// [`find_gaps`] with the coarser of `nominal` and the series' own cadence.
pub fn find_gaps_at_cadence(
    times: &[Timestamp],
    start: Timestamp,
    end: Timestamp,
    nominal: SignedDuration,
) -> Vec<(Timestamp, Timestamp)> {
    let interval = source_cadence(times).map_or(nominal, |cadence| cadence.max(nominal));
    find_gaps(times, start, end, interval)
}
