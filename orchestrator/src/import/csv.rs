//! CSV with a header row, as `hemflux query` writes it (`time,<tags>,<fields>`, an empty cell
//! meaning "not set") and as spreadsheets of meter readings usually are.
//!
//! Which column is what: `time` (or `_time`) holds RFC 3339, a date-time (UTC), a date, or an
//! integer epoch in `--precision`; the measurement is `--measurement` or a `measurement` /
//! `_measurement` column; a column is a tag when `--tags` names it, or else when hemflux writes
//! a tag of that name (`house_id`, `meter_id`, ...); every other column is a field. A field
//! column's type comes from all its cells in the file: integers only → integer, numbers → float,
//! `true`/`false` → boolean, anything else → string. So the type does not flip from row to row,
//! which InfluxDB would refuse.

use std::collections::BTreeMap;
use std::io::BufRead;

use hemflux_shared::schema;
use hemflux_shared::time::{parse_instant, to_nanos};
use hemflux_shared::{FieldValue, Point};

use super::lp::{Line, Precision};

/// What the user said about the CSV's columns.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub measurement: Option<String>,
    pub tags: Option<Vec<String>>,
    pub precision: Precision,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Int,
    Float,
    Bool,
    Str,
}

impl Kind {
    fn of(cell: &str) -> Kind {
        if cell.parse::<i64>().is_ok() {
            Kind::Int
        } else if cell.parse::<f64>().is_ok_and(f64::is_finite)
            && cell.bytes().any(|b| b.is_ascii_digit())
        {
            Kind::Float
        } else if cell == "true" || cell == "false" {
            Kind::Bool
        } else {
            Kind::Str
        }
    }

    /// The type of a column holding cells of both kinds.
    fn join(self, other: Kind) -> Kind {
        match (self, other) {
            (a, b) if a == b => a,
            (Kind::Int, Kind::Float) | (Kind::Float, Kind::Int) => Kind::Float,
            _ => Kind::Str,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Int => "integer",
            Kind::Float => "float",
            Kind::Bool => "boolean",
            Kind::Str => "string",
        }
    }
}

/// Where each point's measurement comes from.
#[derive(Debug, Clone)]
enum Measurement {
    Fixed(String),
    Column(usize),
}

/// The roles of a file's columns and the type of each field column, from a first reading.
#[derive(Debug, Clone)]
pub struct Layout {
    time: usize,
    measurement: Measurement,
    pub tags: Vec<(usize, String)>,
    /// Column, name and type (`None`: every cell empty).
    pub fields: Vec<(usize, String, Option<Kind>)>,
    /// Rows with at least one value, per measurement.
    pub points: BTreeMap<String, u64>,
    precision: Precision,
}

/// Reads the header and decides each column's role; the field types are filled in by [`survey`].
fn layout(header: &csv::StringRecord, options: &Options) -> Result<Layout, String> {
    let find = |names: &[&str]| header.iter().position(|h| names.contains(&h));
    let time = find(&["time", "_time"]).ok_or("no `time` column in the header")?;
    let measurement_column = find(&["measurement", "_measurement"]);
    let measurement = match (&options.measurement, measurement_column) {
        (Some(m), _) => Measurement::Fixed(m.clone()),
        (None, Some(i)) => Measurement::Column(i),
        (None, None) => {
            return Err("which measurement? give --measurement, or a `measurement` column".into())
        }
    };
    let is_tag = |name: &str| match (&options.tags, &measurement) {
        (Some(tags), _) => tags.iter().any(|t| t == name),
        (None, Measurement::Fixed(m)) if schema::is_measurement(m) => schema::has_tag(m, name),
        (None, _) => schema::SERIES.iter().any(|s| s.tags.contains(&name)),
    };
    if let Some(tags) = &options.tags {
        if let Some(missing) = tags.iter().find(|t| !header.iter().any(|h| h == *t)) {
            return Err(format!("--tags names {missing:?}, which is not a column"));
        }
    }
    let (mut tags, mut fields) = (Vec::new(), Vec::new());
    for (i, name) in header.iter().enumerate() {
        if i == time || Some(i) == measurement_column {
            continue;
        }
        if name.is_empty() {
            return Err(format!("column {} has no name", i + 1));
        }
        if is_tag(name) {
            tags.push((i, name.to_string()));
        } else {
            fields.push((i, name.to_string(), None));
        }
    }
    if fields.is_empty() {
        return Err("no field columns (every column is the time, the measurement or a tag)".into());
    }
    Ok(Layout {
        time,
        measurement,
        tags,
        fields,
        points: BTreeMap::new(),
        precision: options.precision,
    })
}

fn time(cell: &str, precision: Precision) -> Result<i64, String> {
    if let Ok(n) = cell.parse::<i64>() {
        return precision
            .to_nanos(n)
            .ok_or_else(|| format!("time {n} is out of range for {precision:?}"));
    }
    parse_instant(cell)
        .map(to_nanos)
        .map_err(|e| format!("time {cell:?}: {e}"))
}

fn line_of(record: &csv::StringRecord) -> u64 {
    record.position().map_or(0, |p| p.line())
}

fn reader(input: impl BufRead) -> csv::Reader<impl BufRead> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(input)
}

/// First reading: the layout with every field column's type, and each bad row (line, problem).
/// An error is about the whole file (its header).
pub fn survey(
    input: impl BufRead,
    options: &Options,
    on_row: &mut dyn FnMut(u64, Result<Line, String>) -> anyhow::Result<()>,
) -> anyhow::Result<Result<Layout, String>> {
    let mut csv = reader(input);
    let header = match csv.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Ok(Err(format!("cannot read the header: {e}"))),
    };
    let mut layout = match layout(&header, options) {
        Ok(l) => l,
        Err(e) => return Ok(Err(e)),
    };
    let mut record = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                on_row(line, Err(e.to_string()))?;
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        }
        let line = line_of(&record);
        let checked = survey_row(&record, &mut layout);
        on_row(line, checked)?;
    }
    Ok(Ok(layout))
}

/// Checks one row and adds its cells to the column types.
fn survey_row(record: &csv::StringRecord, layout: &mut Layout) -> Result<Line, String> {
    time(&record[layout.time], layout.precision)?;
    let measurement = match &layout.measurement {
        Measurement::Column(i) if record[*i].is_empty() => {
            return Err("the measurement cell is empty".to_string())
        }
        Measurement::Column(i) => &record[*i],
        Measurement::Fixed(m) => m.as_str(),
    };
    let mut any = false;
    for (i, _, kind) in &mut layout.fields {
        let cell = &record[*i];
        if !cell.is_empty() {
            any = true;
            let k = Kind::of(cell);
            *kind = Some(kind.map_or(k, |old| old.join(k)));
        }
    }
    if !any {
        return Ok(Line::Skipped);
    }
    if let Some(n) = layout.points.get_mut(measurement) {
        *n += 1;
    } else {
        layout.points.insert(measurement.to_string(), 1);
    }
    Ok(Line::Row)
}

/// Second reading: every row as a point, with the types [`survey`] found.
pub fn read(
    input: impl BufRead,
    layout: &Layout,
    on_row: &mut dyn FnMut(u64, Result<Line, String>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut csv = reader(input);
    let mut record = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                on_row(e.position().map_or(0, |p| p.line()), Err(e.to_string()))?;
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    return Ok(());
                }
                continue;
            }
        }
        on_row(line_of(&record), point(&record, layout))?;
    }
}

fn point(record: &csv::StringRecord, layout: &Layout) -> Result<Line, String> {
    let measurement = match &layout.measurement {
        Measurement::Fixed(m) => m.as_str(),
        Measurement::Column(i) => &record[*i],
    };
    let mut point = Point::new(measurement, time(&record[layout.time], layout.precision)?);
    for (i, name) in &layout.tags {
        if !record[*i].is_empty() {
            point = point.tag(name, &record[*i]);
        }
    }
    for (i, name, kind) in &layout.fields {
        let cell = &record[*i];
        if cell.is_empty() {
            continue;
        }
        let value = match kind.unwrap_or(Kind::Str) {
            Kind::Int => cell.parse().map(FieldValue::Int).ok(),
            Kind::Float => cell.parse().map(FieldValue::Float).ok(),
            Kind::Bool => Some(FieldValue::Bool(cell == "true")),
            Kind::Str => Some(FieldValue::Str(cell.to_string())),
        };
        let value = value
            .ok_or_else(|| format!("{name}: {cell:?} changed type since the first reading"))?;
        point = point.field(name, value);
    }
    if point.fields.is_empty() {
        // A row of readings with a gap: nothing to store, nothing wrong.
        return Ok(Line::Skipped);
    }
    point.validate().map_err(|e| e.to_string())?;
    Ok(Line::Point(point))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(text: &str, options: &Options) -> (Layout, Vec<Point>, Vec<(u64, String)>) {
        let mut errors = Vec::new();
        let layout = survey(text.as_bytes(), options, &mut |line, r| {
            if let Err(e) = r {
                errors.push((line, e));
            }
            Ok(())
        })
        .unwrap()
        .unwrap();
        let mut points = Vec::new();
        read(text.as_bytes(), &layout, &mut |_, r| {
            if let Ok(Line::Point(p)) = r {
                points.push(p);
            }
            Ok(())
        })
        .unwrap();
        (layout, points, errors)
    }

    #[test]
    fn query_output_with_known_tags_and_column_types() {
        let text = "time,house_id,meter_id,consumption,meter_reading,note,ok
2024-01-01T00:00:00Z,villa,735,1,1000,,true
2024-01-01T01:00:00Z,villa,735,1.5,1001,\"a, b\",false
2024-01-01T02:00:00Z,villa,735,,1002,,
";
        let options = Options {
            measurement: Some("energy_meter".into()),
            ..Options::default()
        };
        let (layout, points, errors) = import(text, &options);
        assert!(errors.is_empty(), "{errors:?}");
        let names: Vec<_> = layout.tags.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["house_id", "meter_id"]);
        assert_eq!(
            points[0],
            Point::new("energy_meter", 1_704_067_200_000_000_000)
                .tag("house_id", "villa")
                .tag("meter_id", "735")
                .field("consumption", 1.0) // the column has 1.5 too: float throughout
                .field("meter_reading", 1000i64)
                .field("ok", true)
        );
        assert_eq!(points[1].fields["note"], FieldValue::Str("a, b".into()));
        assert_eq!(points[2].fields.len(), 1);
    }

    #[test]
    fn bad_rows_are_named_by_line_and_the_rest_read() {
        let text = "time,measurement,value
2024-01-01,m,1
yesterday,m,2
2024-01-03,,3
2024-01-04,m
2024-01-05,m,5
";
        let (_, points, errors) = import(text, &Options::default());
        assert_eq!(points.len(), 2);
        let lines: Vec<u64> = errors.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [3, 4, 5], "{errors:?}");
        assert!(errors[0].1.contains("yesterday"));
        assert!(errors[1].1.contains("measurement cell is empty"));
    }

    #[test]
    fn header_problems_concern_the_whole_file() {
        let bad = |text: &str, options: &Options| {
            survey(text.as_bytes(), options, &mut |_, _| Ok(()))
                .unwrap()
                .unwrap_err()
        };
        assert!(bad("when,value\n", &Options::default()).contains("no `time` column"));
        assert!(bad("time,value\n", &Options::default()).contains("which measurement"));
        let tags = Options {
            measurement: Some("m".into()),
            tags: Some(vec!["site".into()]),
            ..Options::default()
        };
        assert!(bad("time,value\n", &tags).contains("\"site\""));
    }

    #[test]
    fn epoch_times_follow_the_precision() {
        let options = Options {
            measurement: Some("m".into()),
            precision: Precision::S,
            ..Options::default()
        };
        let (_, points, _) = import("time,v\n1700000000,2.5\n", &options);
        assert_eq!(points[0].time, 1_700_000_000_000_000_000);
    }
}
