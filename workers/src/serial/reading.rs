//! One reading of the smart meter and its `smart_meter` point, with the field names and
//! arithmetic of the collector our users ran before (see `docs/serial.md`).

use anyhow::{anyhow, Result};
use hemflux_shared::time::to_nanos;
use hemflux_shared::Point;
use jiff::civil::{date, Date};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use super::echonet::{self, MeterTime};

/// What does not change during a session: how raw cumulative readings become kWh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// E1 as a power of ten of kWh: 0.1 kWh -> -1.
    pub unit_exponent: i32,
    /// D3; 1 when the meter does not have it.
    pub coefficient: u32,
    /// D7: raw readings wrap at 10^digits.
    pub digits: u8,
}

impl Scale {
    /// raw x coefficient x unit, divided (not multiplied by 0.1) so that 65139 at 0.1 kWh is
    /// exactly 6513.9, as the Python collector printed it.
    pub fn kwh(&self, raw: u64) -> f64 {
        let scaled = raw * self.coefficient as u64;
        if self.unit_exponent < 0 {
            scaled as f64 / 10f64.powi(-self.unit_exponent)
        } else {
            (scaled * 10u64.pow(self.unit_exponent as u32)) as f64
        }
    }

    /// The raw difference `later - earlier`, allowing for one wrap at 10^digits.
    fn delta(&self, earlier: u32, later: u32) -> u64 {
        let modulus = 10u64.pow(self.digits as u32);
        (later as u64 + modulus - earlier as u64) % modulus
    }
}

/// What one cycle got from the meter; a field is `None` when its read failed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Reading {
    pub cumulative: Option<u32>,
    pub power_w: Option<i32>,
    /// R and T in 0.1 A; T is None on single-phase 2-wire.
    pub currents: Option<(i16, Option<i16>)>,
    pub fixed_time: Option<(MeterTime, u32)>,
    /// E2 slots of today (day 0) and, when today has fewer than two, of yesterday.
    pub today: Option<Vec<Option<u32>>>,
    pub yesterday: Option<Vec<Option<u32>>>,
}

impl Reading {
    /// Yesterday is needed when today has fewer than two half-hour readings (before 00:30).
    pub fn needs_yesterday(&self) -> bool {
        self.today
            .as_ref()
            .is_some_and(|slots| slots.iter().flatten().count() < 2)
    }

    /// The `smart_meter` point of this reading taken at `now`, or `None` if nothing was read.
    pub fn to_point(
        &self,
        scale: &Scale,
        zone: &TimeZone,
        now: Timestamp,
        house_id: &str,
        device: &str,
    ) -> Option<Point> {
        let mut p = Point::new("smart_meter", to_nanos(now))
            .tag("house_id", house_id)
            .tag("device", device);
        if let Some(raw) = self.cumulative {
            p = p.field("cumulative_power_kwh", scale.kwh(raw.into()));
        }
        if let Some(w) = self.power_w {
            p = p.field("instant_power_w", w as i64);
        }
        if let Some((r, t)) = self.currents {
            p = p
                .field(
                    "current_a",
                    (r as i32 + t.unwrap_or(0) as i32) as f64 / 10.0,
                )
                .field("current_r_a", r as f64 / 10.0);
            if let Some(t) = t {
                p = p.field("current_t_a", t as f64 / 10.0);
            }
        }
        let mut meter_today = now.to_zoned(zone.clone()).date();
        if let Some((time, raw)) = self.fixed_time {
            match meter_instant(time, zone) {
                Ok(at) => {
                    // The meter's own date, not the host's: right even if their clocks differ.
                    meter_today = date(time.year as i16, time.month as i8, time.day as i8);
                    p = p
                        .field("historical_timestamp", utc_text(at))
                        .field("historical_cumulative_power_kwh", scale.kwh(raw.into()));
                }
                Err(e) => tracing::warn!("skipping the fixed-time reading: {e:#}"),
            }
        }
        if let Some((at, kwh)) = self.recent_30min(scale, zone, meter_today) {
            p = p
                .field("recent_30min_timestamp", utc_text(at))
                .field("recent_30min_consumption_kwh", kwh);
        }
        (!p.fields.is_empty()).then_some(p)
    }

    /// The last valid half-hour slot and the energy since the valid slot before it.
    fn recent_30min(
        &self,
        scale: &Scale,
        zone: &TimeZone,
        today: Date,
    ) -> Option<(Timestamp, f64)> {
        let mut slots: Vec<(Date, usize, u32)> = Vec::new();
        let days = [(self.yesterday.as_ref(), 1), (self.today.as_ref(), 0)];
        for (day_slots, days_back) in days {
            let day = today.checked_sub(days_back.days()).ok()?;
            for (i, v) in day_slots.into_iter().flatten().enumerate() {
                if let Some(v) = v {
                    slots.push((day, i, *v));
                }
            }
        }
        let [.., (_, _, previous), (day, slot, latest)] = slots.as_slice() else {
            return None;
        };
        let at = day
            .at((slot / 2) as i8, (slot % 2 * 30) as i8, 0, 0)
            .to_zoned(zone.clone())
            .ok()?
            .timestamp();
        Some((at, scale.kwh(scale.delta(*previous, *latest))))
    }
}

fn meter_instant(t: MeterTime, zone: &TimeZone) -> Result<Timestamp> {
    let civil = jiff::civil::DateTime::new(
        t.year as i16,
        t.month as i8,
        t.day as i8,
        t.hour as i8,
        t.minute as i8,
        t.second as i8,
        0,
    )
    .map_err(|e| anyhow!("meter time {t:?} is not a date: {e}"))?;
    Ok(civil.to_zoned(zone.clone())?.timestamp())
}

/// `2026-05-20T05:00:00+00:00`, as the collector wrote timestamps.
pub fn utc_text(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// Builds the E1/D3/D7 scale from their raw answers (None where the meter said SNA).
pub fn scale_from(unit: Option<&[u8]>, coefficient: Option<&[u8]>, digits: Option<&[u8]>) -> Scale {
    let unit_exponent = match unit.map(echonet::unit_exponent) {
        Some(Ok(e)) => e,
        Some(Err(e)) => {
            tracing::warn!("unit (E1): {e}; assuming 1 kWh");
            0
        }
        None => {
            tracing::warn!("the meter did not give its unit (E1); assuming 1 kWh");
            0
        }
    };
    let coefficient = coefficient
        .map(echonet::coefficient)
        .and_then(|r| r.ok())
        .unwrap_or(1);
    let digits = digits
        .map(echonet::digits)
        .and_then(|r| r.ok())
        .unwrap_or(8);
    Scale {
        unit_exponent,
        coefficient,
        digits,
    }
}

#[cfg(test)]
mod tests {
    use hemflux_shared::FieldValue;

    use super::*;

    const SCALE: Scale = Scale {
        unit_exponent: -1,
        coefficient: 1,
        digits: 6,
    };

    fn tokyo() -> TimeZone {
        TimeZone::get("Asia/Tokyo").unwrap()
    }

    /// The meter's clock in May 2026, on the hour.
    fn may_2026(day: u8, hour: u8) -> MeterTime {
        MeterTime {
            year: 2026,
            month: 5,
            day,
            hour,
            minute: 0,
            second: 0,
        }
    }

    fn slots(valid_up_to: usize, first: u32) -> Vec<Option<u32>> {
        (0..48)
            .map(|i| (i <= valid_up_to).then_some(first + 3 * i as u32))
            .collect()
    }

    #[test]
    fn the_page_example_becomes_the_collectors_record() {
        let reading = Reading {
            cumulative: Some(65139),
            power_w: Some(632),
            currents: Some((30, Some(50))),
            fixed_time: Some((may_2026(20, 14), 65128)),
            today: Some(slots(28, 65000)),
            yesterday: None,
        };
        let now: Timestamp = "2026-05-20T05:10:00Z".parse().unwrap();
        let p = reading
            .to_point(&SCALE, &tokyo(), now, "home", "broute")
            .unwrap();
        assert_eq!(p.measurement, "smart_meter");
        assert_eq!(p.tags["house_id"], "home");
        assert_eq!(p.tags["device"], "broute");
        assert_eq!(p.time, to_nanos(now));
        let expected = [
            ("cumulative_power_kwh", FieldValue::Float(6513.9)),
            ("instant_power_w", FieldValue::Int(632)),
            ("current_a", FieldValue::Float(8.0)),
            ("current_r_a", FieldValue::Float(3.0)),
            ("current_t_a", FieldValue::Float(5.0)),
            ("historical_timestamp", FieldValue::Str("2026-05-20T05:00:00+00:00".into())),
            ("historical_cumulative_power_kwh", FieldValue::Float(6512.8)),
            // Slot 28 = 14:00 JST; 3 raw units of 0.1 kWh since slot 27.
            ("recent_30min_timestamp", FieldValue::Str("2026-05-20T05:00:00+00:00".into())),
            ("recent_30min_consumption_kwh", FieldValue::Float(0.3)),
        ];
        for (key, value) in expected {
            assert_eq!(p.fields.get(key), Some(&value), "{key}");
        }
    }

    #[test]
    fn single_phase_two_wire_has_no_t_current_and_missing_reads_are_absent() {
        let reading = Reading {
            currents: Some((123, None)),
            ..Default::default()
        };
        let p = reading
            .to_point(&SCALE, &tokyo(), Timestamp::UNIX_EPOCH, "h", "d")
            .unwrap();
        let keys: Vec<_> = p.fields.keys().map(String::as_str).collect();
        assert_eq!(keys, ["current_a", "current_r_a"]);
        assert_eq!(p.fields["current_a"], FieldValue::Float(12.3));
        assert!(Reading::default()
            .to_point(&SCALE, &tokyo(), Timestamp::UNIX_EPOCH, "h", "d")
            .is_none());
    }

    #[test]
    fn just_after_midnight_the_last_slot_of_yesterday_is_used() {
        let mut reading = Reading {
            today: Some(slots(0, 65100)),
            ..Default::default()
        };
        assert!(reading.needs_yesterday());
        reading.yesterday = Some(slots(47, 64900));
        reading.fixed_time = Some((may_2026(21, 0), 65100));
        let p = reading
            .to_point(
                &SCALE,
                &tokyo(),
                "2026-05-20T15:10:00Z".parse().unwrap(),
                "h",
                "d",
            )
            .unwrap();
        // Latest is today's 00:00 slot, previous yesterday's 23:30 (64900 + 3 x 47 = 65041).
        assert_eq!(
            p.fields["recent_30min_timestamp"],
            FieldValue::Str("2026-05-20T15:00:00+00:00".into())
        );
        assert_eq!(
            p.fields["recent_30min_consumption_kwh"],
            FieldValue::Float(5.9)
        );
    }

    #[test]
    fn units_coefficient_and_wrap() {
        let s = |unit_exponent, coefficient| Scale {
            unit_exponent,
            coefficient,
            digits: 6,
        };
        assert_eq!(s(-2, 1).kwh(12345), 123.45);
        assert_eq!(s(0, 1).kwh(65139), 65139.0);
        assert_eq!(s(1, 1).kwh(5), 50.0);
        assert_eq!(s(-1, 10).kwh(65139), 65139.0);
        assert_eq!(SCALE.delta(999_998, 3), 5);
        assert_eq!(SCALE.delta(10, 13), 3);
    }
}
