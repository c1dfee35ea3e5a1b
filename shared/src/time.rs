//! Time helpers: parsing the instants users type, and Swedish local days.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Parses `2024-01-31`, `2024-01-31T23:59:59` (both UTC) or a full RFC 3339 instant.
pub fn parse_instant(s: &str) -> Result<Timestamp, String> {
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Ok(ts);
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned(TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string());
    }
    if let Ok(d) = s.parse::<Date>() {
        return d
            .to_zoned(TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string());
    }
    Err(format!("{s:?} is not a date (2024-01-31), a date-time (2024-01-31T23:59:59) or an RFC 3339 instant"))
}

pub fn stockholm() -> TimeZone {
    TimeZone::get("Europe/Stockholm").expect("the bundled tz database has Europe/Stockholm")
}

/// The Swedish calendar day an instant falls on (days start at local midnight, CET/CEST).
pub fn stockholm_day(ts: Timestamp) -> Date {
    ts.to_zoned(stockholm()).date()
}

/// Nanoseconds since the epoch, as points carry them.
pub fn to_nanos(ts: Timestamp) -> i64 {
    ts.as_nanosecond() as i64
}

pub fn from_nanos(ns: i64) -> Timestamp {
    Timestamp::from_nanosecond(ns.into()).expect("an i64 of nanoseconds is always in range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_users_type() {
        assert_eq!(
            parse_instant("2024-01-01").unwrap().to_string(),
            "2024-01-01T00:00:00Z"
        );
        assert_eq!(
            parse_instant("2024-01-31T23:59:59").unwrap().to_string(),
            "2024-01-31T23:59:59Z"
        );
        assert_eq!(
            parse_instant("2024-06-01T00:00:00+02:00")
                .unwrap()
                .to_string(),
            "2024-05-31T22:00:00Z"
        );
        assert!(parse_instant("31/01/2024")
            .unwrap_err()
            .contains("not a date"));
    }

    #[test]
    fn swedish_days_start_at_local_midnight() {
        // 23:00 UTC in winter is already the next day in Stockholm (CET, UTC+1).
        assert_eq!(
            stockholm_day("2026-01-28T23:00:00Z".parse().unwrap()).to_string(),
            "2026-01-29"
        );
        // 22:00 UTC in summer too (CEST, UTC+2).
        assert_eq!(
            stockholm_day("2026-07-01T22:00:00Z".parse().unwrap()).to_string(),
            "2026-07-02"
        );
        assert_eq!(
            stockholm_day("2026-07-01T21:59:59Z".parse().unwrap()).to_string(),
            "2026-07-01"
        );
    }

    #[test]
    fn nanos_round_trip() {
        let ts: Timestamp = "2026-03-29T01:00:00.123456789Z".parse().unwrap();
        assert_eq!(from_nanos(to_nanos(ts)), ts);
    }
}
