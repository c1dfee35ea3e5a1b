//! Meter analytics: readings in, consumption out.
//!
//! Definitions come from the seed's `meters.yaml` / `seasonal_patterns.yaml` plus hemflux's
//! additions ([`parse`]). A [`run`] turns each physical meter's irregular cumulative readings
//! into a continuous register on a grid of local midnights (replacements continue the count,
//! gaps are filled linearly or along a seasonal pattern, the ends are extrapolated), composes
//! masters and virtual meters on that grid, and reports consumption per day, month and year
//! (differences of one register, so they add up), how every value was obtained, and typed
//! flags. A run resumes from the [`State`] the previous one left.

mod anomaly;
mod calendar;
mod compose;
mod consumption;
mod definition;
mod flags;
mod locate;
pub mod packed;
mod parse;
mod pattern;
mod raw;
pub mod records;
mod register;
mod resample;
mod run;
mod series;
pub mod synth;
mod units;

pub use anomaly::DayFlag;
pub use calendar::{date_of, midnight, DayGrid, Period, Ts};
pub use consumption::Usage;
pub use definition::{
    Interpolation, Kind, Master, MasterPeriod, Meter, MeterSet, Physical, Series, Swap, Thresholds,
    Virtual,
};
pub use flags::FlagKind;
pub use parse::{parse, DefinitionError, Source};
pub use pattern::Pattern;
pub use register::Reading;
pub use run::{grid_origin, run, Changes, MeterOutput, MeterState, State};
pub use series::{Provenance, RegisterSeries, Sample};
pub use units::SEED_GAS_KWH_PER_M3;
