//! `hemflux analytics run`: the energy analytics of houses and buildings at once, on the history in
//! the embedded store (opened read-only, so it works beside `hemflux run`). The same code the
//! analytics worker runs: `hemflux_analytics::energy::run::analyse_range`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use hemflux_analytics::energy::analysis::window_before;
use hemflux_analytics::energy::inputs::{self, HistoryData, HistoryQueries};
use hemflux_analytics::energy::run::{analyse_range, RangeAnalysis};
use hemflux_shared::config::{parse_entity, AnalyticsConfig, Entity as Config, EntityKind};
use hemflux_shared::kinds::AnalyticsWorker;
use jiff::civil::Date;
use jiff::Timestamp;
use serde_json::{json, Value};

use crate::configset::config_files;
use crate::store::Reader;

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
    for (config, analytics) in configs {
        let worker = AnalyticsWorker::of(&config, analytics);
        let entity = inputs::entity(&worker).map_err(anyhow::Error::msg)?;
        let settings = inputs::settings(&worker);
        let last = args.to.unwrap_or(window_before(now, &entity.tz, 1).1);
        let first = args.from.unwrap_or(
            last.checked_sub(jiff::Span::new().days(settings.calibration_days as i64 - 1))?,
        );
        if first > last {
            bail!("--from {first} is after --to {last}");
        }
        let data = read_history(&reader, &inputs::history_queries(&entity, first, last))
            .with_context(|| format!("reading the history of {}", entity.id))?;
        let analysis = data.with_history(|h| analyse_range(&entity, h, first, last, &settings));
        rows.push(row(&entity.id, &analysis));
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

/// Runs the history queries on the store: the same queries, and the same conversion, as the
/// analytics worker's through the read path.
fn read_history(reader: &Reader, q: &HistoryQueries) -> Result<HistoryData> {
    let all = |query| {
        reader
            .page(query, usize::MAX, usize::MAX)
            .map(|(points, _)| points)
    };
    Ok(HistoryData::from_points(
        q.start,
        all(&q.energy)?,
        all(&q.heating)?,
        all(&q.weather)?,
    ))
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
