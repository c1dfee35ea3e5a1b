//! `hemflux import FILE...`: history from InfluxDB line protocol or CSV (plain or gzip) into the
//! embedded store, so that a user's past comes along when they switch.
//!
//! Two readings of every file. The first checks every line and collects the problems; if there
//! are any, nothing is imported (unless `--skip-bad`) and each is shown as `file:line: problem`.
//! The second writes through the store's writer in batches: same series and time overwrite, so
//! running an import twice changes nothing. It may run beside `hemflux run` on the same data
//! folder: SQLite's write lock makes the two take turns, each writer notices the other's commits
//! (`PRAGMA data_version`), and the running orchestrator's sinks forward the imported points.

mod csv;
mod lp;
mod source;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use hemflux_shared::{FieldValue, Point};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinSet;

use crate::store::{Store, StoreConfig};
pub use csv::Kind;
use lp::{Line, LineReader, Precision};

/// Points per write to the store, and how many writes may wait for the writer at once (so
/// that parsing the next batch overlaps the commit of the last).
const BATCH: usize = 5_000;
const IN_FLIGHT: usize = 4;
/// Problems shown before "... and N more".
const SHOWN_PROBLEMS: usize = 20;

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// Files of line protocol or CSV, plain or gzip-compressed.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The data folder of `hemflux run`.
    #[arg(long, env = "HEMFLUX_DATA", default_value = "data")]
    pub data: PathBuf,
    /// The files' format; default: CSV for `*.csv` and `*.csv.gz`, line protocol otherwise.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Unit of integer timestamps (line protocol, and integer times in CSV).
    #[arg(long, value_enum, default_value_t)]
    pub precision: Precision,
    /// CSV: the measurement of every row (else a `measurement` column).
    #[arg(long)]
    pub measurement: Option<String>,
    /// CSV: the columns that are tags (default: the columns named like hemflux's tags).
    #[arg(long, value_delimiter = ',')]
    pub tags: Option<Vec<String>>,
    /// Line protocol from `influx_inspect export`: only the lines of this database.
    #[arg(long)]
    pub database: Option<String>,
    /// Import the good lines even if some are bad (the bad ones are listed and left out).
    #[arg(long)]
    pub skip_bad: bool,
    /// Check the files and say what would be imported; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Format {
    /// InfluxDB line protocol.
    Lp,
    Csv,
}

/// A line that cannot be imported.
struct Problem {
    file: usize,
    line: u64,
    message: String,
}

/// What the first reading learned.
#[derive(Default)]
struct Survey {
    /// The layout of each CSV file, by file index.
    layouts: HashMap<usize, csv::Layout>,
    /// The type of every (measurement, field) and where it was first seen, so that a field
    /// cannot be an integer in one line and a float in another (InfluxDB refuses that).
    types: HashMap<(String, String), (Kind, usize, u64)>,
    points: BTreeMap<String, u64>,
    problems: Vec<Problem>,
    problem_count: u64,
    skipped_lines: u64,
}

fn kind(value: &FieldValue) -> Kind {
    match value {
        FieldValue::Float(_) => Kind::Float,
        FieldValue::Int(_) => Kind::Int,
        FieldValue::Bool(_) => Kind::Bool,
        FieldValue::Str(_) => Kind::Str,
    }
}

impl Survey {
    fn problem(&mut self, file: usize, line: u64, message: String) {
        self.problem_count += 1;
        if self.problems.len() < SHOWN_PROBLEMS {
            self.problems.push(Problem {
                file,
                line,
                message,
            });
        }
    }

    /// Records the field types of `point`, or says which one clashes with an earlier line.
    fn check_types(
        &mut self,
        file: usize,
        line: u64,
        measurement: &str,
        fields: impl Iterator<Item = (String, Kind)>,
    ) -> Result<(), String> {
        for (field, k) in fields {
            let key = (measurement.to_string(), field);
            let (first, first_file, first_line) =
                *self.types.entry(key.clone()).or_insert((k, file, line));
            if first != k {
                return Err(format!(
                    "field {} of {measurement} is {} here but {} in file {} line {first_line}",
                    key.1,
                    k.name(),
                    first.name(),
                    first_file + 1
                ));
            }
        }
        Ok(())
    }

    /// Whether the second reading may write `point` (its types are the ones first seen).
    fn accepts(&self, point: &Point) -> bool {
        point.fields.iter().all(|(f, v)| {
            self.types
                .get(&(point.measurement.clone(), f.clone()))
                .is_none_or(|(k, _, _)| *k == kind(v))
        })
    }
}

fn format_of(args: &ImportArgs, path: &Path) -> Format {
    args.format.unwrap_or(if source::looks_like_csv(path) {
        Format::Csv
    } else {
        Format::Lp
    })
}

pub async fn run(args: ImportArgs) -> Result<()> {
    let mut total = 0;
    for path in &args.files {
        total += std::fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
    }
    let survey = check(&args, total)?;
    for (i, layout) in &survey.layouts {
        let fields: Vec<String> = layout
            .fields
            .iter()
            .map(|(_, name, k)| format!("{name} ({})", k.map_or("empty", Kind::name)))
            .collect();
        let tags: Vec<&str> = layout.tags.iter().map(|(_, n)| n.as_str()).collect();
        println!(
            "{}: tags [{}], fields [{}]",
            args.files[*i].display(),
            tags.join(", "),
            fields.join(", ")
        );
    }
    if survey.problem_count > 0 {
        for p in &survey.problems {
            eprintln!("{}:{}: {}", args.files[p.file].display(), p.line, p.message);
        }
        if survey.problem_count > survey.problems.len() as u64 {
            eprintln!(
                "... and {} more",
                survey.problem_count - survey.problems.len() as u64
            );
        }
        if !args.skip_bad {
            bail!(
                "{} bad line(s): nothing imported (fix them, or --skip-bad to import the rest)",
                survey.problem_count
            );
        }
    }
    let points: u64 = survey.points.values().sum();
    let per_measurement: Vec<String> = survey
        .points
        .iter()
        .map(|(m, n)| format!("{m} {n}"))
        .collect();
    if args.dry_run {
        println!(
            "dry run: would import {points} points ({}); {} bad line(s) left out",
            per_measurement.join(", "),
            survey.problem_count
        );
        return Ok(());
    }
    let skipped = (survey.problem_count, survey.skipped_lines);
    let args = Arc::new(args);
    let written = write(args.clone(), Arc::new(survey), total).await?;
    println!(
        "imported {written} points into {} ({}); {} bad line(s) left out, {} comment or header line(s)",
        args.data.display(),
        per_measurement.join(", "),
        skipped.0,
        skipped.1
    );
    Ok(())
}

fn progress_bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {bar:40} {bytes}/{total_bytes} ({eta})",
        )
        .expect("a valid template"),
    );
    bar.set_message(what.to_string());
    bar
}

/// Calls `on_line` with each line of file `i` (its number, and what it holds or what is wrong
/// with it). CSV files are read with the layout of the first reading, if there is one.
fn each_line(
    args: &ImportArgs,
    i: usize,
    read: Arc<AtomicU64>,
    layout: Option<&csv::Layout>,
    survey: &mut dyn FnMut(Result<csv::Layout, String>),
    on_line: &mut dyn FnMut(u64, Result<Line, String>) -> Result<()>,
) -> Result<()> {
    let path = &args.files[i];
    let mut input = source::open(path, read)?;
    match format_of(args, path) {
        Format::Csv => {
            let options = csv::Options {
                measurement: args.measurement.clone(),
                tags: args.tags.clone(),
                precision: args.precision,
            };
            match layout {
                Some(layout) => csv::read(input, layout, on_line),
                None => {
                    let layout = csv::survey(input, &options, on_line)?;
                    survey(layout);
                    Ok(())
                }
            }
        }
        Format::Lp => {
            let mut reader = LineReader::new(args.precision, args.database.clone());
            let mut text = String::new();
            let mut number = 0;
            loop {
                text.clear();
                let n = input
                    .read_line(&mut text)
                    .with_context(|| format!("reading {} after line {number}", path.display()))?;
                if n == 0 {
                    return Ok(());
                }
                number += 1;
                on_line(number, reader.line(&text))?;
            }
        }
    }
}

/// The first reading: every line checked, nothing written.
fn check(args: &ImportArgs, total: u64) -> Result<Survey> {
    let bar = progress_bar(total, "checking");
    let read = Arc::new(AtomicU64::new(0));
    let mut survey = Survey::default();
    for i in 0..args.files.len() {
        let mut layout = None;
        each_line(
            args,
            i,
            read.clone(),
            None,
            &mut |l| layout = Some(l),
            &mut |line, parsed| {
                match parsed {
                    Ok(Line::Point(p)) => {
                        let fields = p.fields.iter().map(|(f, v)| (f.clone(), kind(v)));
                        match survey.check_types(i, line, &p.measurement, fields) {
                            Ok(()) => *survey.points.entry(p.measurement).or_default() += 1,
                            Err(e) => survey.problem(i, line, e),
                        }
                    }
                    Ok(Line::Skipped) => survey.skipped_lines += 1,
                    Ok(Line::Row) => {}
                    Err(e) => survey.problem(i, line, e),
                }
                if line % 4096 == 0 {
                    bar.set_position(read.load(Ordering::Relaxed));
                }
                Ok(())
            },
        )?;
        match layout {
            Some(Ok(layout)) => {
                register_csv(&mut survey, i, &layout);
                survey.layouts.insert(i, layout);
            }
            Some(Err(e)) => survey.problem(i, 1, e),
            None => {}
        }
    }
    bar.finish_and_clear();
    Ok(survey)
}

/// A CSV file's columns and rows into the survey (its header is line 1).
fn register_csv(survey: &mut Survey, i: usize, layout: &csv::Layout) {
    for (m, rows) in &layout.points {
        let fields = layout
            .fields
            .iter()
            .filter_map(|(_, name, k)| k.map(|k| (name.clone(), k)));
        match survey.check_types(i, 1, m, fields) {
            Ok(()) => *survey.points.entry(m.clone()).or_default() += rows,
            Err(e) => survey.problem(i, 1, e),
        }
    }
}

/// The second reading: the good lines into the store. A thread parses and hands over batches
/// (at most [`IN_FLIGHT`] waiting), while here up to [`IN_FLIGHT`] writes await their commit.
async fn write(args: Arc<ImportArgs>, survey: Arc<Survey>, total: u64) -> Result<u64> {
    let store = Store::open(&args.data, &StoreConfig::default())?;
    let bar = progress_bar(total, "importing");
    let read = Arc::new(AtomicU64::new(0));
    let (batches, mut ready) = tokio::sync::mpsc::channel::<Vec<Point>>(IN_FLIGHT);
    let parser = {
        let read = read.clone();
        tokio::task::spawn_blocking(move || parse_batches(&args, &survey, read, batches))
    };
    let mut writes = JoinSet::new();
    let mut written = 0u64;
    while let Some(points) = ready.recv().await {
        if writes.len() >= IN_FLIGHT {
            written += writes.join_next().await.expect("a write is in flight")??;
        }
        let store = store.clone();
        writes.spawn(async move {
            let n = points.len() as u64;
            store.write("import", points, None).await.map(|()| n)
        });
        bar.set_position(read.load(Ordering::Relaxed));
    }
    parser.await??;
    while let Some(done) = writes.join_next().await {
        written += done??;
    }
    bar.finish_and_clear();
    Ok(written)
}

/// Every good line of every file, in batches of [`BATCH`] points, into `batches`.
fn parse_batches(
    args: &ImportArgs,
    survey: &Survey,
    read: Arc<AtomicU64>,
    batches: tokio::sync::mpsc::Sender<Vec<Point>>,
) -> Result<()> {
    let mut batch = Vec::with_capacity(BATCH);
    let stopped = || anyhow::anyhow!("the import stopped writing");
    for i in 0..args.files.len() {
        each_line(
            args,
            i,
            read.clone(),
            survey.layouts.get(&i),
            &mut |_| {},
            &mut |_, parsed| {
                if let Ok(Line::Point(p)) = parsed {
                    if survey.accepts(&p) {
                        batch.push(p);
                        if batch.len() == BATCH {
                            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                            batches.blocking_send(full).map_err(|_| stopped())?;
                        }
                    }
                }
                Ok(())
            },
        )?;
    }
    if !batch.is_empty() {
        batches.blocking_send(batch).map_err(|_| stopped())?;
    }
    Ok(())
}
