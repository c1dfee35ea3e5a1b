//! InfluxDB line protocol, one point a line, as `influx write` takes it and as
//! `influx_inspect export` writes it: the export's `# DDL` section (`CREATE DATABASE ...`) is
//! skipped, and `# CONTEXT-DATABASE:name` lines say which database the following lines belong to.

use std::collections::BTreeSet;

use hemflux_shared::{FieldValue, Point};
use influxdb_line_protocol::{parse_lines, FieldValue as Parsed};

/// The unit of the timestamps in the file (`influx write --precision`): the sinks' unit.
pub use crate::sinks::influx::Precision;

/// What one line of the file is.
#[derive(Debug, PartialEq)]
pub enum Line {
    Point(Point),
    /// A comment, a blank line, the export's DDL, a point of a database not asked for, or a
    /// CSV row without values.
    Skipped,
    /// A good CSV row in the first reading, before its point can be made.
    Row,
}

/// Reads lines in order, keeping track of the export's sections.
pub struct LineReader {
    precision: Precision,
    /// Only points of this database (`--database`), when the file says which database it is.
    only_database: Option<String>,
    in_ddl: bool,
    database: Option<String>,
    /// Every database the file named, for the summary.
    pub databases: BTreeSet<String>,
}

impl LineReader {
    pub fn new(precision: Precision, only_database: Option<String>) -> LineReader {
        LineReader {
            precision,
            only_database,
            in_ddl: false,
            database: None,
            databases: BTreeSet::new(),
        }
    }

    /// One line of text (without its newline); an error says what is wrong with it.
    pub fn line(&mut self, text: &str) -> Result<Line, String> {
        let text = text.trim_end_matches(['\n', '\r']);
        let trimmed = text.trim_start();
        if let Some(comment) = trimmed.strip_prefix('#') {
            self.header(comment.trim());
            return Ok(Line::Skipped);
        }
        if trimmed.is_empty() || self.in_ddl {
            return Ok(Line::Skipped);
        }
        if let (Some(only), Some(database)) = (&self.only_database, &self.database) {
            if only != database {
                return Ok(Line::Skipped);
            }
        }
        self.point(trimmed).map(Line::Point)
    }

    fn header(&mut self, comment: &str) {
        if comment == "DDL" {
            self.in_ddl = true;
        } else if comment == "DML" {
            self.in_ddl = false;
        } else if let Some(db) = comment.strip_prefix("CONTEXT-DATABASE:") {
            let db = db.trim().to_string();
            self.databases.insert(db.clone());
            self.database = Some(db);
        }
    }

    fn point(&self, text: &str) -> Result<Point, String> {
        let mut lines = parse_lines(text);
        let parsed = match (lines.next(), lines.next()) {
            (Some(Ok(parsed)), None) => parsed,
            (Some(Err(e)), _) => return Err(format!("not line protocol: {e}")),
            _ => return Err("not one line of line protocol".into()),
        };
        let Some(stamp) = parsed.timestamp else {
            return Err("no timestamp (an import needs the time of every point)".into());
        };
        let time = self
            .precision
            .to_nanos(stamp)
            .ok_or_else(|| format!("timestamp {stamp} is out of range for {:?}", self.precision))?;
        let mut point = Point::new(parsed.series.measurement.as_str(), time);
        for (key, value) in parsed.series.tag_set.iter().flatten() {
            point = point.tag(key.as_str(), value.as_str());
        }
        for (key, value) in &parsed.field_set {
            let value = match value {
                Parsed::F64(v) => FieldValue::Float(*v),
                Parsed::I64(v) => FieldValue::Int(*v),
                Parsed::U64(v) => FieldValue::Int(i64::try_from(*v).map_err(|_| {
                    format!("field {key}: unsigned {v} does not fit a signed 64-bit integer")
                })?),
                Parsed::Boolean(v) => FieldValue::Bool(*v),
                Parsed::String(v) => FieldValue::Str(v.to_string()),
            };
            point = point.field(key.as_str(), value);
        }
        point.validate().map_err(|e| e.to_string())?;
        Ok(point)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(reader: &mut LineReader, text: &str) -> Vec<Point> {
        text.lines()
            .filter_map(|l| match reader.line(l).unwrap() {
                Line::Point(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_influx_inspect_export_with_its_header() {
        let export = "# INFLUXDB EXPORT: 1677-09-21T00:12:43Z - 2262-04-11T23:47:16Z
# DDL
CREATE DATABASE energy WITH NAME autogen
CREATE RETENTION POLICY autogen ON energy DURATION inf REPLICATION 1
# DML
# CONTEXT-DATABASE:energy
# CONTEXT-RETENTION-POLICY:autogen
# writing tsm data
heating_system,house_id=villa\\ 1 supply_temp=41.5,away_mode=false,mode=\"auto\",n=3i 1700000000000000000
# CONTEXT-DATABASE:other
other v=1u 1700000000000000000
";
        let mut all = LineReader::new(Precision::Ns, None);
        let got = points(&mut all, export);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            Point::new("heating_system", 1_700_000_000_000_000_000)
                .tag("house_id", "villa 1")
                .field("supply_temp", 41.5)
                .field("away_mode", false)
                .field("mode", "auto")
                .field("n", 3i64)
        );
        assert_eq!(got[1].fields["v"], FieldValue::Int(1));
        assert_eq!(
            all.databases.iter().collect::<Vec<_>>(),
            vec!["energy", "other"]
        );

        let mut energy_only = LineReader::new(Precision::Ns, Some("energy".into()));
        assert_eq!(points(&mut energy_only, export).len(), 1);
    }

    #[test]
    fn precision_scales_timestamps() {
        let mut r = LineReader::new(Precision::S, None);
        assert_eq!(
            points(&mut r, "m v=1 1700000000")[0].time,
            1_700_000_000_000_000_000
        );
        let mut r = LineReader::new(Precision::Ms, None);
        assert!(r
            .line("m v=1 9223372036854775")
            .unwrap_err()
            .contains("out of range"));
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let mut r = LineReader::new(Precision::Ns, None);
        let err = |r: &mut LineReader, line: &str| r.line(line).unwrap_err();
        assert!(err(&mut r, "m v=1").contains("no timestamp"));
        assert!(err(&mut r, "m 1700000000").contains("not line protocol"));
        assert!(err(&mut r, "m v=abc 1").contains("not line protocol"));
        assert!(err(&mut r, "m v=NaN 1").contains("not line protocol"));
        assert!(err(&mut r, "m v=1e999 1").contains("not a finite number"));
        assert!(err(&mut r, "m v=18446744073709551615u 1").contains("does not fit"));
        assert_eq!(r.line("   ").unwrap(), Line::Skipped);
    }
}
