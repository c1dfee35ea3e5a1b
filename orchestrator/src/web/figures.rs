//! The purpose-built charts above the generic ones (`/api/{entity|meter}/{id}/figures`): the
//! heating / hot-water split per local day, the energy and indoor-temperature forecasts against
//! what was measured, k with its band and fit quality, the heat-curve adjustments, and a meter's
//! consumption per day and month with its anomaly flags.
//!
//! Each figure is built from the stored points only; values are as stored (the script stacks
//! the split's bars itself). Long ranges are thinned like the generic charts: min/max per pixel
//! for lines, sums per bucket for bars.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use super::downsample::{min_max, sums, Columns};
use super::i18n::Lang;
use super::series::{SeriesRequest, Subject};
use crate::store::{RawValue, Reader, Series};

const NS: i64 = 1_000_000_000;
const HOUR_NS: i64 = 3600 * NS;

/// How a line is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    Line,
    Dashed,
    Bar,
    /// A bar on top of the previous stacked ones.
    Stacked,
    /// Markers only.
    Points,
}

#[derive(Debug, Serialize)]
pub struct Line {
    pub label: String,
    pub style: Style,
    /// `y`, or `r2` for the fit quality's own axis (0..1).
    pub scale: &'static str,
    pub y: Vec<Option<f64>>,
}

#[derive(Debug, Serialize)]
pub struct Figure {
    /// Stable name for the script and the tests: `split`, `energy_forecast`, ...
    pub key: String,
    pub title: String,
    pub unit: String,
    /// Seconds since the epoch.
    pub x: Vec<f64>,
    pub lines: Vec<Line>,
    /// Points stored in the range, before thinning.
    pub stored: usize,
}

/// A line before it has values: its label key, style and axis.
struct Spec {
    label: &'static str,
    style: Style,
    scale: &'static str,
}

const fn spec(label: &'static str, style: Style) -> Spec {
    Spec {
        label,
        style,
        scale: "y",
    }
}

/// Rows by time, one column per spec; cells set by whoever knows the value.
struct Table {
    rows: BTreeMap<i64, Vec<Option<f64>>>,
    width: usize,
    stored: usize,
}

impl Table {
    fn new(width: usize) -> Table {
        Table {
            rows: BTreeMap::new(),
            width,
            stored: 0,
        }
    }

    fn set(&mut self, time: i64, col: usize, v: f64) {
        self.rows
            .entry(time)
            .or_insert_with(|| vec![None; self.width])[col] = Some(v);
    }

    fn set_some(&mut self, time: i64, col: usize, v: Option<f64>) {
        if let Some(v) = v {
            self.set(time, col, v);
        }
    }

    fn add(&mut self, time: i64, col: usize, v: f64) {
        let cell = &mut self
            .rows
            .entry(time)
            .or_insert_with(|| vec![None; self.width])[col];
        *cell = Some(cell.unwrap_or(0.0) + v);
    }

    fn figure(
        self,
        key: String,
        title: String,
        unit: &str,
        specs: &[Spec],
        lang: Lang,
        buckets: usize,
    ) -> Option<Figure> {
        if self.rows.is_empty() {
            return None;
        }
        let mut cols = Columns {
            x: Vec::with_capacity(self.rows.len()),
            ys: vec![Vec::with_capacity(self.rows.len()); self.width],
        };
        for (t, row) in self.rows {
            cols.x.push(t);
            for (col, v) in cols.ys.iter_mut().zip(row) {
                col.push(v);
            }
        }
        let bars = specs
            .iter()
            .any(|s| matches!(s.style, Style::Bar | Style::Stacked));
        let cols = if bars {
            let summed: Vec<bool> = specs.iter().map(|s| s.style != Style::Points).collect();
            sums(cols, buckets, &summed)
        } else {
            min_max(cols, buckets)
        };
        Some(Figure {
            key,
            title,
            unit: unit.to_string(),
            x: cols.x.iter().map(|t| *t as f64 / NS as f64).collect(),
            lines: specs
                .iter()
                .zip(cols.ys)
                .map(|(s, y)| Line {
                    label: lang.t(s.label).to_string(),
                    style: s.style,
                    scale: s.scale,
                    y,
                })
                .collect(),
            stored: self.stored,
        })
    }
}

fn number(v: &RawValue<'_>) -> Option<f64> {
    match v {
        RawValue::Float(f) => Some(*f),
        RawValue::Int(i) => Some(*i as f64),
        RawValue::Bool(b) => Some(f64::from(u8::from(*b))),
        RawValue::Str(_) => None,
    }
}

/// Calls `each(time, values)` for every point of `series` in the range, `values[i]` being the
/// number in field `wanted[i]` if the point has it (nothing is allocated per point).
fn each_point(
    reader: &Reader,
    series: &Series,
    (from, to): (i64, i64),
    wanted: &[&str],
    mut each: impl FnMut(i64, &[Option<f64>]),
) -> Result<()> {
    let mut values = vec![None; wanted.len()];
    reader.for_each_point_of(series, Some(from), Some(to), |time, raw| {
        values.fill(None);
        for f in raw {
            let (name, value) = f?;
            if let Some(i) = wanted.iter().position(|w| *w == name) {
                values[i] = number(&value);
            }
        }
        each(time, &values);
        Ok(())
    })
}

/// Everything needed to build one subject's figures.
struct Context<'a> {
    reader: &'a Reader,
    series: Vec<Series>,
    range: (i64, i64),
    lang: Lang,
    buckets: usize,
}

impl Context<'_> {
    fn of<'s>(&'s self, measurement: &'s str) -> impl Iterator<Item = &'s Series> + 's {
        self.series
            .iter()
            .filter(move |s| s.measurement == measurement)
    }

    fn title(&self, key: &'static str, series: &Series, tag: &str) -> String {
        match series.tags.get(tag) {
            Some(v) => format!("{} ({v})", self.lang.t(key)),
            None => self.lang.t(key).to_string(),
        }
    }
}

/// The purpose-built figures of a subject over `req`'s range, in reading order.
pub fn figures(
    reader: &Reader,
    subject: &Subject,
    req: SeriesRequest,
    now_ns: i64,
    lang: Lang,
    meter_unit: &str,
) -> Result<Vec<Figure>> {
    let cx = Context {
        reader,
        series: reader
            .all_series()?
            .into_iter()
            .filter(|s| subject.owns(&s.measurement, &s.tags))
            .collect(),
        range: req.range(now_ns),
        lang,
        buckets: req.buckets(),
    };
    let mut out = Vec::new();
    match subject {
        Subject::Entity(_) => {
            split(&cx, &mut out)?;
            out.extend(energy_forecast(&cx)?);
            out.extend(indoor_forecast(&cx)?);
            k_history(&cx, &mut out)?;
            out.extend(heat_curve(&cx)?);
        }
        Subject::Meter(_) => meter(&cx, meter_unit, &mut out)?,
    }
    Ok(out)
}

/// Space heating and hot water per local day, stacked; days without a breakdown marked at
/// their metered total.
fn split(cx: &Context, out: &mut Vec<Figure>) -> Result<()> {
    const SPECS: [Spec; 3] = [
        spec("fig_heating", Style::Stacked),
        spec("fig_hot_water", Style::Stacked),
        spec("fig_no_breakdown", Style::Points),
    ];
    for series in cx.of("energy_separated") {
        let mut t = Table::new(3);
        let wanted = [
            "heating_energy_kwh",
            "dhw_energy_kwh",
            "no_breakdown",
            "actual_energy_kwh",
        ];
        each_point(cx.reader, series, cx.range, &wanted, |time, v| {
            t.stored += 1;
            t.set_some(time, 0, v[0]);
            t.set_some(time, 1, v[1]);
            if v[2].unwrap_or(0.0) > 0.0 {
                t.set_some(time, 2, v[3]);
            }
        })?;
        let key = format!("split:{}", series.tags.get("method").map_or("", |m| m));
        let title = cx.title("fig_split", series, "method");
        out.extend(t.figure(key, title, "kWh", &SPECS, cx.lang, cx.buckets));
    }
    Ok(())
}

/// The forecast hourly energy against the metered hourly energy (all meters of the entity).
fn energy_forecast(cx: &Context) -> Result<Option<Figure>> {
    const SPECS: [Spec; 2] = [
        spec("fig_forecast", Style::Dashed),
        spec("fig_metered", Style::Line),
    ];
    let mut t = Table::new(2);
    let mut any_forecast = false;
    for series in cx.of("energy_forecast") {
        each_point(
            cx.reader,
            series,
            cx.range,
            &["total_energy_kwh"],
            |time, v| {
                t.stored += 1;
                any_forecast |= v[0].is_some();
                t.set_some(time, 0, v[0]);
            },
        )?;
    }
    if !any_forecast {
        return Ok(None);
    }
    for series in cx.of("energy_meter") {
        each_point(cx.reader, series, cx.range, &["consumption"], |time, v| {
            t.stored += 1;
            if let Some(v) = v[0] {
                t.add(time.div_euclid(HOUR_NS) * HOUR_NS, 1, v);
            }
        })?;
    }
    let title = cx.lang.t("fig_energy_forecast").to_string();
    Ok(t.figure(
        "energy_forecast".into(),
        title,
        "kWh",
        &SPECS,
        cx.lang,
        cx.buckets,
    ))
}

/// The indoor-temperature forecast (`temperature_forecast`, `forecast_type=indoor_temp`, written
/// by the controller) against the measured room temperature (the house worker's
/// `heating_system`, or the controller's `thermal_history`).
fn indoor_forecast(cx: &Context) -> Result<Option<Figure>> {
    const SPECS: [Spec; 2] = [
        spec("fig_forecast", Style::Dashed),
        spec("fig_measured", Style::Line),
    ];
    let mut t = Table::new(2);
    let forecasts: Vec<&Series> = cx
        .of("temperature_forecast")
        .filter(|s| s.tags.get("forecast_type").map(String::as_str) == Some("indoor_temp"))
        .collect();
    if forecasts.is_empty() {
        return Ok(None);
    }
    for series in forecasts {
        each_point(cx.reader, series, cx.range, &["value"], |time, v| {
            t.stored += 1;
            t.set_some(time, 0, v[0]);
        })?;
    }
    let measured = cx.of("heating_system").chain(cx.of("thermal_history"));
    for series in measured {
        each_point(
            cx.reader,
            series,
            cx.range,
            &["room_temperature"],
            |time, v| {
                if v[0].is_some() {
                    t.stored += 1;
                    t.set_some(time, 1, v[0]);
                }
            },
        )?;
    }
    let title = cx.lang.t("fig_indoor_forecast").to_string();
    Ok(t.figure(
        "indoor_forecast".into(),
        title,
        "°C",
        &SPECS,
        cx.lang,
        cx.buckets,
    ))
}

/// k with its plausibility band and adjusted R² (own axis); rejected fits (`usable = 0`) marked.
fn k_history(cx: &Context, out: &mut Vec<Figure>) -> Result<()> {
    const SPECS: [Spec; 5] = [
        spec("fig_k", Style::Line),
        spec("fig_k_low", Style::Dashed),
        spec("fig_k_high", Style::Dashed),
        Spec {
            label: "fig_r2",
            style: Style::Line,
            scale: "r2",
        },
        spec("fig_poor_fit", Style::Points),
    ];
    for series in cx.of("k_value_history") {
        let mut t = Table::new(5);
        let wanted = ["k_value", "k_low", "k_high", "r2_adj", "usable"];
        each_point(cx.reader, series, cx.range, &wanted, |time, v| {
            t.stored += 1;
            for (col, value) in v[..4].iter().enumerate() {
                t.set_some(time, col, *value);
            }
            if v[4] == Some(0.0) {
                t.set_some(time, 4, v[0]);
            }
        })?;
        let key = format!("k:{}", series.tags.get("method").map_or("", |m| m));
        let title = cx.title("fig_k_history", series, "method");
        out.extend(t.figure(key, title, "kW/K", &SPECS, cx.lang, cx.buckets));
    }
    Ok(())
}

/// Each heat-curve adjustment's delta, marked as a dry run or as applied.
fn heat_curve(cx: &Context) -> Result<Option<Figure>> {
    const SPECS: [Spec; 2] = [
        spec("fig_dry_run", Style::Points),
        spec("fig_applied", Style::Points),
    ];
    let mut t = Table::new(2);
    for series in cx.of("heat_curve_adjustment") {
        each_point(
            cx.reader,
            series,
            cx.range,
            &["delta", "dry_run"],
            |time, v| {
                t.stored += 1;
                let dry = v[1].unwrap_or(0.0) > 0.0;
                t.set_some(time, usize::from(!dry), v[0]);
            },
        )?;
    }
    let title = cx.lang.t("fig_heat_curve").to_string();
    Ok(t.figure(
        "heat_curve".into(),
        title,
        "°C",
        &SPECS,
        cx.lang,
        cx.buckets,
    ))
}

/// A meter's consumption per local day (anomaly flags marked at the day's consumption) and per
/// month.
fn meter(cx: &Context, unit: &str, out: &mut Vec<Figure>) -> Result<()> {
    const DAYS: [Spec; 2] = [
        spec("fig_consumption", Style::Bar),
        spec("fig_anomaly", Style::Points),
    ];
    const MONTHS: [Spec; 1] = [spec("fig_consumption", Style::Bar)];
    let period = |s: &&Series, p: &str| s.tags.get("period").map(String::as_str) == Some(p);
    let mut days = Table::new(2);
    let mut months = Table::new(1);
    for series in cx.of("meter_consumption") {
        let t = if period(&series, "day") {
            &mut days
        } else if period(&series, "month") {
            &mut months
        } else {
            continue;
        };
        each_point(cx.reader, series, cx.range, &["consumption"], |time, v| {
            t.stored += 1;
            t.set_some(time, 0, v[0]);
        })?;
    }
    let mut flags = Vec::new();
    for series in cx.of("meter_anomaly") {
        each_point(cx.reader, series, cx.range, &["consumption"], |time, v| {
            flags.push((time, v[0]));
        })?;
    }
    for (time, used) in flags {
        days.stored += 1;
        let at = used
            .or_else(|| days.rows.get(&time).and_then(|r| r[0]))
            .unwrap_or(0.0);
        days.set(time, 1, at);
    }
    let title = |k: &'static str| cx.lang.t(k).to_string();
    out.extend(days.figure(
        "meter_day".into(),
        title("fig_meter_day"),
        unit,
        &DAYS,
        cx.lang,
        cx.buckets,
    ));
    out.extend(months.figure(
        "meter_month".into(),
        title("fig_meter_month"),
        unit,
        &MONTHS,
        cx.lang,
        cx.buckets,
    ));
    Ok(())
}
