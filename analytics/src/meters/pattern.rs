//! Seasonal patterns: the share of a year's consumption that falls in each calendar month.
//!
//! The intensity of a day is its month's share divided by the month's length, and W(t) is its
//! integral. Between two readings the register follows W: V(t) = L + (R − L)·ΔW(t)/ΔW(R), exact
//! at the readings, monotone, and linear wherever the intensity is constant (within a month, or
//! for shares proportional to month lengths).

use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::calendar::{date_of, midnight, Ts};

#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    /// Percent of a year, January first, summing to 100.
    shares: [f64; 12],
}

impl Pattern {
    /// Twelve percentages, January first. Like the seed, sums from 95 to 105 are accepted and
    /// scaled to 100.
    pub fn from_percentages(percent: &[f64]) -> Result<Self, String> {
        let shares: [f64; 12] = percent
            .try_into()
            .map_err(|_| format!("needs 12 monthly percentages, has {}", percent.len()))?;
        if let Some(bad) = shares.iter().find(|s| !s.is_finite() || **s < 0.0) {
            return Err(format!("percentage {bad} is not a number >= 0"));
        }
        let sum: f64 = shares.iter().sum();
        if !(95.0..=105.0).contains(&sum) {
            return Err(format!("monthly percentages sum to {sum}, not 95 to 105"));
        }
        Ok(Pattern {
            shares: shares.map(|s| s * 100.0 / sum),
        })
    }

    pub fn shares(&self) -> &[f64; 12] {
        &self.shares
    }

    /// The intensity of a day: its month's share spread evenly over the month.
    fn daily(&self, date: Date) -> f64 {
        self.shares[date.month() as usize - 1] / f64::from(date.days_in_month())
    }

    /// W at the local midnight that starts `date`, from an arbitrary origin (only differences
    /// of W mean anything).
    fn at_midnight(&self, date: Date) -> f64 {
        let month = date.month() as usize - 1;
        f64::from(date.year() - 1970) * 100.0
            + self.shares[..month].iter().sum::<f64>()
            + f64::from(date.day() - 1) * self.daily(date)
    }

    /// W(ts), the integral of the intensity, the day's part in proportion to elapsed seconds.
    pub fn cumulative(&self, ts: Ts, tz: &TimeZone) -> f64 {
        let date = date_of(ts, tz);
        let start = midnight(date, tz);
        let end = midnight(date.tomorrow().expect("date in range"), tz);
        let part = (ts - start) as f64 / (end - start) as f64;
        self.at_midnight(date) + self.daily(date) * part
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn rejects_bad_percentages() {
        assert!(Pattern::from_percentages(&[8.0; 11]).is_err());
        assert!(Pattern::from_percentages(&[5.0; 12]).is_err());
        let mut p = [100.0 / 12.0; 12];
        p[3] = -1.0;
        assert!(Pattern::from_percentages(&p).is_err());
    }

    #[test]
    fn a_year_weighs_one_hundred() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let p = Pattern::from_percentages(&[
            8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 10.0, 10.0,
        ])
        .unwrap();
        let a = p.cumulative(midnight(date(2023, 1, 1), &tz), &tz);
        let b = p.cumulative(midnight(date(2024, 1, 1), &tz), &tz);
        assert!((b - a - 100.0).abs() < 1e-9);
        let feb = p.cumulative(midnight(date(2023, 2, 1), &tz), &tz);
        assert!((feb - a - 8.0).abs() < 1e-9);
    }
}
