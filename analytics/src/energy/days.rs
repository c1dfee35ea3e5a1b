//! Local calendar days of an entity's time zone, and the daily sums and means built on them.
//!
//! A day runs from local midnight to the next local midnight, so in Europe/Stockholm it lasts 23
//! hours on the last Sunday of March and 25 on the last Sunday of October. A reading belongs to
//! the local date of its timestamp (meter hours are stamped at their start).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

const HOUR: i64 = 3600;

/// The local date an instant falls on.
pub fn local_date(ts: Timestamp, tz: &TimeZone) -> Date {
    tz.to_datetime(ts).date()
}

/// Where a daily record is stamped (as the seed stamped it): UTC midnight of the local date label,
/// so the day 2026-01-16 in Stockholm (01-15T23Z to 01-16T23Z) is stored at 2026-01-16T00:00Z.
pub fn label_instant(date: Date) -> Timestamp {
    date.to_zoned(TimeZone::UTC)
        .expect("every date has a UTC midnight")
        .timestamp()
}

fn start_of(date: Date, tz: &TimeZone) -> Timestamp {
    date.to_zoned(tz.clone())
        .and_then(|z| z.start_of_day())
        .expect("a date in jiff's range has a start of day")
        .timestamp()
}

/// Consecutive local days with their UTC bounds, so that sorted series group in one pass.
#[derive(Debug, Clone)]
pub struct LocalDays {
    dates: Vec<Date>,
    /// Unix seconds of each day's start, plus the end of the last day.
    bounds: Vec<i64>,
}

impl LocalDays {
    /// The days `first..=last` (empty when `last < first`).
    pub fn between(tz: &TimeZone, first: Date, last: Date) -> Self {
        let mut dates = Vec::new();
        let mut bounds = Vec::new();
        let mut d = first;
        while d <= last {
            dates.push(d);
            bounds.push(start_of(d, tz).as_second());
            d = d.tomorrow().expect("dates stay in jiff's range");
        }
        bounds.push(start_of(d, tz).as_second());
        LocalDays { dates, bounds }
    }

    pub fn len(&self) -> usize {
        self.dates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dates.is_empty()
    }

    pub fn date(&self, i: usize) -> Date {
        self.dates[i]
    }

    pub fn start(&self, i: usize) -> Timestamp {
        Timestamp::from_second(self.bounds[i]).expect("bounds came from timestamps")
    }

    pub fn end(&self, i: usize) -> Timestamp {
        Timestamp::from_second(self.bounds[i + 1]).expect("bounds came from timestamps")
    }

    /// The length of day `i` in hours: 23, 24 or 25 in Stockholm.
    pub fn hours(&self, i: usize) -> f64 {
        (self.bounds[i + 1] - self.bounds[i]) as f64 / HOUR as f64
    }

    /// The whole UTC hours that start within day `i` (what a complete hourly meter delivers).
    pub fn metered_hours(&self, i: usize) -> u32 {
        let first =
            self.bounds[i].div_euclid(HOUR) + i64::from(self.bounds[i].rem_euclid(HOUR) != 0);
        let end = self.bounds[i + 1].div_euclid(HOUR)
            + i64::from(self.bounds[i + 1].rem_euclid(HOUR) != 0);
        (end - first) as u32
    }

    /// The day an instant falls in, if any.
    pub fn index_of(&self, ts: Timestamp) -> Option<usize> {
        let s = ts.as_second();
        let i = self.bounds.partition_point(|&b| b <= s);
        (i > 0 && i < self.bounds.len()).then(|| i - 1)
    }

    /// The index range of a sorted slice whose timestamps fall in day `i` (by `time_of`).
    pub fn slice_range<T>(
        &self,
        i: usize,
        items: &[T],
        time_of: impl Fn(&T) -> Timestamp,
    ) -> std::ops::Range<usize> {
        let (start, end) = (self.bounds[i], self.bounds[i + 1]);
        let a = items.partition_point(|x| time_of(x).as_second() < start);
        let b = a + items[a..].partition_point(|x| time_of(x).as_second() < end);
        a..b
    }
}

/// One meter's reading for the hour that starts at `start`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HourlyEnergy {
    pub start: Timestamp,
    pub kwh: f64,
}

/// Metered energy of one local day, all meters of the entity summed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayEnergy {
    pub kwh: f64,
    /// Whole hours starting within the day (23, 24 or 25).
    pub hours_expected: u32,
    /// Hours every meter reported (the lowest count over the meters).
    pub hours_present: u32,
}

impl DayEnergy {
    /// Complete means every meter reported every hour of the local day: a day with one missing
    /// hour would read as a warm day and pull k down, so it is kept out of fits and splits.
    pub fn complete(&self) -> bool {
        self.hours_expected > 0 && self.hours_present == self.hours_expected
    }

    pub fn coverage(&self) -> f64 {
        if self.hours_expected == 0 {
            return 0.0;
        }
        f64::from(self.hours_present) / f64::from(self.hours_expected)
    }
}

/// Sums each meter's sorted hourly readings per local day. A reading that is negative or not
/// finite counts as missing; a repeated hour counts once (its last value).
pub fn daily_energy(days: &LocalDays, meters: &[&[HourlyEnergy]]) -> Vec<DayEnergy> {
    let mut out: Vec<DayEnergy> = (0..days.len())
        .map(|i| DayEnergy {
            kwh: 0.0,
            hours_expected: days.metered_hours(i),
            hours_present: if meters.is_empty() { 0 } else { u32::MAX },
        })
        .collect();
    for readings in meters {
        for (i, day) in out.iter_mut().enumerate() {
            let r = days.slice_range(i, readings, |h| h.start);
            let (mut kwh, mut present, mut last_hour, mut last_kwh) = (0.0, 0u32, i64::MIN, 0.0);
            for h in &readings[r] {
                if !h.kwh.is_finite() || h.kwh < 0.0 {
                    continue;
                }
                let hour = h.start.as_second().div_euclid(HOUR);
                if hour != last_hour {
                    present += 1;
                    last_hour = hour;
                    last_kwh = 0.0;
                }
                kwh += h.kwh - last_kwh;
                last_kwh = h.kwh;
            }
            day.kwh += kwh;
            day.hours_present = day.hours_present.min(present);
        }
    }
    out
}

/// The mean of an hourly series over each local day, with the share of the day's hours present.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayMean {
    pub mean: f64,
    pub coverage: f64,
}

/// Means per local day of values stamped on whole hours (`None` for a day without any).
pub fn daily_means(days: &LocalDays, hourly: &[(Timestamp, f64)]) -> Vec<Option<DayMean>> {
    (0..days.len())
        .map(|i| {
            let r = days.slice_range(i, hourly, |p| p.0);
            let n = r.len();
            (n > 0).then(|| DayMean {
                mean: hourly[r].iter().map(|p| p.1).sum::<f64>() / n as f64,
                coverage: n as f64 / f64::from(days.metered_hours(i).max(1)),
            })
        })
        .collect()
}

/// The whole hours from `from` (rounded up) until `to` (exclusive).
pub fn whole_hours(from: Timestamp, to: Timestamp) -> impl Iterator<Item = Timestamp> {
    let first =
        from.as_second().div_euclid(HOUR) + i64::from(from.as_second().rem_euclid(HOUR) != 0);
    let end = to.as_second().div_euclid(HOUR) + i64::from(to.as_second().rem_euclid(HOUR) != 0);
    (first..end).map(|h| Timestamp::from_second(h * HOUR).expect("in range"))
}

#[cfg(test)]
mod tests;
