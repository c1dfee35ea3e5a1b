//! `hemflux query`: print what the embedded store holds. Opens the store read-only, so it works
//! while `hemflux run` writes to the same data folder.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use hemflux_shared::time::{from_nanos, parse_instant, to_nanos};
use serde_json::{json, Map, Value};

use crate::store::{RangeQuery, RawValue, Reader};

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
    match args.format {
        Format::Json => write_json(&reader, &query, &mut out),
        Format::Csv => write_csv(&reader, &query, &mut out),
    }?;
    Ok(out.flush()?)
}

fn rfc3339(ns: i64) -> String {
    from_nanos(ns).to_string()
}

fn field_json(v: RawValue<'_>) -> Value {
    match v {
        RawValue::Float(f) => json!(f),
        RawValue::Int(i) => json!(i),
        RawValue::Bool(b) => json!(b),
        RawValue::Str(s) => json!(s),
    }
}

/// One JSON array of `{"time", "tags", "fields"}` objects, in time order, streamed.
fn write_json(reader: &Reader, query: &RangeQuery, out: &mut impl Write) -> Result<()> {
    out.write_all(b"[")?;
    let mut first = true;
    reader.for_each_point_by_time(query, |series, time, fields| {
        let fields: Map<String, Value> = fields
            .map(|f| f.map(|(k, v)| (k.to_string(), field_json(v))))
            .collect::<Result<_>>()?;
        if !first {
            out.write_all(b",")?;
        }
        first = false;
        let point = json!({"time": rfc3339(time), "tags": series.tags, "fields": fields});
        serde_json::to_writer(&mut *out, &point)?;
        Ok(())
    })?;
    out.write_all(b"]\n")?;
    Ok(())
}

/// A header `time,<tag keys>,<field keys>`, then one row per point in time order (empty cell:
/// not set). Two passes: the first finds the field names, so nothing is held in memory.
fn write_csv(reader: &Reader, query: &RangeQuery, out: &mut impl Write) -> Result<()> {
    let tag_keys: BTreeSet<String> = reader
        .series(&query.measurement, &query.tags)?
        .into_iter()
        .flat_map(|s| s.tags.into_keys())
        .collect();
    let mut field_keys = BTreeSet::new();
    reader.for_each_point(query, |_, _, fields| {
        for f in fields {
            let (name, _) = f?;
            if !field_keys.contains(name) {
                field_keys.insert(name.to_string());
            }
        }
        Ok(())
    })?;
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(
        std::iter::once("time")
            .chain(tag_keys.iter().map(String::as_str))
            .chain(field_keys.iter().map(String::as_str)),
    )?;
    let mut cells: Vec<String> = Vec::new();
    reader.for_each_point_by_time(query, |series, time, fields| {
        let mut by_name = std::collections::BTreeMap::new();
        for f in fields {
            let (name, value) = f?;
            by_name.insert(name, value);
        }
        cells.clear();
        cells.push(rfc3339(time));
        cells.extend(
            tag_keys
                .iter()
                .map(|k| series.tags.get(k).cloned().unwrap_or_default()),
        );
        cells.extend(field_keys.iter().map(|k| {
            by_name
                .get(k.as_str())
                .map(|v| field_text(*v))
                .unwrap_or_default()
        }));
        Ok(csv.write_record(&cells)?)
    })?;
    Ok(csv.flush()?)
}

/// A float always shows that it is one (`21.0`, `1e21`), so that `hemflux import` reads the
/// column back as floats and not as integers.
fn field_text(v: RawValue<'_>) -> String {
    match v {
        RawValue::Float(f) => format!("{f:?}"),
        RawValue::Int(i) => i.to_string(),
        RawValue::Bool(b) => b.to_string(),
        RawValue::Str(s) => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn csv_cells_are_quoted_when_needed() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path(), &Default::default()).unwrap();
        let cells = ["plain", "a,b", "say \"hi\"", "two\nlines"];
        let points = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                hemflux_shared::Point::new("notes", i as i64 * 1_000_000_000).field("text", *c)
            })
            .collect();
        store.write("w", points, None).await.unwrap();
        let mut out = Vec::new();
        write_csv(
            &store.reader().unwrap(),
            &RangeQuery::new("notes"),
            &mut out,
        )
        .unwrap();
        let quoted = ["plain", "\"a,b\"", "\"say \"\"hi\"\"\"", "\"two\nlines\""];
        let rows: String = quoted
            .iter()
            .enumerate()
            .map(|(i, q)| format!("{},{q}\n", rfc3339(i as i64 * 1_000_000_000)))
            .collect();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            format!("time,text\n{rows}")
        );
    }

    #[test]
    fn floats_look_like_floats() {
        let text = |f: f64| field_text(RawValue::Float(f));
        assert_eq!(text(21.0), "21.0");
        assert_eq!(text(0.1), "0.1");
        assert_eq!(text(-1e21), "-1e21");
        assert_eq!(field_text(RawValue::Int(21)), "21");
    }

    #[test]
    fn tags_must_be_key_value() {
        assert_eq!(parse_tag("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_tag("nokey").is_err());
        assert!(parse_tag("=v").is_err());
    }
}
