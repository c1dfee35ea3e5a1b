//! Learning from the forecast's own errors, fixed where the seed went wrong (§4, §11.7): each
//! forecast point is scored against the reading at its target time (not an hour early), errors are
//! kept by lead time (`forecast_accuracy`), and the per-hour bias learns by a moving average and
//! decays towards zero when nothing refreshes it (the seed kept a small bias forever).

use std::collections::BTreeMap;

use hemflux_shared::point::Point;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::forecast::IndoorForecast;

pub const FORECAST_ACCURACY: &str = "forecast_accuracy";

/// How the hourly bias learns and forgets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BiasConfig {
    /// Weight of one new error in the moving average.
    pub learning_rate: f64,
    /// Half-life of a bias that nothing refreshes, hours.
    pub half_life_hours: f64,
    /// Errors at shorter lead are not learned from (the start reading dominates them), and the
    /// bias is phased in linearly up to this lead.
    pub min_lead_hours: f64,
}

impl Default for BiasConfig {
    fn default() -> Self {
        BiasConfig {
            learning_rate: 0.05,
            half_life_hours: 7.0 * 24.0,
            min_lead_hours: 6.0,
        }
    }
}

/// The bias (actual − predicted, °C) by UTC hour of the target time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HourlyBias {
    values: [f64; 24],
    updated: Option<Timestamp>,
}

fn utc_hour(time: Timestamp) -> usize {
    (time.as_second().rem_euclid(86_400) / 3600) as usize
}

impl HourlyBias {
    fn decay_factor(&self, now: Timestamp, config: &BiasConfig) -> f64 {
        let Some(updated) = self.updated else {
            return 1.0;
        };
        let hours = (now - updated).get_seconds().max(0) as f64 / 3600.0;
        0.5f64.powf(hours / config.half_life_hours)
    }

    /// The correction to add to a prediction for `target` made `lead_hours` ahead, as of `now`.
    pub fn correction(
        &self,
        target: Timestamp,
        lead_hours: f64,
        now: Timestamp,
        config: &BiasConfig,
    ) -> f64 {
        let phase_in = (lead_hours / config.min_lead_hours).clamp(0.0, 1.0);
        self.values[utc_hour(target)] * self.decay_factor(now, config) * phase_in
    }

    /// Learns from one scored point (its error is before correction).
    pub fn learn(&mut self, record: &AccuracyRecord, config: &BiasConfig) {
        if record.lead_hours < config.min_lead_hours {
            return;
        }
        let factor = self.decay_factor(record.target, config);
        for v in &mut self.values {
            *v *= factor;
        }
        let hour = utc_hour(record.target);
        let error = record.actual - record.uncorrected;
        self.values[hour] += config.learning_rate * (error - self.values[hour]);
        self.updated = Some(record.target);
    }
}

/// One forecast point scored at its target time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccuracyRecord {
    pub issued: Timestamp,
    pub target: Timestamp,
    pub lead_hours: f64,
    pub predicted: f64,
    /// The prediction before the bias correction, which the bias learns from.
    pub uncorrected: f64,
    pub actual: f64,
    pub outdoor: f64,
}

impl AccuracyRecord {
    pub fn error(&self) -> f64 {
        self.actual - self.predicted
    }

    /// `forecast_accuracy`: tags `house_id`, `hour` (UTC hour of the target, as the seed) and
    /// `lead_time_hours` (whole hours, at most 72: bounded); time = the target time.
    pub fn to_point(&self, house_id: &str) -> Point {
        Point::new(FORECAST_ACCURACY, self.target.as_nanosecond() as i64)
            .tag("house_id", house_id)
            .tag("hour", format!("{:02}", utc_hour(self.target)))
            .tag(
                "lead_time_hours",
                format!("{}", self.lead_hours.round() as i64),
            )
            .field("predicted", self.predicted)
            .field("actual", self.actual)
            .field("error", self.error())
            .field("outdoor", self.outdoor)
            .field("forecast_time", self.issued.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct PendingPoint {
    issued: Timestamp,
    target: Timestamp,
    lead_hours: f64,
    predicted: f64,
    uncorrected: f64,
}

/// Forecast points waiting for their target time; serialisable, so a restart keeps them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ForecastTracker {
    pending: Vec<PendingPoint>,
}

/// A reading later than this after a target time no longer scores it.
const SCORE_WINDOW_SECONDS: i64 = 30 * 60;

impl ForecastTracker {
    pub fn add(&mut self, forecast: &IndoorForecast) {
        self.pending
            .extend(forecast.points.iter().map(|p| PendingPoint {
                issued: forecast.issued,
                target: p.time,
                lead_hours: p.lead_hours,
                predicted: p.indoor,
                uncorrected: p.uncorrected,
            }));
    }

    /// Scores every pending point whose target time has come with the reading `actual` taken at
    /// `time`; points whose window passed without a reading are dropped unscored.
    pub fn observe(&mut self, time: Timestamp, actual: f64, outdoor: f64) -> Vec<AccuracyRecord> {
        let mut scored = Vec::new();
        self.pending.retain(|p| {
            if p.target > time {
                return true;
            }
            if (time - p.target).get_seconds() <= SCORE_WINDOW_SECONDS {
                scored.push(AccuracyRecord {
                    issued: p.issued,
                    target: p.target,
                    lead_hours: p.lead_hours,
                    predicted: p.predicted,
                    uncorrected: p.uncorrected,
                    actual,
                    outdoor,
                });
            }
            false
        });
        scored
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// Mean absolute error by whole lead hour.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeadAccuracy {
    by_lead: BTreeMap<i64, (f64, u64)>,
}

impl LeadAccuracy {
    pub fn add(&mut self, lead_hours: f64, error: f64) {
        let entry = self.by_lead.entry(lead_hours.round() as i64).or_default();
        entry.0 += error.abs();
        entry.1 += 1;
    }

    /// MAE at `lead` hours, `None` when nothing was scored there.
    pub fn mae(&self, lead: i64) -> Option<f64> {
        self.by_lead.get(&lead).map(|(sum, n)| sum / *n as f64)
    }

    pub fn count(&self, lead: i64) -> u64 {
        self.by_lead.get(&lead).map_or(0, |e| e.1)
    }
}
