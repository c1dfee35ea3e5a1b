//! The continuous register at given instants (the day grid, swap instants) in one pass over the
//! readings: exact at a reading, linear or seasonal between two, extrapolated beyond them at
//! the recent rate (never falling).

use jiff::tz::TimeZone;

use super::calendar::Ts;
use super::definition::Interpolation;
use super::pattern::Pattern;
use super::register::Point;
use super::series::{Provenance, Sample};

const DAY: f64 = 86_400.0;

pub struct Resampler<'a> {
    pub pattern: Option<&'a Pattern>,
    pub settings: Interpolation,
    pub tz: &'a TimeZone,
}

/// A value at a target instant, and the reading at or before it (where a later run resumes).
pub struct Resampled {
    pub sample: Sample,
    pub left: Option<Point>,
}

impl Resampler<'_> {
    /// `targets` sorted; `points` sorted, all after `resume`. `rate_basis` gives the register
    /// at a target instant already known (the extrapolation rate is measured against it).
    pub fn run(
        &self,
        targets: &[Ts],
        points: &[Point],
        resume: Option<Point>,
        rate_basis: impl Fn(Ts) -> Option<(Ts, f64)>,
    ) -> Vec<Resampled> {
        let mut out: Vec<Resampled> = Vec::with_capacity(targets.len());
        let mut left = resume;
        let mut next = 0;
        for &t in targets {
            while next < points.len() && points[next].t <= t {
                left = Some(points[next]);
                next += 1;
            }
            let sample = match (left, points.get(next)) {
                (Some(l), _) if l.t == t => Sample {
                    t,
                    value: l.value,
                    provenance: Provenance::Measured,
                    gap_days: 0.0,
                },
                (Some(l), Some(r)) => self.between(l, *r, t),
                _ => Sample::missing(t), // beyond the readings: filled below
            };
            out.push(Resampled { sample, left });
        }
        self.extrapolate_tail(&mut out, left, &rate_basis);
        out
    }

    fn between(&self, l: Point, r: Point, t: Ts) -> Sample {
        let gap_days = (r.t - l.t) as f64 / DAY;
        let (share, provenance) = match self.pattern {
            Some(p) if gap_days >= self.settings.seasonal_min_gap_days => {
                let wl = p.cumulative(l.t, self.tz);
                let share = (p.cumulative(t, self.tz) - wl) / (p.cumulative(r.t, self.tz) - wl);
                (share, Provenance::Seasonal)
            }
            _ => ((t - l.t) as f64 / (r.t - l.t) as f64, Provenance::Linear),
        };
        Sample {
            t,
            value: l.value + (r.value - l.value) * share,
            provenance,
            gap_days: gap_days as f32,
        }
    }

    /// Progress of "time" from `a` to `b`: calendar time, or pattern weight with a pattern.
    fn progress(&self, a: Ts, b: Ts) -> f64 {
        match self.pattern {
            Some(p) => p.cumulative(b, self.tz) - p.cumulative(a, self.tz),
            None => (b - a) as f64 / DAY,
        }
    }

    /// Targets after the last reading continue at the rate of the last `basis` days.
    fn extrapolate_tail(
        &self,
        out: &mut [Resampled],
        last: Option<Point>,
        rate_basis: &impl Fn(Ts) -> Option<(Ts, f64)>,
    ) {
        let Some(last) = last else { return };
        let basis_start = last.t - (self.settings.extrapolation_basis_days * DAY) as i64;
        let from_targets = out
            .iter()
            .rev()
            .map(|r| &r.sample)
            .find(|s| {
                s.t <= basis_start
                    && s.value.is_finite()
                    && s.provenance != Provenance::Extrapolated
            })
            .map(|s| (s.t, s.value));
        let rate = from_targets
            .or_else(|| rate_basis(basis_start))
            .map_or(0.0, |(t, v)| self.rate(t, v, last.t, last.value));
        for r in out.iter_mut().filter(|r| r.sample.t > last.t) {
            let value = last.value + rate * self.progress(last.t, r.sample.t);
            r.sample = Sample {
                t: r.sample.t,
                value,
                provenance: Provenance::Extrapolated,
                gap_days: 0.0,
            };
        }
    }

    /// Targets before the first reading: back at the rate of the first `basis` days, not
    /// below zero for a register that starts at or above zero.
    pub fn extrapolate_head(&self, out: &mut [Resampled], first: Point) {
        let basis_end = first.t + (self.settings.extrapolation_basis_days * DAY) as i64;
        let basis = out
            .iter()
            .map(|r| &r.sample)
            .find(|s| {
                s.t >= basis_end && s.value.is_finite() && s.provenance != Provenance::Extrapolated
            })
            .or_else(|| {
                out.iter()
                    .map(|r| &r.sample)
                    .rfind(|s| s.t > first.t && s.provenance != Provenance::Extrapolated)
            });
        let rate = basis.map_or(0.0, |s| self.rate(first.t, first.value, s.t, s.value));
        for r in out.iter_mut().filter(|r| r.sample.t < first.t) {
            let mut value = first.value - rate * self.progress(r.sample.t, first.t);
            if first.value >= 0.0 {
                value = value.max(0.0);
            }
            r.sample = Sample {
                t: r.sample.t,
                value,
                provenance: Provenance::Extrapolated,
                gap_days: 0.0,
            };
        }
    }

    fn rate(&self, t0: Ts, v0: f64, t1: Ts, v1: f64) -> f64 {
        let progress = self.progress(t0, t1);
        if progress > 0.0 {
            ((v1 - v0) / progress).max(0.0)
        } else {
            0.0
        }
    }
}
