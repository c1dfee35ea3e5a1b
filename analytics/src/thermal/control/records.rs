//! What the controller stores: `heat_curve_baseline` (tag `house_id`; fields `y_1..y_10`, as the
//! seed) and `heat_curve_adjustment` (tags `house_id`, `action`; the seed's fields, plus `dry_run`
//! and, for a shift, `offset`).

use hemflux_shared::point::Point;
use jiff::Timestamp;

use super::Adjustment;
use crate::thermal::curve::{HeatCurve, CURVE_POINTS};

pub const HEAT_CURVE_BASELINE: &str = "heat_curve_baseline";
pub const HEAT_CURVE_ADJUSTMENT: &str = "heat_curve_adjustment";

fn nanos(time: Timestamp) -> i64 {
    time.as_nanosecond() as i64
}

pub fn baseline_point(house_id: &str, now: Timestamp, baseline: &HeatCurve) -> Point {
    let mut point = Point::new(HEAT_CURVE_BASELINE, nanos(now)).tag("house_id", house_id);
    for (i, v) in baseline.0.iter().enumerate() {
        point = point.field(format!("y_{}", i + 1), *v);
    }
    point
}

pub fn adjustment_point(
    house_id: &str,
    now: Timestamp,
    adjustment: &Adjustment,
    baseline: &HeatCurve,
    dry_run: bool,
) -> Point {
    let changed = (0..CURVE_POINTS)
        .filter(|&i| (adjustment.curve.0[i] - baseline.0[i]).abs() >= 0.05)
        .count();
    let mut point = Point::new(HEAT_CURVE_ADJUSTMENT, nanos(now))
        .tag("house_id", house_id)
        .tag("action", adjustment.action)
        .field("delta", adjustment.delta)
        .field("points_adjusted", changed as i64)
        .field("reason", adjustment.reason.as_str())
        .field("dry_run", dry_run);
    if let Some(change) = adjustment.forecast_change {
        point = point.field("forecast_change", change);
    }
    if let Some(hours) = adjustment.duration_hours {
        point = point.field("duration_hours", hours);
    }
    for (i, v) in adjustment.curve.0.iter().enumerate() {
        point = point.field(format!("point_{}", i + 1), *v);
    }
    point
}
