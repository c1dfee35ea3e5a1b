//! Fewer points for a long range: per pixel bucket, the minimum and the maximum of each field,
//! so a year of 5-minute data (105,120 points) draws as ~2 points per pixel with every peak and
//! trough still visible.

use std::ops::Range;

/// Columns sharing one time axis: `x` in nanoseconds, `ys[field][row]`.
pub struct Columns {
    pub x: Vec<i64>,
    pub ys: Vec<Vec<Option<f64>>>,
}

/// At most two rows per bucket of `[x.first, x.last]` split into `buckets`: the first row carries
/// each field's minimum in the bucket, the second its maximum (at the bucket's first and last
/// times). Input with no more than `2 * buckets` rows is returned as it is.
pub fn min_max(input: Columns, buckets: usize) -> Columns {
    let n = input.x.len();
    if buckets == 0 || n <= 2 * buckets {
        return input;
    }
    let fields = input.ys.len();
    let mut out = Columns {
        x: Vec::with_capacity(2 * buckets),
        ys: vec![Vec::with_capacity(2 * buckets); fields],
    };
    for Range { start, end } in bucket_runs(&input.x, buckets) {
        out.x.push(input.x[start]);
        if end - start > 1 {
            out.x.push(input.x[end - 1]);
        }
        for (col, ys) in input.ys.iter().enumerate() {
            let values = ys[start..end].iter().flatten().copied();
            let (lo, hi) = values.fold((None, None), |(lo, hi): (Option<f64>, Option<f64>), v| {
                (
                    Some(lo.map_or(v, |l| l.min(v))),
                    Some(hi.map_or(v, |h| h.max(v))),
                )
            });
            out.ys[col].push(lo);
            if end - start > 1 {
                out.ys[col].push(hi);
            }
        }
    }
    out
}

/// For bars: at most one row per bucket, at the bucket's first time, with the sum of each
/// `summed` column and the maximum of the others (markers). Input with no more than `buckets`
/// rows is returned as it is.
pub fn sums(input: Columns, buckets: usize, summed: &[bool]) -> Columns {
    let n = input.x.len();
    if buckets == 0 || n <= buckets {
        return input;
    }
    let mut out = Columns {
        x: Vec::with_capacity(buckets),
        ys: vec![Vec::with_capacity(buckets); input.ys.len()],
    };
    for Range { start, end } in bucket_runs(&input.x, buckets) {
        out.x.push(input.x[start]);
        for (col, ys) in input.ys.iter().enumerate() {
            let values = ys[start..end].iter().flatten().copied();
            let merged = if summed.get(col).copied().unwrap_or(true) {
                values.reduce(|a, b| a + b)
            } else {
                values.reduce(f64::max)
            };
            out.ys[col].push(merged);
        }
    }
    out
}

/// The runs of rows of `x` (in time order, not empty) that fall in the same one of `buckets`
/// (at least 1) equal parts of `[x.first, x.last]`.
fn bucket_runs(x: &[i64], buckets: usize) -> impl Iterator<Item = Range<usize>> + '_ {
    let (first, last) = (x[0], x[x.len() - 1]);
    let span = (last - first).max(1) as f64;
    let bucket_of =
        move |t: i64| (((t - first) as f64 / span * buckets as f64) as usize).min(buckets - 1);
    let mut start = 0;
    std::iter::from_fn(move || {
        let b = bucket_of(*x.get(start)?);
        let end = start
            + x[start..]
                .iter()
                .take_while(|&&t| bucket_of(t) == b)
                .count();
        Some(std::mem::replace(&mut start, end)..end)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(n: usize) -> Columns {
        let x: Vec<i64> = (0..n as i64).map(|i| i * 300_000_000_000).collect();
        let a = (0..n)
            .map(|i| Some(((i as f64) / 50.0).sin() * 10.0))
            .collect();
        let b = (0..n).map(|i| (i % 7 != 0).then_some(i as f64)).collect();
        Columns { x, ys: vec![a, b] }
    }

    #[test]
    fn short_input_is_untouched() {
        let c = min_max(columns(100), 50);
        assert_eq!(c.x.len(), 100);
    }

    #[test]
    fn a_year_of_five_minutes_keeps_the_extremes() {
        let input = columns(105_120);
        let (min_a, max_a) = input.ys[0]
            .iter()
            .flatten()
            .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
        let max_b = input.ys[1]
            .iter()
            .flatten()
            .fold(f64::MIN, |h, v| h.max(*v));
        let out = min_max(input, 1000);
        assert!(
            out.x.len() <= 2000 && out.x.len() >= 1990,
            "{}",
            out.x.len()
        );
        assert!(out.x.windows(2).all(|w| w[0] <= w[1]), "time order kept");
        assert!(out.ys.iter().all(|y| y.len() == out.x.len()));
        let got = |col: usize| out.ys[col].iter().flatten().copied();
        assert_eq!(got(0).fold(f64::MAX, f64::min), min_a);
        assert_eq!(got(0).fold(f64::MIN, f64::max), max_a);
        assert_eq!(got(1).fold(f64::MIN, f64::max), max_b);
    }

    #[test]
    fn bars_are_summed_per_bucket_and_markers_keep_their_maximum() {
        let input = Columns {
            x: (0..10).collect(),
            ys: vec![
                (0..10).map(|i| Some(i as f64)).collect(),
                (0..10).map(|i| (i == 3).then_some(7.0)).collect(),
            ],
        };
        let out = sums(input, 2, &[true, false]);
        assert_eq!(out.x, [0, 5]);
        assert_eq!(out.ys[0], [Some(10.0), Some(35.0)]);
        assert_eq!(out.ys[1], [Some(7.0), None]);
        let short = sums(columns(5), 10, &[true, true]);
        assert_eq!(short.x.len(), 5);
    }

    #[test]
    fn a_bucket_with_only_gaps_stays_a_gap() {
        let input = Columns {
            x: (0..10).collect(),
            ys: vec![(0..10).map(|i| (i >= 5).then_some(i as f64)).collect()],
        };
        let out = min_max(input, 2);
        assert_eq!(out.ys[0], [None, None, Some(5.0), Some(9.0)]);
    }
}
