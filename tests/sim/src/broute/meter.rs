//! The smart meter (class 0x028801): a deterministic function of its own clock, so that a
//! test can compute every expected value (`hemflux-sim broute --energy-at TIME`).
//!
//! Power follows a daily curve, 300 W at midnight to 900 W at noon (meter local time):
//! p(s) = 600 - 300 cos(2 pi s / 86400), s = seconds since 2026-01-01T00:00 in the meter's zone,
//! and energy is its exact integral on top of `initial_kwh` at that instant.

use std::f64::consts::PI;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};

pub const NO_HISTORY: u32 = 0xFFFF_FFFE;

#[derive(Debug, Clone)]
pub struct Meter {
    pub zone: TimeZone,
    pub initial_kwh: f64,
    /// E1 code: 00 = 1 kWh, 01 = 0.1 kWh, ... 0A = 10 kWh ...
    pub unit: u8,
    /// D3; `None` = the meter does not have it (Get_SNA).
    pub coefficient: Option<u32>,
    /// D7: raw readings wrap at 10^digits.
    pub digits: u8,
    /// Single-phase 2-wire: no T-phase current (7FFE).
    pub two_wire: bool,
}

impl Meter {
    fn reference(&self) -> Timestamp {
        DateTime::constant(2026, 1, 1, 0, 0, 0, 0)
            .to_zoned(self.zone.clone())
            .expect("a valid instant")
            .timestamp()
    }

    fn seconds(&self, t: Timestamp) -> f64 {
        (t.as_millisecond() - self.reference().as_millisecond()) as f64 / 1000.0
    }

    pub fn power_w(&self, t: Timestamp) -> f64 {
        600.0 - 300.0 * (2.0 * PI * self.seconds(t) / 86400.0).cos()
    }

    pub fn energy_kwh(&self, t: Timestamp) -> f64 {
        let s = self.seconds(t);
        let wh = 600.0 * s / 3600.0
            - 300.0 * 86400.0 / (2.0 * PI) * (2.0 * PI * s / 86400.0).sin() / 3600.0;
        self.initial_kwh + wh / 1000.0
    }

    /// kWh per raw count: E1 unit x D3 coefficient.
    fn kwh_per_count(&self) -> f64 {
        let unit = match self.unit {
            u @ 0x00..=0x04 => 10f64.powi(-(u as i32)),
            u => 10f64.powi(u as i32 - 0x09),
        };
        unit * self.coefficient.unwrap_or(1) as f64
    }

    /// E0 at `t`: what the register shows.
    pub fn raw(&self, t: Timestamp) -> u32 {
        let counts = (self.energy_kwh(t) / self.kwh_per_count() + 1e-9).floor() as u64;
        (counts % 10u64.pow(self.digits as u32)) as u32
    }

    /// E8: R and T in 0.1 A at 100 V (T = 7FFE on 2-wire).
    pub fn currents(&self, t: Timestamp) -> (i16, i16) {
        let deci_amps = self.power_w(t) / 100.0 * 10.0;
        if self.two_wire {
            (deci_amps.round() as i16, 0x7FFE)
        } else {
            (
                (deci_amps * 0.55).round() as i16,
                (deci_amps * 0.45).round() as i16,
            )
        }
    }

    /// EA: the last :00/:30 boundary at or before `now`, in meter time, and E0 then.
    pub fn fixed_time(&self, now: Timestamp) -> (Zoned, u32) {
        let local = now.to_zoned(self.zone.clone());
        let boundary = local
            .with()
            .minute(if local.minute() >= 30 { 30 } else { 0 })
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .expect("a valid time");
        let raw = self.raw(boundary.timestamp());
        (boundary, raw)
    }

    /// E2 for `days_back` (0 = today): 48 slots, the cumulative at each half hour, FFFFFFFE
    /// for those still in the future.
    pub fn history(&self, now: Timestamp, days_back: u8) -> Vec<u32> {
        let today = now.to_zoned(self.zone.clone()).date();
        let day = today - (days_back as i64).days();
        (0..48)
            .map(|i| {
                let at = day
                    .at((i / 2) as i8, (i % 2 * 30) as i8, 0, 0)
                    .to_zoned(self.zone.clone())
                    .expect("a valid time")
                    .timestamp();
                if at <= now {
                    self.raw(at)
                } else {
                    NO_HISTORY
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter() -> Meter {
        Meter {
            zone: TimeZone::get("Asia/Tokyo").unwrap(),
            initial_kwh: 6500.0,
            unit: 0x01,
            coefficient: None,
            digits: 6,
            two_wire: false,
        }
    }

    #[test]
    fn energy_is_the_integral_of_power() {
        let m = meter();
        let t: Timestamp = "2026-05-20T05:00:00Z".parse().unwrap();
        let dt = 60.0;
        let numeric = m.power_w(t) * dt / 3600.0 / 1000.0;
        let exact = m.energy_kwh(t + 60.seconds()) - m.energy_kwh(t);
        assert!((numeric - exact).abs() < 1e-5, "{numeric} {exact}");
        assert!(m.raw(t + 3600.seconds()) > m.raw(t));
        assert_eq!(m.raw(m.reference()), 65000);
    }

    #[test]
    fn fixed_time_and_history_agree() {
        let m = meter();
        let now: Timestamp = "2026-05-20T05:10:00Z".parse().unwrap(); // 14:10 JST
        let (at, raw) = m.fixed_time(now);
        assert_eq!(at.to_string(), "2026-05-20T14:00:00+09:00[Asia/Tokyo]");
        let slots = m.history(now, 0);
        assert_eq!(slots[28], raw);
        assert_eq!(slots[29], NO_HISTORY);
        assert!(m.history(now, 1).iter().all(|&v| v != NO_HISTORY));
    }
}
