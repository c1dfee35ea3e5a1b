//! `hemflux query`: print what the embedded store holds. Opens the store read-only, so it works
//! while `hemflux run` writes to the same data folder.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use hemflux_shared::time::{from_nanos, parse_instant, to_nanos};
use hemflux_shared::{FieldValue, Point};
use serde_json::{json, Map, Value};

use crate::store::{RangeQuery, Reader};

#[derive(clap::Args, Debug)]
pub struct QueryArgs {
    /// The measurement to print (e.g. energy_meter).
    #[arg(required_unless_present = "list")]
    pub measurement: Option<String>,
    /// The data folder of `hemflux run`.
    #[arg(long, env = "HEMFLUX_DATA", default_value = "data")]
    pub data: PathBuf,
    /// Only series with this tag (repeatable): --tag house_id=villa_12
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    /// From this instant, inclusive (2024-01-31, 2024-01-31T06:00:00 UTC, or RFC 3339).
    #[arg(long)]
    pub from: Option<String>,
    /// To this instant, exclusive.
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    /// List each measurement with its number of points instead.
    #[arg(long, conflicts_with = "measurement")]
    pub list: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Format {
    Csv,
    Json,
}

fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

fn parse_time(flag: &str, value: &Option<String>) -> Result<Option<i64>> {
    value
        .as_deref()
        .map(|s| {
            parse_instant(s)
                .map(to_nanos)
                .map_err(|e| anyhow::anyhow!("{flag}: {e}"))
        })
        .transpose()
}

pub fn run(args: QueryArgs) -> Result<()> {
    let reader = Reader::open(&args.data)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.list {
        for (measurement, count) in reader.measurement_counts()? {
            writeln!(out, "{measurement}\t{count}")?;
        }
        return Ok(out.flush()?);
    }
    let Some(measurement) = args.measurement else {
        bail!("name a measurement, or use --list");
    };
    let query = RangeQuery {
        measurement,
        tags: args.tags.into_iter().collect(),
        from: parse_time("--from", &args.from)?,
        to: parse_time("--to", &args.to)?,
    };
    let mut points = reader.points(&query)?;
    points.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.tags.cmp(&b.tags)));
    match args.format {
        Format::Json => write_json(&points, &mut out),
        Format::Csv => write_csv(&points, &mut out),
    }
    .context("cannot write to stdout")?;
    Ok(out.flush()?)
}

fn rfc3339(ns: i64) -> String {
    from_nanos(ns).to_string()
}

fn field_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::Float(f) => json!(f),
        FieldValue::Int(i) => json!(i),
        FieldValue::Bool(b) => json!(b),
        FieldValue::Str(s) => json!(s),
    }
}

/// One JSON array of `{"time", "tags", "fields"}` objects.
pub fn write_json(points: &[Point], out: &mut impl Write) -> Result<()> {
    let array: Vec<Value> = points
        .iter()
        .map(|p| {
            let fields: Map<String, Value> = p
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), field_json(v)))
                .collect();
            json!({"time": rfc3339(p.time), "tags": p.tags, "fields": fields})
        })
        .collect();
    serde_json::to_writer(&mut *out, &array)?;
    writeln!(out)?;
    Ok(())
}

/// A header `time,<tag keys>,<field keys>`, then one row per point (empty cell: not set).
pub fn write_csv(points: &[Point], out: &mut impl Write) -> Result<()> {
    let tag_keys: BTreeSet<&str> = points
        .iter()
        .flat_map(|p| p.tags.keys().map(String::as_str))
        .collect();
    let field_keys: BTreeSet<&str> = points
        .iter()
        .flat_map(|p| p.fields.keys().map(String::as_str))
        .collect();
    let header: Vec<&str> = std::iter::once("time")
        .chain(tag_keys.iter().copied())
        .chain(field_keys.iter().copied())
        .collect();
    write_row(out, header.iter().map(|s| s.to_string()))?;
    for p in points {
        let tags = tag_keys
            .iter()
            .map(|k| p.tags.get(*k).cloned().unwrap_or_default());
        let fields = field_keys
            .iter()
            .map(|k| p.fields.get(*k).map(field_text).unwrap_or_default());
        write_row(
            out,
            std::iter::once(rfc3339(p.time)).chain(tags).chain(fields),
        )?;
    }
    Ok(())
}

fn field_text(v: &FieldValue) -> String {
    match v {
        FieldValue::Float(f) => f.to_string(),
        FieldValue::Int(i) => i.to_string(),
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::Str(s) => s.clone(),
    }
}

fn write_row(out: &mut impl Write, cells: impl Iterator<Item = String>) -> Result<()> {
    let cells: Vec<String> = cells.map(|c| csv_cell(&c)).collect();
    writeln!(out, "{}", cells.join(","))?;
    Ok(())
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_it_and_leaves_gaps_empty() {
        let points = vec![
            Point::new("m", 0).tag("h", "a,b").field("x", 1.5),
            Point::new("m", 1_000_000_000)
                .tag("h", "c")
                .field("s", "say \"hi\""),
        ];
        let mut out = Vec::new();
        write_csv(&points, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "time,h,s,x\n1970-01-01T00:00:00Z,\"a,b\",,1.5\n1970-01-01T00:00:01Z,c,\"say \"\"hi\"\"\",\n"
        );
    }

    #[test]
    fn json_is_one_array_with_typed_fields() {
        let points = vec![Point::new("m", 0)
            .tag("h", "a")
            .field("n", 3i64)
            .field("b", true)];
        let mut out = Vec::new();
        write_json(&points, &mut out).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            json!([{"time": "1970-01-01T00:00:00Z", "tags": {"h": "a"}, "fields": {"n": 3, "b": true}}])
        );
    }

    #[test]
    fn tags_must_be_key_value() {
        assert_eq!(parse_tag("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_tag("nokey").is_err());
        assert!(parse_tag("=v").is_err());
    }
}
