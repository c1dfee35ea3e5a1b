//! A meter's register on the day grid, and how each value was obtained.

use serde::{Deserialize, Serialize};

use super::calendar::Ts;

/// How a value was obtained, from best to worst; a value built from several (a master, a
/// virtual meter, a day's consumption) takes the worst of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provenance {
    /// A reading at that instant.
    Measured,
    /// Linear between the readings around it.
    Linear,
    /// Along the seasonal pattern between the readings around it.
    Seasonal,
    /// Beyond the first or last reading, at the recent rate.
    Extrapolated,
}

impl Provenance {
    pub fn as_str(self) -> &'static str {
        match self {
            Provenance::Measured => "measured",
            Provenance::Linear => "linear",
            Provenance::Seasonal => "seasonal",
            Provenance::Extrapolated => "extrapolated",
        }
    }
}

/// One value of a register: at a grid instant, or at an extra instant a master needs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub t: Ts,
    /// NaN where the meter has no value (outside its life, a missing source); `null` in JSON.
    #[serde(with = "nan_as_null")]
    pub value: f64,
    pub provenance: Provenance,
    /// Days between the readings around an interpolated value (0 when measured).
    pub gap_days: f32,
}

impl Sample {
    pub fn missing(t: Ts) -> Self {
        Sample {
            t,
            value: f64::NAN,
            provenance: Provenance::Extrapolated,
            gap_days: 0.0,
        }
    }
}

/// A register on the day grid: entry `i` is its value at the midnight that starts day `i`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegisterSeries {
    pub samples: Vec<Sample>,
}

impl RegisterSeries {
    pub fn value(&self, i: usize) -> f64 {
        self.samples.get(i).map_or(f64::NAN, |s| s.value)
    }
}

/// JSON has no NaN: a missing value is written as `null` and read back as NaN.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}
