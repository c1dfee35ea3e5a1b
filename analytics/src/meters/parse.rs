//! Reads the seed's `meters.yaml` and `seasonal_patterns.yaml` as they are, plus hemflux's
//! additions, and validates them: every problem names file, line, field path and what is wrong.

use std::collections::HashMap;

use hemflux_shared::config::place;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::de::DeserializeOwned;

use super::calendar::{midnight, Ts};
use super::definition::{
    Interpolation, Kind, Master, MasterPeriod, Meter, MeterSet, Physical, Series, Swap, Thresholds,
    Virtual,
};
use super::locate::Locator;
use super::pattern::Pattern;
use super::raw::*;
use super::units;

/// One problem in a definitions file: `file[:line:column][: path]: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", place(.line, .column.max(&1), .path))]
pub struct DefinitionError {
    pub file: String,
    /// 1-based; 0 when the problem has no single place.
    pub line: usize,
    pub column: usize,
    /// Such as `meters[3].periods[1].source_meters`; empty for the whole file.
    pub path: String,
    pub message: String,
}

/// A file's name (for messages) and its text.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

/// Parses a meters file and, if given, a seasonal patterns file.
pub fn parse(meters: Source, patterns: Option<Source>) -> Result<MeterSet, Vec<DefinitionError>> {
    let raw: RawFile = deserialize(meters).map_err(|e| vec![e])?;
    let raw_patterns: Option<RawPatterns> = match patterns {
        Some(p) => Some(deserialize(p).map_err(|e| vec![e])?),
        None => None,
    };
    let mut b = Builder {
        file: meters.name,
        loc: Locator::new(meters.text),
        errors: Vec::new(),
        tz: TimeZone::UTC,
    };
    let set = b.build(&raw, raw_patterns.as_ref().zip(patterns));
    if b.errors.is_empty() {
        Ok(set)
    } else {
        Err(b.errors)
    }
}

fn deserialize<T: DeserializeOwned>(src: Source) -> Result<T, DefinitionError> {
    serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(src.text)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let (line, column) = inner.location().map_or((0, 0), |l| (l.line(), l.column()));
        // serde_yaml appends " at line L column C": the location is already in front.
        let message = inner.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message);
        // ... and starts with the path, which is printed on its own.
        let message = message
            .strip_prefix(&format!("{path}: "))
            .unwrap_or(message)
            .to_string();
        DefinitionError {
            file: src.name.to_string(),
            line,
            column,
            path: if path == "." { String::new() } else { path },
            message,
        }
    })
}

struct Builder<'a> {
    file: &'a str,
    loc: Locator<'a>,
    errors: Vec<DefinitionError>,
    tz: TimeZone,
}

impl Builder<'_> {
    fn error(&mut self, line: usize, path: String, message: impl Into<String>) {
        self.errors.push(DefinitionError {
            file: self.file.to_string(),
            line,
            column: 0,
            path,
            message: message.into(),
        });
    }

    /// An error about `key` of meter entry `n`.
    fn meter_error(&mut self, n: usize, key: &str, sub: &str, message: impl Into<String>) {
        // `[k].field` under a list: the line of item k.
        let item = sub
            .strip_prefix('[')
            .and_then(|r| r.split(']').next()?.parse().ok());
        let line = match item {
            Some(k) => self.loc.item(n, key, k),
            None => self.loc.key(n, key),
        };
        self.error(line, format!("meters[{n}].{key}{sub}"), message);
    }

    fn build(&mut self, raw: &RawFile, patterns: Option<(&RawPatterns, Source)>) -> MeterSet {
        if let Some(name) = &raw.timezone {
            match TimeZone::get(name) {
                Ok(tz) => self.tz = tz,
                Err(_) => {
                    let line = self.loc.first("timezone");
                    self.error(
                        line,
                        "timezone".into(),
                        format!("unknown time zone {name:?} (an IANA name such as Europe/Berlin)"),
                    );
                }
            }
        }
        let start = raw
            .start_date
            .as_deref()
            .and_then(|s| match self.instant(s) {
                Ok(t) => t,
                Err(e) => {
                    let line = self.loc.first("start_date");
                    self.error(line, "start_date".into(), e);
                    None
                }
            });
        let gas = match &raw.gas_conversion {
            Some(g) if g.energy_content > 0.0 && g.z_factor > 0.0 => g.energy_content * g.z_factor,
            Some(_) => {
                let line = self.loc.first("gas_conversion");
                self.error(
                    line,
                    "gas_conversion".into(),
                    "energy_content and z_factor must be > 0",
                );
                units::SEED_GAS_KWH_PER_M3
            }
            None => units::SEED_GAS_KWH_PER_M3,
        };
        let defaults = raw.anomaly.over(Thresholds::default());
        let interpolation = raw
            .interpolation
            .as_ref()
            .map_or_else(Interpolation::default, |i| Interpolation {
                seasonal_min_gap_days: i.seasonal_min_gap_days.unwrap_or(7.0),
                extrapolation_basis_days: i.extrapolation_basis_days.unwrap_or(30.0),
            });

        let order = self.order(&raw.meters);
        let patterns = self.patterns(&raw.meters, patterns);
        let mut meters: Vec<Meter> = Vec::with_capacity(order.len());
        let mut final_index: HashMap<&str, usize> = HashMap::new();
        for n in order {
            let m = &raw.meters[n];
            let mut thresholds = m.anomaly.over(defaults);
            if let Err(e) = check_thresholds(&thresholds) {
                self.meter_error(n, "anomaly", "", e);
            }
            if thresholds.max_rate_per_h.is_none() {
                thresholds.max_rate_per_h = units::default_max_rate_per_h(&m.output_unit);
            }
            let pattern = match &m.seasonal {
                Some(p) => Pattern::from_percentages(p)
                    .map_err(|e| self.meter_error(n, "seasonal", "", e))
                    .ok(),
                None => patterns.get(m.meter_id.as_str()).cloned(),
            };
            let built = Built {
                meters: &meters,
                index: &final_index,
                gas,
            };
            let kind = match m.kind {
                RawKind::Physical => Kind::Physical(self.physical(n, m)),
                RawKind::Master => Kind::Master(self.master(n, m, &built)),
                RawKind::Virtual => Kind::Virtual(self.virtual_meter(n, m, &built)),
            };
            final_index.insert(&m.meter_id, meters.len());
            meters.push(Meter {
                id: m.meter_id.clone(),
                description: m.description.clone(),
                unit: m.output_unit.clone(),
                thresholds,
                pattern,
                kind,
            });
        }
        MeterSet {
            tz: self.tz.clone(),
            start,
            interpolation,
            meters,
        }
    }

    /// Checks ids and the keys each type allows, and returns the entries in dependency order
    /// (unknown references and cycles are errors; their meters are left out).
    fn order(&mut self, meters: &[RawMeter]) -> Vec<usize> {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (n, m) in meters.iter().enumerate() {
            if m.meter_id.trim().is_empty() {
                self.meter_error(n, "meter_id", "", "is empty");
            }
            if let Some(first) = seen.insert(&m.meter_id, n) {
                self.meter_error(
                    n,
                    "meter_id",
                    "",
                    format!("{:?} is already the id of meters[{first}]", m.meter_id),
                );
            }
            if !units::is_known(&m.output_unit) {
                self.meter_error(
                    n,
                    "output_unit",
                    "",
                    format!("unknown unit {:?} (Wh, kWh, MWh, GJ, m³, l)", m.output_unit),
                );
            }
            for key in m.misplaced_keys() {
                self.meter_error(
                    n,
                    key,
                    "",
                    format!("is not a key of a {} meter", m.kind.name()),
                );
            }
        }
        let mut placed: Vec<usize> = Vec::new();
        let mut pending: Vec<usize> = (0..meters.len()).collect();
        loop {
            let before = pending.len();
            pending.retain(|&n| {
                let ready = meters[n]
                    .references()
                    .iter()
                    .all(|(_, id)| seen.get(id).is_some_and(|&d| placed.contains(&d)));
                if ready {
                    placed.push(n);
                }
                !ready
            });
            if pending.len() == before {
                break;
            }
        }
        let unknown = |m: &RawMeter| -> Vec<(&'static str, String)> {
            m.references()
                .into_iter()
                .filter(|(_, id)| !seen.contains_key(id))
                .map(|(k, id)| (k, id.to_string()))
                .collect()
        };
        let any_unknown = pending.iter().any(|&n| !unknown(&meters[n]).is_empty());
        for &n in &pending {
            let m = &meters[n];
            for (key, id) in unknown(m) {
                let line = self.loc.value(n, key, &id);
                self.error(
                    line,
                    format!("meters[{n}].{key}"),
                    format!("no meter has the id {id:?}"),
                );
            }
            // Left over with every reference known and none unknown anywhere: a cycle.
            if !any_unknown {
                self.meter_error(
                    n,
                    "meter_id",
                    "",
                    format!("{:?} depends on itself through other meters", m.meter_id),
                );
            }
        }
        placed
    }

    fn patterns(
        &mut self,
        meters: &[RawMeter],
        patterns: Option<(&RawPatterns, Source)>,
    ) -> HashMap<String, Pattern> {
        let mut out = HashMap::new();
        let Some((raw, src)) = patterns else {
            return out;
        };
        let loc = Locator::new(src.text);
        for (id, p) in &raw.patterns {
            let problem = if !meters.iter().any(|m| &m.meter_id == id) {
                Err(format!("no meter has the id {id:?}"))
            } else {
                Pattern::from_percentages(&p.monthly_percentages)
            };
            match problem {
                Ok(pattern) => {
                    out.insert(id.clone(), pattern);
                }
                Err(message) => self.errors.push(DefinitionError {
                    file: src.name.to_string(),
                    line: loc.first(id),
                    column: 0,
                    path: format!("patterns.{id}"),
                    message,
                }),
            }
        }
        out
    }

    fn physical(&mut self, n: usize, m: &RawMeter) -> Physical {
        let installed = self.date_key(
            n,
            "installation_date",
            m.installation_date.as_deref(),
            false,
        );
        let removed = self.date_key(
            n,
            "deinstallation_date",
            m.deinstallation_date.as_deref(),
            true, // like a period's end_date, the removal date is the last day
        );
        if let (Some(a), Some(b)) = (installed, removed) {
            if b <= a {
                self.meter_error(
                    n,
                    "deinstallation_date",
                    "",
                    "is not after installation_date",
                );
            }
        }
        let reading_unit = m
            .reading_unit
            .clone()
            .unwrap_or_else(|| m.output_unit.clone());
        let reading_factor =
            match units::factor(&reading_unit, &m.output_unit, units::SEED_GAS_KWH_PER_M3) {
                Some(f)
                    if units::same_family(&reading_unit, &m.output_unit)
                        || reading_unit == m.output_unit =>
                {
                    f
                }
                _ => {
                    self.meter_error(
                        n,
                        "reading_unit",
                        "",
                        format!("cannot convert {reading_unit:?} into {:?}", m.output_unit),
                    );
                    1.0
                }
            };
        let mut swaps = Vec::new();
        for (k, s) in m.replacements.iter().enumerate() {
            match self.instant(&s.at) {
                Ok(Some(at)) => {
                    let inside = installed.is_none_or(|i| at > i) && removed.is_none_or(|r| at < r);
                    let ordered = swaps.last().is_none_or(|p: &Swap| p.at < at);
                    if !inside || !ordered {
                        self.meter_error(
                            n,
                            "replacements",
                            &format!("[{k}].at"),
                            "must lie inside the meter's life, after the previous replacement",
                        );
                    }
                    swaps.push(Swap {
                        at,
                        old_final: s.old_final,
                        new_start: s.new_start,
                    });
                }
                Ok(None) => self.meter_error(
                    n,
                    "replacements",
                    &format!("[{k}].at"),
                    "cannot be open-ended",
                ),
                Err(e) => self.meter_error(n, "replacements", &format!("[{k}].at"), e),
            }
        }
        let raw = m.series.clone().unwrap_or_default();
        let series = Series {
            measurement: raw.measurement.unwrap_or(reading_unit),
            tags: if raw.tags.is_empty() {
                vec![("entity_id".to_string(), m.meter_id.clone())]
            } else {
                raw.tags.into_iter().collect()
            },
            field: raw.field.unwrap_or_else(|| "value".to_string()),
        };
        Physical {
            installed,
            removed,
            reading_factor,
            swaps,
            series,
        }
    }

    fn master(&mut self, n: usize, m: &RawMeter, built: &Built) -> Master {
        let raw_periods = m.periods.as_deref().unwrap_or_default();
        if raw_periods.is_empty() {
            self.meter_error(n, "periods", "", "a master meter needs at least one period");
        }
        let mut periods: Vec<MasterPeriod> = Vec::new();
        for (k, p) in raw_periods.iter().enumerate() {
            let at = |field: &str| format!("[{k}].{field}");
            let start = self.date_key(n, "periods", Some(&p.start_date), false);
            let end = self.date_key(n, "periods", Some(&p.end_date), true);
            let Some(start) = start else {
                self.meter_error(n, "periods", &at("start_date"), "cannot be open-ended");
                continue;
            };
            if end.is_some_and(|e| e <= start) {
                self.meter_error(n, "periods", &at("end_date"), "is before start_date");
            }
            let single = p.composition_type == RawComposition::Single;
            if p.source_meters.is_empty() || (single && p.source_meters.len() != 1) {
                self.meter_error(
                    n,
                    "periods",
                    &at("source_meters"),
                    "`single` takes one source meter, `sum` one or more",
                );
            }
            let mut sources = Vec::new();
            for id in &p.source_meters {
                let Some((i, source)) = built.get(id) else {
                    continue;
                };
                let unit = p.source_unit.as_deref().unwrap_or(&source.unit);
                if !matches!(source.kind, Kind::Physical(_)) {
                    self.meter_error(
                        n,
                        "periods",
                        &at("source_meters"),
                        format!("{id:?} is not a physical meter"),
                    );
                } else if unit != source.unit {
                    self.meter_error(
                        n,
                        "periods",
                        &at("source_unit"),
                        format!("{id:?} counts in {:?}", source.unit),
                    );
                } else if let Some(f) = units::factor(unit, &m.output_unit, built.gas) {
                    sources.push((i, f));
                } else {
                    self.meter_error(
                        n,
                        "periods",
                        &at("source_unit"),
                        format!("cannot convert {unit:?} into {:?}", m.output_unit),
                    );
                }
            }
            let mut from = start;
            if let Some(prev) = periods.last_mut() {
                if prev.until.is_none_or(|u| u > start) {
                    self.meter_error(
                        n,
                        "periods",
                        &at("start_date"),
                        "overlaps the previous period",
                    );
                }
                from = swap_instant(prev, start, built.meters);
                prev.until = Some(from);
            } else if p.apply_offset_from_previous_period || p.swap.is_some() {
                self.meter_error(
                    n,
                    "periods",
                    &at("apply_offset_from_previous_period"),
                    "the first period has no previous one",
                );
            }
            let mut swap_readings = None;
            if let Some(s) = &p.swap {
                if let Some(t) = s.at.as_deref() {
                    match self.instant(t) {
                        Ok(Some(t)) => {
                            from = t;
                            if let Some(prev) = periods.last_mut() {
                                prev.until = Some(t);
                            }
                        }
                        _ => self.meter_error(n, "periods", &at("swap.at"), "is not an instant"),
                    }
                }
                swap_readings = Some((s.old_final, s.new_start));
            }
            periods.push(MasterPeriod {
                from,
                until: end,
                sources,
                continue_register: p.apply_offset_from_previous_period,
                swap_readings,
            });
        }
        Master { periods }
    }

    fn virtual_meter(&mut self, n: usize, m: &RawMeter, built: &Built) -> Virtual {
        let declared: Vec<(String, f64, Option<RawConversion>)> = match (&m.terms, &m.base_meter) {
            (Some(terms), None) => terms
                .iter()
                .map(|t| (t.meter.clone(), t.coef, t.convert.clone()))
                .collect(),
            (None, Some(base)) => {
                if m.calculation_type
                    .as_deref()
                    .is_some_and(|c| c != "subtraction")
                {
                    self.meter_error(
                        n,
                        "calculation_type",
                        "",
                        "only `subtraction` (or hemflux's `terms`)",
                    );
                }
                std::iter::once((base.clone(), 1.0, None))
                    .chain(m.subtract_meters.iter().map(|s| {
                        (
                            s.clone(),
                            -1.0,
                            m.subtract_meter_conversions.get(s).cloned(),
                        )
                    }))
                    .collect()
            }
            _ => {
                self.meter_error(
                    n,
                    "base_meter",
                    "",
                    "a virtual meter needs either base_meter (+ subtract_meters) or terms",
                );
                Vec::new()
            }
        };
        let mut terms = Vec::new();
        for (id, coef, convert) in declared {
            let Some((i, source)) = built.get(&id) else {
                continue;
            };
            let unit = &source.unit;
            if let Some(c) = &convert {
                if &c.from_unit != unit || c.to_unit != m.output_unit {
                    self.meter_error(
                        n,
                        "subtract_meter_conversions",
                        "",
                        format!(
                            "{id:?} counts in {unit:?} and this meter in {:?}",
                            m.output_unit
                        ),
                    );
                }
            }
            match units::factor(unit, &m.output_unit, built.gas) {
                Some(f) if convert.is_some() || units::same_family(unit, &m.output_unit) => {
                    terms.push((i, coef * f))
                }
                _ => self.meter_error(
                    n,
                    "subtract_meters",
                    "",
                    format!(
                        "{id:?} counts in {unit:?}, this meter in {:?}: declare the conversion",
                        m.output_unit
                    ),
                ),
            }
        }
        Virtual { terms }
    }

    /// A date or instant under meter `n`'s `key`, reported there when wrong.
    fn date_key(
        &mut self,
        n: usize,
        key: &str,
        value: Option<&str>,
        inclusive_end: bool,
    ) -> Option<Ts> {
        let value = value?;
        let parsed = if inclusive_end {
            self.end_instant(value)
        } else {
            self.instant(value)
        };
        parsed.unwrap_or_else(|e| {
            self.meter_error(n, key, "", e);
            None
        })
    }

    /// `2024-11-27` (local midnight), a local date-time, or an RFC 3339 instant; the seed's
    /// `9999-12-31` means open.
    fn instant(&self, s: &str) -> Result<Option<Ts>, String> {
        if s.starts_with("9999-12-31") {
            return Ok(None);
        }
        if let Ok(t) = s.parse::<Timestamp>() {
            return Ok(Some(t.as_second()));
        }
        if let Ok(dt) = s.parse::<DateTime>() {
            return dt
                .to_zoned(self.tz.clone())
                .map(|z| Some(z.timestamp().as_second()))
                .map_err(|e| e.to_string());
        }
        match s.parse::<Date>() {
            Ok(d) => Ok(Some(midnight(d, &self.tz))),
            Err(_) => Err(format!(
                "{s:?} is not a date (2024-11-27), a date-time or an RFC 3339 instant"
            )),
        }
    }

    /// Like `instant`, but a date means the end of that day (the seed's inclusive `end_date`).
    fn end_instant(&self, s: &str) -> Result<Option<Ts>, String> {
        match s.parse::<Date>() {
            Ok(d) if !s.starts_with("9999-12-31") => Ok(Some(midnight(
                d.tomorrow().map_err(|e| e.to_string())?,
                &self.tz,
            ))),
            _ => self.instant(s),
        }
    }
}

/// The meters built so far (a meter's sources are built before it) and the gas conversion
/// factor: what master and virtual meters are built from.
struct Built<'m> {
    meters: &'m [Meter],
    index: &'m HashMap<&'m str, usize>,
    gas: f64,
}

impl Built<'_> {
    /// Meter `id`'s position and definition, if it is built.
    fn get(&self, id: &str) -> Option<(usize, &Meter)> {
        let &i = self.index.get(id)?;
        Some((i, &self.meters[i]))
    }
}

/// Where a master switches to its next period when no instant is written down: when every
/// source of the ending period has been removed by the new period's start, at the last removal
/// (the fitter swapped the meters then); otherwise at the new period's start.
fn swap_instant(prev: &MasterPeriod, next_start: Ts, built: &[Meter]) -> Ts {
    let removals: Option<Vec<Ts>> = prev
        .sources
        .iter()
        .map(|&(i, _)| match &built[i].kind {
            Kind::Physical(p) => p.removed,
            _ => None,
        })
        .collect();
    match removals.and_then(|r| r.into_iter().max()) {
        Some(r) if r > prev.from && r <= next_start => r,
        _ => next_start,
    }
}

fn check_thresholds(t: &Thresholds) -> Result<(), String> {
    let positive = |v: f64| v.is_finite() && v > 0.0;
    let all_positive = [t.spike_mad, t.spike_iqr, t.long_gap_days]
        .into_iter()
        .all(positive)
        && t.max_rate_per_h.is_none_or(positive);
    if !all_positive {
        return Err("spike_mad, spike_iqr, long_gap_days and max_rate_per_h must be > 0".into());
    }
    if t.stuck_days == 0 || !positive(t.reset_ratio) || t.reset_ratio > 1.0 {
        return Err("stuck_days must be >= 1 and reset_ratio in (0, 1]".into());
    }
    Ok(())
}

impl RawThresholds {
    fn over(&self, base: Thresholds) -> Thresholds {
        Thresholds {
            spike_mad: self.spike_mad.unwrap_or(base.spike_mad),
            spike_iqr: self.spike_iqr.unwrap_or(base.spike_iqr),
            stuck_days: self.stuck_days.unwrap_or(base.stuck_days),
            long_gap_days: self.long_gap_days.unwrap_or(base.long_gap_days),
            reset_ratio: self.reset_ratio.unwrap_or(base.reset_ratio),
            max_rate_per_h: self.max_rate_per_h.or(base.max_rate_per_h),
        }
    }
}
