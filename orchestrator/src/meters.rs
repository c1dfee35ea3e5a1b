//! `hemflux meters run` and `hemflux reading add`: the meter analytics on the embedded store.
//!
//! Definitions are `meters.yaml` (and `seasonal_patterns.yaml` beside it), next to
//! `hemflux.toml` unless `--meters` says otherwise. A run reads each physical meter's readings
//! from the store, resumes from the state the last run left in `<data>/meters-state.json`
//! (points written since then, found by the store's write order, say where to recompute from),
//! and prints a table or JSON.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use hemflux_analytics::meters::{
    self as analytics, Changes, Kind, MeterOutput, MeterSet, Reading, Source, State,
};
use hemflux_shared::kinds::meters::MeterDefinitions;
use hemflux_shared::read::ReadQuery;
use hemflux_shared::time::{parse_instant, to_nanos};
use hemflux_shared::Point;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::run::default_config_path;
use crate::store::{RangeQuery, Reader, Store, StoreConfig};

const NS: i64 = 1_000_000_000;

#[derive(clap::Subcommand, Debug)]
pub enum MetersCommand {
    /// Compute consumption, flags and provenance for every meter (or the ones named) now.
    Run(RunArgs),
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Only print these meters (their sources are computed too).
    pub meters_ids: Vec<String>,
    /// Recompute everything instead of resuming from the last run.
    #[arg(long)]
    pub full: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub files: Files,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Files {
    /// The meter definitions; default `meters.yaml` beside `hemflux.toml`.
    #[arg(long)]
    pub meters: Option<PathBuf>,
    /// The data folder of `hemflux run`.
    #[arg(long, env = "HEMFLUX_DATA", default_value = "data")]
    pub data: PathBuf,
}

impl Files {
    fn meters_path(&self) -> PathBuf {
        self.meters
            .clone()
            .unwrap_or_else(|| default_meters_path(&self.data))
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Format {
    Table,
    Json,
}

#[derive(clap::Subcommand, Debug)]
pub enum ReadingCommand {
    /// Store a reading taken by hand: `hemflux reading add gas_zahler 1234.5 --at 2024-11-12T08:00:00Z`.
    Add(AddArgs),
}

#[derive(clap::Args, Debug)]
pub struct AddArgs {
    pub meter: String,
    /// The register as the meter shows it, in its reading unit.
    pub value: f64,
    /// When it was read (`2024-01-31`, `2024-01-31T06:00:00` UTC, or RFC 3339); default now.
    #[arg(long)]
    pub at: Option<String>,
    #[command(flatten)]
    pub files: Files,
}

/// `meters.yaml` beside the settings file that belongs to `data`.
pub fn default_meters_path(data: &Path) -> PathBuf {
    default_config_path(data).with_file_name("meters.yaml")
}

/// Reads and validates the definitions (and `seasonal_patterns.yaml` beside them, if there).
/// Every problem is one `file:line:column: field: message` line of the error.
pub fn load(path: &Path) -> Result<MeterSet> {
    let (set, _) = load_with_text(path)?;
    Ok(set)
}

fn load_with_text(path: &Path) -> Result<(MeterSet, String)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let patterns_path = path.with_file_name("seasonal_patterns.yaml");
    let patterns = match std::fs::read_to_string(&patterns_path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {}", patterns_path.display()))
        }
    };
    let (name, pname) = (
        path.display().to_string(),
        patterns_path.display().to_string(),
    );
    let set = analytics::parse(
        Source {
            name: &name,
            text: &text,
        },
        patterns
            .as_deref()
            .map(|text| Source { name: &pname, text }),
    )
    .map_err(|errors| {
        anyhow::anyhow!(errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"))
    })?;
    Ok((set, text + patterns.as_deref().unwrap_or("")))
}

/// The definitions at `path` for the `meters` worker: `None` if there is no such file, an error
/// (every problem with its file, line and field) if they do not parse.
pub fn definitions_for_worker(path: &Path) -> Result<Option<MeterDefinitions>> {
    if !path.is_file() {
        return Ok(None);
    }
    let set = load(path)?;
    let patterns_path = path.with_file_name("seasonal_patterns.yaml");
    let series = set
        .meters
        .iter()
        .filter_map(|m| match &m.kind {
            Kind::Physical(p) => Some((
                p.series.measurement.clone(),
                p.series.tags.iter().cloned().collect(),
            )),
            _ => None,
        })
        .collect();
    Ok(Some(MeterDefinitions {
        file: path.to_path_buf(),
        text: std::fs::read_to_string(path)?,
        patterns: std::fs::read_to_string(&patterns_path).ok(),
        series,
    }))
}

/// What a run leaves for the next one.
#[derive(Serialize, Deserialize)]
struct Saved {
    /// Definitions the state was computed with (a change means a full run).
    definitions: u64,
    /// The store's write position when the run began.
    store_seq: u64,
    state: State,
}

fn state_path(data: &Path) -> PathBuf {
    data.join("meters-state.json")
}

pub fn run(args: RunArgs) -> Result<()> {
    let (set, text) = load_with_text(&args.files.meters_path())?;
    for id in &args.meters_ids {
        if set.index(id).is_none() {
            bail!("no meter {id:?} in {}", args.files.meters_path().display());
        }
    }
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    let definitions = hasher.finish();
    let reader = Reader::open(&args.files.data)?;
    let path = state_path(&args.files.data);
    let saved: Option<Saved> = match std::fs::read(&path) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is damaged: delete it (the next run is then a full one)",
                path.display()
            )
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let (mut state, since) = match saved {
        Some(s) if !args.full && s.definitions == definitions => (s.state, Some(s.store_seq)),
        _ => (State::default(), None),
    };
    let full = since.is_none();
    let (store_seq, changes) = changed_since(&reader, &set, since)?;
    let physical = set
        .meters
        .iter()
        .filter(|m| matches!(m.kind, Kind::Physical(_)))
        .count();
    let bar = ProgressBar::new(physical as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} meters {msg}")
            .expect("a valid template"),
    );
    let now = jiff::Timestamp::now().as_second();
    let outputs = analytics::run(&set, &mut state, now, &changes, full, |i, p, after| {
        bar.set_message(set.meters[i].id.clone());
        let query = RangeQuery {
            measurement: p.series.measurement.clone(),
            tags: p.series.tags.iter().cloned().collect(),
            from: after.map(|a| (a + 1) * NS),
            to: None,
        };
        let readings = reader
            .numeric_field(&query, &p.series.field)
            .with_context(|| format!("reading {} from the store", set.meters[i].id))?;
        bar.inc(1);
        Ok::<_, anyhow::Error>(
            readings
                .into_iter()
                .map(|(t, value)| Reading {
                    t: t.div_euclid(NS),
                    value,
                })
                .collect(),
        )
    })?;
    bar.finish_and_clear();
    let saved = Saved {
        definitions,
        store_seq,
        state,
    };
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&saved)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;

    let shown: Vec<&MeterOutput> = outputs
        .iter()
        .filter(|o| args.meters_ids.is_empty() || args.meters_ids.contains(&o.meter_id))
        .collect();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        Format::Json => serde_json::to_writer(&mut out, &shown)?,
        Format::Table => write_table(&mut out, &shown, full)?,
    }
    writeln!(out)?;
    Ok(out.flush()?)
}

/// The store's write position now and, per physical meter, the earliest reading written after
/// `cursor` (nothing for `None`): what the `meters` worker asks with `changes`.
fn changed_since(reader: &Reader, set: &MeterSet, cursor: Option<u64>) -> Result<(u64, Changes)> {
    let meters: Vec<(&str, ReadQuery)> = set
        .meters
        .iter()
        .filter_map(|m| match &m.kind {
            Kind::Physical(p) => {
                let q =
                    ReadQuery::new(p.series.measurement.clone()).fields([p.series.field.clone()]);
                let q = p
                    .series
                    .tags
                    .iter()
                    .fold(q, |q, (k, v)| q.tag(k.clone(), v.clone()));
                Some((m.id.as_str(), q))
            }
            _ => None,
        })
        .collect();
    let queries: Vec<ReadQuery> = meters.iter().map(|(_, q)| q.clone()).collect();
    let (seq, earliest) = reader.changes(&queries, cursor)?;
    let changes = meters
        .iter()
        .zip(earliest)
        .filter_map(|((id, _), t)| Some((id.to_string(), t?.div_euclid(NS))))
        .collect();
    Ok((seq, changes))
}

fn number(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.3}"))
}

/// One line per meter: the latest day, month and year it has, and its flags by kind.
fn write_table(out: &mut impl Write, outputs: &[&MeterOutput], full: bool) -> Result<()> {
    writeln!(
        out,
        "{:<26} {:<8} {:<5} {:>9} {:<10} {:>12} {:<7} {:>12} {:>12} {:<13} flags",
        "meter", "kind", "unit", "readings", "day", "use", "month", "use", "year use", "provenance"
    )?;
    for o in outputs {
        let day = o.days.last();
        let month = o.months.last();
        let mut flags: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &o.flags {
            *flags.entry(f.kind.as_str()).or_default() += 1;
        }
        let flags: Vec<String> = flags.iter().map(|(k, n)| format!("{k}:{n}")).collect();
        writeln!(
            out,
            "{:<26} {:<8} {:<5} {:>9} {:<10} {:>12} {:<7} {:>12} {:>12} {:<13} {}",
            o.meter_id,
            o.kind,
            o.unit,
            o.readings,
            day.map_or("-", |d| d.label.as_str()),
            number(day.map(|d| d.consumption)),
            month.map_or("-", |m| m.label.as_str()),
            number(month.map(|m| m.consumption)),
            number(o.years.last().map(|y| y.consumption)),
            day.map_or("-", |d| d.provenance.as_str()),
            flags.join(" "),
        )?;
    }
    let how = if full {
        "full run"
    } else {
        "resumed from the last run: flags and days since the first changed day"
    };
    write!(out, "({how})")?;
    Ok(())
}

/// `hemflux reading add`: one point in the meter's series, written like any worker's.
pub async fn add_reading(args: AddArgs) -> Result<()> {
    let set = load(&args.files.meters_path())?;
    let Some(meter) = set.index(&args.meter).map(|i| &set.meters[i]) else {
        bail!(
            "no meter {:?} in {}",
            args.meter,
            args.files.meters_path().display()
        );
    };
    let Kind::Physical(p) = &meter.kind else {
        bail!(
            "{} is a computed meter: readings belong to its physical meters",
            meter.id
        );
    };
    if !args.value.is_finite() {
        bail!("{} is not a reading", args.value);
    }
    let at = match &args.at {
        Some(s) => parse_instant(s).map_err(|e| anyhow::anyhow!("--at: {e}"))?,
        None => jiff::Timestamp::now(),
    };
    let mut point = Point::new(p.series.measurement.clone(), to_nanos(at))
        .field(p.series.field.clone(), args.value);
    for (k, v) in &p.series.tags {
        point = point.tag(k.clone(), v.clone());
    }
    std::fs::create_dir_all(&args.files.data)
        .with_context(|| format!("cannot create {}", args.files.data.display()))?;
    let store = Store::open(&args.files.data, &StoreConfig::default())?;
    store.write("reading:add", vec![point], None).await?;
    println!("{}: {} at {at}", meter.id, args.value);
    Ok(())
}
