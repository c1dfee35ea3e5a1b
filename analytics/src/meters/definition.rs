//! The meter set after parsing and validation: every reference resolved to an index, every
//! date turned into an instant of the set's time zone, every unit into a factor.

use jiff::tz::TimeZone;

use super::calendar::Ts;
use super::pattern::Pattern;

#[derive(Debug, Clone)]
pub struct MeterSet {
    /// Days, months and years are counted in this zone (default UTC, like the seed).
    pub tz: TimeZone,
    /// No output before this local midnight (the seed's `start_year`); `None`: from each
    /// meter's installation or first reading.
    pub start: Option<Ts>,
    pub interpolation: Interpolation,
    /// In dependency order: every meter comes after the meters it is built from.
    pub meters: Vec<Meter>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interpolation {
    /// Gaps between readings shorter than this are filled linearly even with a pattern.
    pub seasonal_min_gap_days: f64,
    /// The rate used to extrapolate is measured over this many days next to the last (first)
    /// reading.
    pub extrapolation_basis_days: f64,
}

impl Default for Interpolation {
    fn default() -> Self {
        Interpolation {
            seasonal_min_gap_days: 7.0,
            extrapolation_basis_days: 30.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// `spike`: a day above median + k·MAD (scaled to σ) of its class (month × weekday/weekend).
    pub spike_mad: f64,
    /// `spike` second gate (CalTRACK's data rule): also above Q3 + k·IQR of the class.
    pub spike_iqr: f64,
    /// `stuck`: this many zero days in a row where the class median is above zero.
    pub stuck_days: usize,
    /// `long_gap`: a value estimated between readings further apart than this.
    pub long_gap_days: f64,
    /// A reading below this share of the previous one is a reset (Home Assistant's rule): the
    /// register restarts from zero and counting goes on.
    pub reset_ratio: f64,
    /// `implausible_rate`: more than this per hour between two readings.
    pub max_rate_per_h: Option<f64>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            spike_mad: 5.0,
            spike_iqr: 3.0,
            stuck_days: 7,
            long_gap_days: 35.0,
            reset_ratio: 0.9,
            max_rate_per_h: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Meter {
    pub id: String,
    pub description: String,
    pub unit: String,
    pub thresholds: Thresholds,
    pub pattern: Option<Pattern>,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Physical(Physical),
    Master(Master),
    Virtual(Virtual),
}

#[derive(Debug, Clone)]
pub struct Physical {
    pub installed: Option<Ts>,
    pub removed: Option<Ts>,
    /// Multiplies a reading into the meter's unit (readings in m³, output in kWh, ...).
    pub reading_factor: f64,
    /// Replacements under the same id, in time order, in reading units.
    pub swaps: Vec<Swap>,
    /// Where the readings are stored.
    pub series: Series,
}

/// A meter replaced at `at`: the old meter's last reading and the new meter's first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Swap {
    pub at: Ts,
    pub old_final: f64,
    pub new_start: f64,
}

/// A stored series: measurement, tags that select it, and the field holding the register.
/// Home Assistant's schema by default: measurement = unit, tag `entity_id` = meter id, `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub measurement: String,
    pub tags: Vec<(String, String)>,
    pub field: String,
}

#[derive(Debug, Clone)]
pub struct Master {
    pub periods: Vec<MasterPeriod>,
}

#[derive(Debug, Clone)]
pub struct MasterPeriod {
    /// Where the period begins: the first period at its start date, a later one at the swap.
    pub from: Ts,
    /// The end of the last period (exclusive); `None` while open.
    pub until: Option<Ts>,
    /// Physical meters (indices into `MeterSet::meters`) and their factor into the master's unit.
    pub sources: Vec<(usize, f64)>,
    /// Continue the previous period's register (the seed's `apply_offset_from_previous_period`).
    pub continue_register: bool,
    /// The registers at the swap, if the fitter wrote them down: (old sum, new sum), master units.
    pub swap_readings: Option<(f64, f64)>,
}

#[derive(Debug, Clone)]
pub struct Virtual {
    /// V = Σ coef · V(meter); the coefficient includes the unit factor.
    pub terms: Vec<(usize, f64)>,
}

impl MeterSet {
    pub fn index(&self, id: &str) -> Option<usize> {
        self.meters.iter().position(|m| m.id == id)
    }

    /// The meters built from meter `i` (directly).
    pub fn dependents(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.meters.iter().enumerate().filter_map(move |(j, m)| {
            let uses = match &m.kind {
                Kind::Physical(_) => false,
                Kind::Master(ms) => ms
                    .periods
                    .iter()
                    .any(|p| p.sources.iter().any(|s| s.0 == i)),
                Kind::Virtual(v) => v.terms.iter().any(|t| t.0 == i),
            };
            uses.then_some(j)
        })
    }
}
