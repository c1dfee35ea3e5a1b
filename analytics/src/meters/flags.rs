//! Typed anomaly flags, each with a reason a person can check.

use serde::{Deserialize, Serialize};

use super::calendar::Ts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    /// A day far above the usual for its month and day type.
    Spike,
    /// The register went back (a small fall kept, or a reset counted on from zero).
    NegativeDelta,
    /// More per hour between two readings than the meter can deliver.
    ImplausibleRate,
    /// Days without consumption where the meter usually counts.
    Stuck,
    /// A virtual meter fell: its sub-meters counted more than the main meter.
    NegativeResidual,
    /// A value estimated between readings far apart.
    LongGap,
    /// A value beyond the first or last reading.
    Extrapolated,
}

impl FlagKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FlagKind::Spike => "spike",
            FlagKind::NegativeDelta => "negative_delta",
            FlagKind::ImplausibleRate => "implausible_rate",
            FlagKind::Stuck => "stuck",
            FlagKind::NegativeResidual => "negative_residual",
            FlagKind::LongGap => "long_gap",
            FlagKind::Extrapolated => "extrapolated",
        }
    }
}

/// A flag at an instant (a reading) before it is assigned to its day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub t: Ts,
    pub kind: FlagKind,
    pub reason: String,
}

impl Flag {
    pub fn at(t: Ts, kind: FlagKind, reason: String) -> Self {
        Flag { t, kind, reason }
    }
}
