//! A run's results as points, under the seed's measurement names (meters.md §2.8), tag
//! `meter_id`; `meter_consumption` and `meter_anomaly` carry both `consumption` and `value`, so
//! both generations of the seed's dashboards work, and every point says how it was obtained.

use hemflux_shared::point::Point;

use super::calendar::Ts;
use super::consumption::Usage;
use super::run::MeterOutput;

const NS: i64 = 1_000_000_000;

fn at(measurement: &str, meter: &str, t: Ts) -> Point {
    Point::new(measurement, t * NS).tag("meter_id", meter)
}

/// `meter_interpolated_daily` (the register at each local midnight), `meter_interpolated_monthly`
/// (at the midnight that ends each month), `meter_consumption` (per `period` day, month and year,
/// at the period's start) and `meter_anomaly` (one per flag, tag `flag` = its kind, at the start of its day).
pub fn points(outputs: &[MeterOutput]) -> Vec<Point> {
    let mut out = Vec::new();
    for o in outputs {
        let id = o.meter_id.as_str();
        let register = |m: &str, u: &Usage| {
            at(m, id, u.end)
                .field("value", u.value)
                .field("quality", u.provenance.as_str())
        };
        out.extend(
            o.days
                .iter()
                .map(|d| register("meter_interpolated_daily", d)),
        );
        out.extend(
            o.months
                .iter()
                .map(|m| register("meter_interpolated_monthly", m)),
        );
        for (period, usages) in [("day", &o.days), ("month", &o.months), ("year", &o.years)] {
            out.extend(usages.iter().map(|u| {
                at("meter_consumption", id, u.start)
                    .tag("period", period)
                    .field("consumption", u.consumption)
                    .field("value", u.consumption)
                    .field("quality", u.provenance.as_str())
            }));
        }
        for f in &o.flags {
            let used = o
                .days
                .iter()
                .find(|d| d.start == f.start)
                .map(|d| d.consumption);
            // The kind is a tag: two flags of one day are two series, not one overwriting the other.
            let mut p = at("meter_anomaly", id, f.start)
                .tag("flag", f.kind.as_str())
                .field("severity", "warning")
                .field("reason", f.reason.as_str());
            if let Some(c) = used.filter(|c| c.is_finite()) {
                p = p.field("consumption", c).field("value", c);
            }
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meters::{DayFlag, FlagKind, Provenance};

    fn usage(label: &str, start: Ts, end: Ts, value: f64, consumption: f64) -> Usage {
        Usage {
            label: label.into(),
            start,
            end,
            value,
            consumption,
            provenance: Provenance::Linear,
        }
    }

    #[test]
    fn every_result_becomes_a_point_under_the_seeds_names() {
        let day = usage("2026-11-05", 86_400, 2 * 86_400, 150.0, 30.0);
        let output = MeterOutput {
            meter_id: "strom".into(),
            unit: "kWh".into(),
            kind: "physical",
            from: None,
            days: vec![day.clone()],
            months: vec![usage("2026-11", 0, 30 * 86_400, 900.0, 900.0)],
            years: vec![],
            flags: vec![DayFlag {
                date: "2026-11-05".into(),
                start: 86_400,
                kind: FlagKind::Spike,
                reason: "far above the usual".into(),
            }],
            readings: 2,
        };
        let points = points(&[output]);
        let names: Vec<&str> = points.iter().map(|p| p.measurement.as_str()).collect();
        assert_eq!(
            names,
            [
                "meter_interpolated_daily",
                "meter_interpolated_monthly",
                "meter_consumption",
                "meter_consumption",
                "meter_anomaly"
            ]
        );
        assert_eq!(points[0].time, 2 * 86_400 * NS);
        assert_eq!(points[2].tags["period"], "day");
        assert_eq!(points[2].fields["consumption"], points[2].fields["value"]);
        assert_eq!(points[4].tags["flag"], "spike");
        assert_eq!(points[4].fields["consumption"].as_f64(), Some(30.0));
        assert!(points
            .iter()
            .all(|p| p.tags["meter_id"] == "strom" && p.validate().is_ok()));
    }
}
