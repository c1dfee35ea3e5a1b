//! `hemflux analytics run`: the energy analytics of houses and buildings at once, on the history in
//! the embedded store (opened read-only, so it works beside `hemflux run`). The same code the
//! analytics worker runs: `hemflux_analytics::energy::run::analyse_range`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use hemflux_analytics::energy::analysis::{window_before, Entity, History, Settings};
use hemflux_analytics::energy::days::HourlyEnergy;
use hemflux_analytics::energy::effective::{Coefficients, WeatherObs};
use hemflux_analytics::energy::hot_water::HeatingRow;
use hemflux_analytics::energy::run::{analyse_range, RangeAnalysis};
use hemflux_shared::config::{
    parse_entity, AnalyticsConfig, Entity as Config, EntityKind, DEFAULT_TIMEZONE,
};
use hemflux_shared::time::{from_nanos, to_nanos};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};

use crate::configset::config_files;
use crate::store::{RangeQuery, RawValue, Reader};

#[derive(clap::Args, Debug)]
pub struct AnalyticsArgs {
    #[command(subcommand)]
    pub command: AnalyticsCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum AnalyticsCommand {
    /// Fit k and split the energy of houses and buildings now, from the store's history.
    Run(RunArgs),
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// House or building ids; default every one with an `analytics` section.
    pub entities: Vec<String>,
    /// First local day (2026-01-01); default the `calibration_days` before --to.
    #[arg(long)]
    pub from: Option<Date>,
    /// Last local day, inclusive; default yesterday.
    #[arg(long)]
    pub to: Option<Date>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// The data folder of `hemflux run`.
    #[arg(long, env = "HEMFLUX_DATA", default_value = "data")]
    pub data: PathBuf,
    #[arg(long, default_value = "profiles")]
    pub profiles: PathBuf,
    #[arg(long, default_value = "buildings")]
    pub buildings: PathBuf,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Format {
    Table,
    Json,
}

pub fn run(args: AnalyticsArgs) -> Result<()> {
    let AnalyticsCommand::Run(args) = args.command;
    let configs = load_configs(&args)?;
    let reader = Reader::open(&args.data)
        .with_context(|| format!("opening the store in {}", args.data.display()))?;
    let now = Timestamp::now();
    let mut rows = Vec::new();
    for (config, analytics) in &configs {
        let entity = entity_of(config, analytics)?;
        let settings = Settings {
            calibration_days: analytics.calibration_days as usize,
            recalibration_hours: i64::from(analytics.recalibration_hours),
            ..Settings::default()
        };
        let last = args.to.unwrap_or(window_before(now, &entity.tz, 1).1);
        let first = args.from.unwrap_or(
            last.checked_sub(jiff::Span::new().days(settings.calibration_days as i64 - 1))?,
        );
        if first > last {
            bail!("--from {first} is after --to {last}");
        }
        let data = read_history(&reader, &entity, first, last)?;
        let meters: Vec<&[HourlyEnergy]> = data.meters.values().map(Vec::as_slice).collect();
        let history = History {
            meters: &meters,
            heating: &data.heating,
            weather: &data.weather,
        };
        rows.push(row(
            &entity.id,
            &analyse_range(&entity, &history, first, last, &settings),
        ));
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?,
        Format::Table => write_table(&rows, &mut out)?,
    }
    Ok(())
}

/// The entities to analyse with their analytics settings: the named ones (default settings if
/// their file has no section), else every one whose section is enabled.
fn load_configs(args: &RunArgs) -> Result<Vec<(Config, AnalyticsConfig)>> {
    let mut all = Vec::new();
    for (dir, kind) in [
        (&args.profiles, EntityKind::House),
        (&args.buildings, EntityKind::Building),
    ] {
        for file in config_files(dir) {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            match parse_entity(kind, &file, &text) {
                Ok(e) => all.push(e),
                Err(errs) => bail!(
                    "{}",
                    errs.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            }
        }
    }
    let section = |c: &Config| match c {
        Config::House(h) => h.analytics.clone(),
        Config::Building(b) => b.analytics.clone(),
    };
    if args.entities.is_empty() {
        return Ok(all
            .into_iter()
            .filter_map(|c| section(&c).filter(|a| a.enabled).map(|a| (c, a)))
            .collect());
    }
    args.entities
        .iter()
        .map(|id| {
            let c = all.iter().find(|c| c.id() == id).with_context(|| {
                format!(
                    "no house in {} or building in {} has the id {id:?}",
                    args.profiles.display(),
                    args.buildings.display()
                )
            })?;
            Ok((c.clone(), section(c).unwrap_or_default()))
        })
        .collect()
}

fn entity_of(config: &Config, analytics: &AnalyticsConfig) -> Result<Entity> {
    let (id, tag, location, tz, poll) = match config {
        Config::House(h) => (
            &h.id,
            "house_id",
            h.location,
            &h.timezone,
            h.homeside.as_ref().map_or(300, |s| s.poll_interval_secs),
        ),
        Config::Building(b) => (
            &b.id,
            "building_id",
            b.location,
            &b.timezone,
            b.arrigo.poll_interval_secs,
        ),
    };
    let tz_name = tz.as_deref().unwrap_or(DEFAULT_TIMEZONE);
    Ok(Entity {
        id: id.clone(),
        tag,
        tz: TimeZone::get(tz_name).with_context(|| format!("{id}: time zone {tz_name:?}"))?,
        location,
        coefficients: analytics
            .coefficients
            .map_or_else(Coefficients::default, |c| Coefficients {
                wind: c.wind,
                humidity: c.humidity,
                solar: c.solar,
            }),
        assumed_indoor_c: analytics.assumed_indoor_temp,
        poll_interval: SignedDuration::from_secs(poll as i64),
    })
}

#[derive(Default)]
struct Data {
    meters: BTreeMap<String, Vec<HourlyEnergy>>,
    heating: Vec<HeatingRow>,
    weather: Vec<WeatherObs>,
}

fn number(v: RawValue<'_>) -> Option<f64> {
    match v {
        RawValue::Float(f) => Some(f),
        RawValue::Int(i) => Some(i as f64),
        _ => None,
    }
}

/// The entity's meter hours (`energy_meter.consumption` per `meter_id`), heating rows and weather
/// observations of the local days `first..=last` (weather from 3 hours earlier, for the as-of
/// join). Without weather observations the heating rows' `outdoor_temperature` stands in.
fn read_history(reader: &Reader, entity: &Entity, first: Date, last: Date) -> Result<Data> {
    let start = first
        .to_zoned(entity.tz.clone())?
        .start_of_day()?
        .timestamp();
    let end = last
        .tomorrow()?
        .to_zoned(entity.tz.clone())?
        .start_of_day()?
        .timestamp();
    let range = |m: &str, from: Timestamp| {
        RangeQuery::new(m)
            .tag(entity.tag, entity.id.as_str())
            .between(Some(to_nanos(from)), Some(to_nanos(end)))
    };
    let mut data = Data::default();
    reader.for_each_point(&range("energy_meter", start), |series, time, fields| {
        for f in fields {
            let (name, value) = f?;
            if let (true, Some(kwh)) = (name == "consumption", number(value)) {
                let meter = series.tags.get("meter_id").cloned().unwrap_or_default();
                data.meters.entry(meter).or_default().push(HourlyEnergy {
                    start: from_nanos(time),
                    kwh,
                });
            }
        }
        Ok(())
    })?;
    let system = if entity.tag == "building_id" {
        "building_system"
    } else {
        "heating_system"
    };
    let mut outdoor = Vec::new();
    reader.for_each_point_by_time(
        &range(system, start - SignedDuration::from_hours(3)),
        |_, time, fields| {
            let mut row = HeatingRow {
                time: from_nanos(time),
                indoor_c: None,
                hot_water_c: None,
            };
            for f in fields {
                let (name, value) = f?;
                match name {
                    "room_temperature" => row.indoor_c = number(value),
                    "hot_water_temp" => row.hot_water_c = number(value),
                    "outdoor_temperature" => {
                        outdoor.extend(number(value).map(|t| observation(row.time, t)))
                    }
                    _ => {}
                }
            }
            if row.time >= start {
                data.heating.push(row);
            }
            Ok(())
        },
    )?;
    reader.for_each_point_by_time(
        &range("weather_observation", start - SignedDuration::from_hours(3)),
        |_, time, fields| {
            let mut obs = observation(from_nanos(time), f64::NAN);
            for f in fields {
                let (name, value) = f?;
                match name {
                    "temperature" => obs.temp_c = number(value).unwrap_or(f64::NAN),
                    "wind_speed" => obs.wind_ms = number(value),
                    "humidity" => obs.humidity_pct = number(value),
                    _ => {}
                }
            }
            // Two stations at one time (a station change): the later series wins.
            if data.weather.last().is_some_and(|o| o.time == obs.time) {
                data.weather.pop();
            }
            if obs.temp_c.is_finite() {
                data.weather.push(obs);
            }
            Ok(())
        },
    )?;
    if data.weather.is_empty() {
        data.weather = outdoor;
    }
    Ok(data)
}

fn observation(time: Timestamp, temp_c: f64) -> WeatherObs {
    WeatherObs {
        time,
        temp_c,
        wind_ms: None,
        humidity_pct: None,
        cloud_octas: None,
    }
}

/// One entity's result with the columns of `--format table` (and `null` where there is no fit).
fn row(id: &str, a: &RangeAnalysis) -> Value {
    let round = |v: f64, d: i32| (v * 10f64.powi(d)).round() / 10f64.powi(d);
    match &a.calibration.fit {
        Ok(fit) => json!({
            "entity": id,
            "k_kw_per_k": round(fit.k_kw_per_k, 5),
            "base_kwh_per_day": round(fit.intercept_kwh_per_day, 2),
            "balance_point_c": round(fit.balance_point_c, 2),
            "r2_adj": round(fit.r2_adj, 3),
            "cvrmse": round(fit.cvrmse, 3),
            "days_used": fit.days_used,
            "dhw_share": a.dhw_share().map(|s| round(s, 3)),
            "note": fit.rejected.as_deref().map(|r| format!("not used: {r}")),
        }),
        Err(why) => json!({
            "entity": id,
            "k_kw_per_k": null,
            "base_kwh_per_day": null,
            "balance_point_c": null,
            "r2_adj": null,
            "cvrmse": null,
            "days_used": a.days.iter().filter(|d| d.complete()).count(),
            "dhw_share": null,
            "note": format!("no fit: {why}"),
        }),
    }
}

const COLUMNS: [&str; 9] = [
    "entity",
    "k_kw_per_k",
    "base_kwh_per_day",
    "balance_point_c",
    "r2_adj",
    "cvrmse",
    "days_used",
    "dhw_share",
    "note",
];

fn write_table(rows: &[Value], out: &mut impl Write) -> Result<()> {
    let cell = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| COLUMNS.iter().map(|c| cell(&r[c])).collect())
        .collect();
    let widths: Vec<usize> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].len())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<&str>| {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    writeln!(out, "{}", line(COLUMNS.to_vec()))?;
    for r in &cells {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}
