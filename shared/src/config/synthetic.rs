//! The synthetic source: deterministic points at a configured rate, for tests, benchmarks and
//! the demo. Its fault knobs make a worker misbehave on purpose, so supervision can be exercised.

use serde::{Deserialize, Serialize};

use super::{check_positive, Problems};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticConfig {
    /// Time between batches.
    #[serde(default = "SyntheticConfig::default_interval")]
    pub interval_ms: u64,
    /// Points per batch; each point has its own timestamp, 1 ms apart.
    #[serde(default = "SyntheticConfig::default_batch")]
    pub points_per_batch: u32,
    /// Number of series (tag `series` = 0..n), taken in turn.
    #[serde(default = "SyntheticConfig::default_series")]
    pub series: u32,
    /// Fault injection: exit with status 3 after this many milliseconds.
    #[serde(default)]
    pub exit_after_ms: Option<u64>,
    /// Fault injection: stop sending heartbeats (and points) after this many milliseconds.
    #[serde(default)]
    pub hang_after_ms: Option<u64>,
    /// Fault injection: write one line that is not JSON after every batch.
    #[serde(default)]
    pub garbage: bool,
    /// Fault injection: write one line of this many bytes at start.
    #[serde(default)]
    pub huge_line_bytes: Option<usize>,
    /// Fault injection: leave a child process behind at start (it sleeps this long), to prove
    /// that the orchestrator reaps orphans as PID 1.
    #[serde(default)]
    pub orphan_child_secs: Option<u64>,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            interval_ms: Self::default_interval(),
            points_per_batch: Self::default_batch(),
            series: Self::default_series(),
            exit_after_ms: None,
            hang_after_ms: None,
            garbage: false,
            huge_line_bytes: None,
            orphan_child_secs: None,
        }
    }
}

impl SyntheticConfig {
    fn default_interval() -> u64 {
        1000
    }
    fn default_batch() -> u32 {
        1
    }
    fn default_series() -> u32 {
        1
    }

    pub(crate) fn validate(&self, at: &str, problems: &mut Problems) {
        check_positive(self.interval_ms, &format!("{at}.interval_ms"), problems);
        check_positive(
            self.points_per_batch.into(),
            &format!("{at}.points_per_batch"),
            problems,
        );
        check_positive(self.series.into(), &format!("{at}.series"), problems);
    }
}
