//! `type = "file"`: points appended to a local file as CSV (with a header), JSON lines or YAML
//! documents, the outputs of the HEMS data collector. Also the record format that the stdout
//! and webhook sinks share: one flat object per point, `timestamp` first.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use hemflux_shared::time::from_nanos;
use hemflux_shared::{FieldValue, Point};
use serde::Deserialize;
use serde_json::Value;

use super::{KindConfig, SendError, Sink};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    /// One JSON object per line.
    #[default]
    Json,
    /// One YAML document (`---`) per point.
    Yaml,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub path: PathBuf,
    #[serde(default)]
    pub format: Format,
    /// Only points of these measurements (all when empty), e.g. `["smart_meter"]`.
    #[serde(default)]
    pub measurements: Vec<String>,
    /// CSV only: the columns, in order. Default: `timestamp`, `measurement`, then the tags and
    /// fields of the first point written (or the header of an existing file).
    #[serde(default)]
    pub columns: Vec<String>,
}

/// One point as the collector wrote a reading: `timestamp` (UTC, Python isoformat), then
/// `measurement`, the tags and the fields, in that order.
pub fn record(p: &Point) -> Vec<(String, Value)> {
    let mut r = vec![
        ("timestamp".to_string(), Value::from(timestamp(p.time))),
        (
            "measurement".to_string(),
            Value::from(p.measurement.clone()),
        ),
    ];
    r.extend(
        p.tags
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone()))),
    );
    r.extend(p.fields.iter().map(|(k, v)| {
        let v = match v {
            FieldValue::Float(f) => Value::from(*f),
            FieldValue::Int(i) => Value::from(*i),
            FieldValue::Bool(b) => Value::from(*b),
            FieldValue::Str(s) => Value::from(s.clone()),
        };
        (k.clone(), v)
    }));
    r
}

/// `2023-10-27T10:00:00.123456+00:00`, or without the fraction when it is zero (Python's
/// `isoformat()`, which our users' consumers parse).
pub fn timestamp(ns: i64) -> String {
    let t = from_nanos(ns);
    if t.subsec_microsecond() == 0 {
        t.strftime("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        t.strftime("%Y-%m-%dT%H:%M:%S.%6f+00:00").to_string()
    }
}

/// The record as one JSON object, keys in record order.
pub fn json_object(record: &[(String, Value)]) -> String {
    let body: Vec<String> = record
        .iter()
        .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// The record as one YAML document. JSON scalars are valid YAML scalars, and keys that are not
/// plain words are quoted, so no YAML library is needed.
fn yaml_document(record: &[(String, Value)]) -> String {
    let mut out = String::from("---\n");
    for (k, v) in record {
        let plain = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let key = if plain {
            k.clone()
        } else {
            Value::from(k.as_str()).to_string()
        };
        out += &format!("{key}: {v}\n");
    }
    out
}

/// A cell's text: strings as they are, other values as JSON, nothing for a missing key.
fn csv_cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Renders points in a format; CSV columns are fixed by the first call (or given).
pub struct Renderer {
    format: Format,
    measurements: BTreeSet<String>,
    columns: Vec<String>,
    /// Keys already warned about (not in the CSV header).
    dropped: BTreeSet<String>,
}

impl Renderer {
    pub fn new(format: Format, measurements: &[String], columns: Vec<String>) -> Renderer {
        Renderer {
            format,
            measurements: measurements.iter().cloned().collect(),
            columns,
            dropped: BTreeSet::new(),
        }
    }

    pub fn wants(&self, p: &Point) -> bool {
        self.measurements.is_empty() || self.measurements.contains(&p.measurement)
    }

    /// The text for `points` (those this sink wants), with a CSV header first when `header`.
    pub fn render(&mut self, points: &[Point], header: bool) -> std::io::Result<String> {
        let wanted: Vec<&Point> = points.iter().filter(|p| self.wants(p)).collect();
        if self.format != Format::Csv {
            let mut out = String::new();
            for p in wanted {
                match self.format {
                    Format::Yaml => out += &yaml_document(&record(p)),
                    _ => out += &(json_object(&record(p)) + "\n"),
                }
            }
            return Ok(out);
        }
        if self.columns.is_empty() {
            if let Some(first) = wanted.first() {
                self.columns = record(first).into_iter().map(|(k, _)| k).collect();
            }
        }
        let mut csv = csv::Writer::from_writer(Vec::new());
        if header && !wanted.is_empty() {
            csv.write_record(&self.columns)?;
        }
        for p in wanted {
            let r = record(p);
            for (k, _) in &r {
                if !self.columns.contains(k) && self.dropped.insert(k.clone()) {
                    tracing::warn!(key = %k, "not a column of the CSV file: left out (set `columns`, or one file per measurement)");
                }
            }
            let cell = |c: &String| csv_cell(r.iter().find(|(k, _)| k == c).map(|(_, v)| v));
            csv.write_record(self.columns.iter().map(cell))?;
        }
        let bytes = csv.into_inner().map_err(|e| e.into_error())?;
        String::from_utf8(bytes).map_err(std::io::Error::other)
    }
}

pub struct FileSink {
    path: PathBuf,
    renderer: Renderer,
}

impl KindConfig for FileConfig {
    type Sink = FileSink;

    fn build(&self) -> anyhow::Result<FileSink> {
        Ok(FileSink {
            path: self.path.clone(),
            renderer: Renderer::new(self.format, &self.measurements, self.columns.clone()),
        })
    }
}

impl FileSink {

    async fn append(&mut self, points: &[Point]) -> std::io::Result<()> {
        let path = self.path.clone();
        let csv = self.renderer.format == Format::Csv;
        let (existing, header) = blocking(move || probe(&path, csv)).await?;
        if self.renderer.columns.is_empty() {
            // Continue an existing file under its own header.
            if let Some(header) = header {
                self.renderer.columns = header;
            }
        }
        let text = self.renderer.render(points, existing == 0)?;
        if text.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        blocking(move || {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            file.write_all(text.as_bytes())?;
            file.sync_data()
        })
        .await
    }
}

/// The file's length (0 when it does not exist yet) and, when `csv`, its header.
fn probe(path: &std::path::Path, csv: bool) -> std::io::Result<(u64, Option<Vec<String>>)> {
    let file = match std::fs::File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, None)),
        file => file?,
    };
    let len = file.metadata()?.len();
    if !csv || len == 0 {
        return Ok((len, None));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(file);
    let header = match reader.records().next() {
        Some(record) => Some(record?.iter().map(String::from).collect()),
        None => None,
    };
    Ok((len, header))
}

/// File I/O off the async executor.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(std::io::Error::other)?
}

impl Sink for FileSink {
    async fn send(&mut self, points: &[Point]) -> Result<(), SendError> {
        self.append(points)
            .await
            .map_err(|e| SendError::Failed(format!("writing {}: {e}", self.path.display())))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The collector's README example, as a point.
    pub fn reading(time_ns: i64, kwh: f64) -> Point {
        Point::new("smart_meter", time_ns)
            .tag("house_id", "home")
            .tag("device", "broute")
            .field("cumulative_power_kwh", kwh)
            .field("instant_power_w", 500i64)
            .field("current_a", 7.5)
            .field("historical_timestamp", "2023-10-27T10:00:00+00:00")
    }

    const T: i64 = 1_698_400_800_123_456_000; // 2023-10-27T10:00:00.123456Z

    #[test]
    fn records_look_like_the_collectors() {
        assert_eq!(timestamp(T), "2023-10-27T10:00:00.123456+00:00");
        assert_eq!(
            timestamp(1_698_400_800_000_000_000),
            "2023-10-27T10:00:00+00:00"
        );
        let json = json_object(&record(&reading(T, 12345.6)));
        assert_eq!(
            json,
            r#"{"timestamp":"2023-10-27T10:00:00.123456+00:00","measurement":"smart_meter","device":"broute","house_id":"home","cumulative_power_kwh":12345.6,"current_a":7.5,"historical_timestamp":"2023-10-27T10:00:00+00:00","instant_power_w":500}"#
        );
        let yaml = yaml_document(&record(&reading(T, 12345.6)));
        assert!(
            yaml.starts_with("---\ntimestamp: \"2023-10-27T10:00:00.123456+00:00\"\n"),
            "{yaml}"
        );
        assert!(yaml.contains("\ncumulative_power_kwh: 12345.6\n"), "{yaml}");
    }

    #[tokio::test]
    async fn csv_has_one_header_and_continues_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/readings.csv");
        let config = FileConfig {
            path: path.clone(),
            format: Format::Csv,
            measurements: vec!["smart_meter".into()],
            columns: vec![],
        };
        let other = Point::new("synthetic", T).field("n", 1i64);
        config.build().unwrap()
            .append(&[other.clone(), reading(T, 1.5)])
            .await
            .unwrap();
        // A new sink (a restart) appends under the existing header; a missing field is empty.
        let mut second = reading(T + 1_000, 2.5);
        second.fields.remove("current_a");
        second
            .fields
            .insert("note".into(), FieldValue::Str("a, \"b\"".into()));
        config.build().unwrap()
            .append(&[second, other])
            .await
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "timestamp,measurement,device,house_id,cumulative_power_kwh,current_a,historical_timestamp,instant_power_w",
                "2023-10-27T10:00:00.123456+00:00,smart_meter,broute,home,1.5,7.5,2023-10-27T10:00:00+00:00,500",
                "2023-10-27T10:00:00.123457+00:00,smart_meter,broute,home,2.5,,2023-10-27T10:00:00+00:00,500",
            ]
        );
    }

    #[tokio::test]
    async fn csv_cells_with_commas_and_quotes_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("quoted.csv");
        let config: FileConfig =
            toml::from_str(&format!("path = {path:?}\nformat = \"csv\"")).unwrap();
        let point = |kwh: f64| {
            Point::new("smart_meter", T)
                .tag("site, \"north\"", "Main St, \"B\" wing")
                .field("kwh", kwh)
        };
        config.build().unwrap().append(&[point(1.0)]).await.unwrap();
        // A restart: the header, whose column name is quoted, is read back as one column.
        config.build().unwrap().append(&[point(2.0)]).await.unwrap();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_path(&path)
            .unwrap();
        let rows: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        let row = |kwh: &str| {
            vec![
                "2023-10-27T10:00:00.123456+00:00".to_string(),
                "smart_meter".into(),
                "Main St, \"B\" wing".into(),
                kwh.into(),
            ]
        };
        let header = ["timestamp", "measurement", "site, \"north\"", "kwh"];
        assert_eq!(rows, [header.map(String::from).to_vec(), row("1.0"), row("2.0")]);
    }

    #[tokio::test]
    async fn json_lines_and_yaml_files_append_one_record_per_point() {
        let dir = tempfile::tempdir().unwrap();
        for format in [Format::Json, Format::Yaml] {
            let path = dir.path().join(format!("{format:?}"));
            let config = FileConfig {
                path: path.clone(),
                format,
                measurements: vec![],
                columns: vec![],
            };
            let mut sink = config.build().unwrap();
            sink.append(&[reading(T, 1.0), reading(T + 1, 2.0)])
                .await
                .unwrap();
            sink.append(&[reading(T + 2, 3.0)]).await.unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            let count = match format {
                Format::Yaml => text.matches("---\n").count(),
                _ => text.lines().count(),
            };
            assert_eq!(count, 3, "{text}");
            if format == Format::Json {
                for line in text.lines() {
                    let v: Value = serde_json::from_str(line).unwrap();
                    assert_eq!(v["device"], "broute");
                }
            }
        }
    }
}
