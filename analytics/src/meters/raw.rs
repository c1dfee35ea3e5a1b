//! The definitions files as written: the seed's keys, and hemflux's additions (marked).

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub meters: Vec<RawMeter>,
    /// hemflux: the zone days and months are counted in.
    pub timezone: Option<String>,
    /// hemflux: no output before this date (the seed's `start_year`).
    pub start_date: Option<String>,
    /// The seed's `config.yaml` block, accepted here too.
    pub gas_conversion: Option<RawGas>,
    /// hemflux: anomaly thresholds for every meter.
    #[serde(default)]
    pub anomaly: RawThresholds,
    /// hemflux: interpolation settings.
    pub interpolation: Option<RawInterpolation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGas {
    pub energy_content: f64,
    pub z_factor: f64,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThresholds {
    pub spike_mad: Option<f64>,
    pub spike_iqr: Option<f64>,
    pub stuck_days: Option<usize>,
    pub long_gap_days: Option<f64>,
    pub reset_ratio: Option<f64>,
    pub max_rate_per_h: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInterpolation {
    pub seasonal_min_gap_days: Option<f64>,
    pub extrapolation_basis_days: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawKind {
    Physical,
    Master,
    Virtual,
}

impl RawKind {
    pub fn name(self) -> &'static str {
        match self {
            RawKind::Physical => "physical",
            RawKind::Master => "master",
            RawKind::Virtual => "virtual",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMeter {
    pub meter_id: String,
    #[serde(rename = "type")]
    pub kind: RawKind,
    pub output_unit: String,
    #[serde(default)]
    pub description: String,
    pub installation_date: Option<String>,
    pub deinstallation_date: Option<String>,
    pub periods: Option<Vec<RawPeriod>>,
    pub calculation_type: Option<String>,
    pub base_meter: Option<String>,
    #[serde(default)]
    pub subtract_meters: Vec<String>,
    #[serde(default)]
    pub subtract_meter_conversions: BTreeMap<String, RawConversion>,
    /// hemflux: a virtual meter as Σ coef·meter.
    pub terms: Option<Vec<RawTerm>>,
    /// hemflux: the unit readings come in, if not `output_unit`.
    pub reading_unit: Option<String>,
    /// hemflux: where the readings are stored (default: Home Assistant's schema).
    pub series: Option<RawSeries>,
    /// hemflux: replacements under the same id.
    #[serde(default)]
    pub replacements: Vec<RawSwap>,
    /// hemflux: 12 monthly percentages, overriding the patterns file.
    pub seasonal: Option<Vec<f64>>,
    /// hemflux: this meter's anomaly thresholds.
    #[serde(default)]
    pub anomaly: RawThresholds,
}

impl RawMeter {
    /// Keys present that this type of meter does not use.
    pub fn misplaced_keys(&self) -> Vec<&'static str> {
        let physical = [
            ("installation_date", self.installation_date.is_some()),
            ("deinstallation_date", self.deinstallation_date.is_some()),
            ("reading_unit", self.reading_unit.is_some()),
            ("series", self.series.is_some()),
            ("replacements", !self.replacements.is_empty()),
        ];
        let master = [("periods", self.periods.is_some())];
        let virtual_keys = [
            ("calculation_type", self.calculation_type.is_some()),
            ("base_meter", self.base_meter.is_some()),
            ("subtract_meters", !self.subtract_meters.is_empty()),
            (
                "subtract_meter_conversions",
                !self.subtract_meter_conversions.is_empty(),
            ),
            ("terms", self.terms.is_some()),
        ];
        let mut out = Vec::new();
        let mut foreign = |keys: &[(&'static str, bool)], own: bool| {
            if !own {
                out.extend(keys.iter().filter(|k| k.1).map(|k| k.0));
            }
        };
        foreign(&physical, self.kind == RawKind::Physical);
        foreign(&master, self.kind == RawKind::Master);
        foreign(&virtual_keys, self.kind == RawKind::Virtual);
        out
    }

    /// The meters this one is built from, with the key that names each.
    pub fn references(&self) -> Vec<(&'static str, &str)> {
        let mut out: Vec<(&'static str, &str)> = Vec::new();
        for p in self.periods.iter().flatten() {
            out.extend(p.source_meters.iter().map(|s| ("periods", s.as_str())));
        }
        out.extend(self.base_meter.iter().map(|s| ("base_meter", s.as_str())));
        out.extend(
            self.subtract_meters
                .iter()
                .map(|s| ("subtract_meters", s.as_str())),
        );
        for t in self.terms.iter().flatten() {
            out.push(("terms", t.meter.as_str()));
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawComposition {
    Single,
    Sum,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPeriod {
    pub start_date: String,
    pub end_date: String,
    pub composition_type: RawComposition,
    pub source_meters: Vec<String>,
    pub source_unit: Option<String>,
    #[serde(default)]
    pub apply_offset_from_previous_period: bool,
    /// hemflux: the registers written down at the swap that starts this period.
    pub swap: Option<RawPeriodSwap>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPeriodSwap {
    pub at: Option<String>,
    pub old_final: f64,
    pub new_start: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConversion {
    pub from_unit: String,
    pub to_unit: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTerm {
    pub meter: String,
    pub coef: f64,
    pub convert: Option<RawConversion>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSeries {
    pub measurement: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub field: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSwap {
    pub at: String,
    pub old_final: f64,
    pub new_start: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPatterns {
    pub patterns: BTreeMap<String, RawPattern>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPattern {
    pub monthly_percentages: Vec<f64>,
    /// Accepted for the seed's files; hemflux does not use it.
    #[serde(default)]
    #[allow(dead_code)]
    pub description: String,
}
