//! Local days, months and years of a time zone as Unix-second instants. Days and months are
//! counted at local midnight, so a DST day is 23 or 25 hours long.
//!
//! Not meter-specific: a candidate for a shared helper (local-day grouping) once the other
//! analytics need it.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Unix seconds.
pub type Ts = i64;

/// The local midnight that starts `date` in `tz`.
pub fn midnight(date: Date, tz: &TimeZone) -> Ts {
    date.to_zoned(tz.clone())
        .and_then(|z| z.start_of_day())
        .map(|z| z.timestamp().as_second())
        .unwrap_or_else(|_| panic!("{date} has a start of day in {}", tz_name(tz)))
}

/// The local date that contains `ts`.
pub fn date_of(ts: Ts, tz: &TimeZone) -> Date {
    Timestamp::from_second(ts)
        .map(|t| t.to_zoned(tz.clone()).date())
        .unwrap_or(Date::MAX)
}

pub fn tz_name(tz: &TimeZone) -> &str {
    tz.iana_name().unwrap_or("UTC")
}

/// Consecutive local days: `starts[i]` is the midnight that begins day `i`, the last entry is
/// the midnight that ends the last whole day. Values on the grid are registers at those
/// instants; the consumption of day `i` is `V[i + 1] - V[i]`.
#[derive(Debug, Clone)]
pub struct DayGrid {
    first: Date,
    starts: Vec<Ts>,
}

/// A month or year of the grid: its label and the grid indices of its first and last instant
/// (clipped to the grid, so the first and last period of a grid may be partial).
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    pub label: String,
    pub from: usize,
    pub to: usize,
}

impl DayGrid {
    /// Midnights of every date from `first` to `last`, both included.
    pub fn new(first: Date, last: Date, tz: &TimeZone) -> Self {
        let mut starts = Vec::new();
        let mut date = first;
        while date <= last {
            starts.push(midnight(date, tz));
            date = date.tomorrow().expect("date in range");
        }
        DayGrid { first, starts }
    }

    pub fn instants(&self) -> &[Ts] {
        &self.starts
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    pub fn date(&self, i: usize) -> Date {
        self.first
            .checked_add(jiff::Span::new().days(i as i64))
            .expect("date in range")
    }

    /// The index of the first grid instant at or after `ts` (`len()` if none).
    pub fn first_at_or_after(&self, ts: Ts) -> usize {
        self.starts.partition_point(|&s| s < ts)
    }

    /// Calendar months of the grid.
    pub fn months(&self) -> Vec<Period> {
        self.periods(
            |d| (d.year(), d.month()),
            |d| format!("{:04}-{:02}", d.year(), d.month()),
        )
    }

    /// Calendar years of the grid.
    pub fn years(&self) -> Vec<Period> {
        self.periods(|d| (d.year(), 0), |d| format!("{:04}", d.year()))
    }

    fn periods(
        &self,
        key: impl Fn(Date) -> (i16, i8),
        label: impl Fn(Date) -> String,
    ) -> Vec<Period> {
        let mut out: Vec<Period> = Vec::new();
        for i in 0..self.len() {
            let date = self.date(i);
            match out.last_mut() {
                Some(p) if key(self.date(p.from)) == key(date) => p.to = i,
                _ => {
                    if let Some(p) = out.last_mut() {
                        p.to = i; // a period ends at the midnight that starts the next one
                    }
                    out.push(Period {
                        label: label(date),
                        from: i,
                        to: i,
                    });
                }
            }
        }
        out.retain(|p| p.to > p.from);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn dst_days_are_23_and_25_hours() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let grid = DayGrid::new(date(2024, 3, 30), date(2024, 4, 1), &tz);
        let s = grid.instants();
        assert_eq!(s[1] - s[0], 24 * 3600);
        assert_eq!(s[2] - s[1], 23 * 3600);
        let grid = DayGrid::new(date(2024, 10, 27), date(2024, 10, 28), &tz);
        assert_eq!(grid.instants()[1] - grid.instants()[0], 25 * 3600);
    }

    #[test]
    fn months_end_where_the_next_begins() {
        let grid = DayGrid::new(date(2024, 1, 30), date(2024, 3, 1), &TimeZone::UTC);
        let months = grid.months();
        assert_eq!(months.len(), 2);
        assert_eq!(
            (months[0].label.as_str(), months[0].from, months[0].to),
            ("2024-01", 0, 2)
        );
        assert_eq!(
            (months[1].label.as_str(), months[1].from, months[1].to),
            ("2024-02", 2, 31)
        );
        assert_eq!(grid.years()[0].to, 31);
    }
}
