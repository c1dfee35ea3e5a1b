//! Reading the store: range queries for `hemflux query` and the analytics, and the sinks' feed.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, Result};
use hemflux_shared::read::{PageCursor, ReadQuery};
use hemflux_shared::Point;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::fields::{self, RawValue};
use super::schema;

/// One series: a measurement and its full tag set.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub id: i64,
    pub measurement: String,
    pub tags: BTreeMap<String, String>,
}

/// Which points a range query reads. `from` is inclusive, `to` exclusive (nanoseconds UTC).
#[derive(Debug, Clone, Default)]
pub struct RangeQuery {
    pub measurement: String,
    /// A series matches when it has every one of these tags with that value.
    pub tags: BTreeMap<String, String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl RangeQuery {
    pub fn new(measurement: impl Into<String>) -> RangeQuery {
        RangeQuery {
            measurement: measurement.into(),
            ..RangeQuery::default()
        }
    }

    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> RangeQuery {
        self.tags.insert(key.into(), value.into());
        self
    }

    pub fn between(mut self, from: Option<i64>, to: Option<i64>) -> RangeQuery {
        self.from = from;
        self.to = to;
        self
    }
}

/// Points as the sinks see them, in write order, each with its position (`seq`) in that order.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub seqs: Vec<u64>,
    pub points: Vec<Point>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    pub fn last_seq(&self) -> Option<u64> {
        self.seqs.last().copied()
    }
}

/// A read-only view of the store on its own connection (one per thread that reads).
pub struct Reader {
    conn: Connection,
    series: HashMap<i64, Series>,
}

impl Reader {
    pub fn open(data_dir: &Path) -> Result<Reader> {
        Ok(Reader {
            conn: schema::open_reader(data_dir)?,
            series: HashMap::new(),
        })
    }

    /// Each measurement with its number of points.
    pub fn measurement_counts(&self) -> Result<Vec<(String, u64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT s.measurement, count(*) FROM points p JOIN series s ON s.id = p.series_id
             GROUP BY s.measurement ORDER BY s.measurement",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn load_state(&self, worker_id: &str) -> Result<Option<Value>> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT state FROM worker_state WHERE worker_id = ?1",
                [worker_id],
                |r| r.get(0),
            )
            .optional()?;
        text.map(|t| {
            serde_json::from_str(&t)
                .with_context(|| format!("stored state of {worker_id} is not JSON"))
        })
        .transpose()
    }

    /// Every series in the store.
    pub fn all_series(&self) -> Result<Vec<Series>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, measurement, tags FROM series ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, measurement, text) = row?;
            out.push(Series {
                id,
                measurement,
                tags: serde_json::from_str(&text)?,
            });
        }
        Ok(out)
    }

    /// Per measurement, how many series carry tag `key=value` and how many points they hold
    /// (what offboarding an entity purges).
    pub fn tagged_counts(&self, key: &str, value: &str) -> Result<Vec<(String, u64, u64)>> {
        let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT count(*) FROM points WHERE series_id = ?1")?;
        for s in self.all_series()? {
            if s.tags.get(key).map(String::as_str) != Some(value) {
                continue;
            }
            let points: i64 = stmt.query_row([s.id], |r| r.get(0))?;
            let entry = counts.entry(s.measurement).or_default();
            entry.0 += 1;
            entry.1 += points as u64;
        }
        Ok(counts.into_iter().map(|(m, (s, p))| (m, s, p)).collect())
    }

    /// Every series of `measurement` carrying all of `tags`.
    pub fn series(
        &self,
        measurement: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<Vec<Series>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, tags FROM series WHERE measurement = ?1 ORDER BY id")?;
        let rows = stmt.query_map([measurement], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, text) = row?;
            let series_tags: BTreeMap<String, String> = serde_json::from_str(&text)?;
            if tags.iter().all(|(k, v)| series_tags.get(k) == Some(v)) {
                out.push(Series {
                    id,
                    measurement: measurement.to_string(),
                    tags: series_tags,
                });
            }
        }
        Ok(out)
    }

    /// Calls `each(series, time, fields)` for every point of the query, series by series, each in
    /// time order. Fields are borrowed: nothing is allocated per point.
    pub fn for_each_point(
        &self,
        query: &RangeQuery,
        mut each: impl FnMut(&Series, i64, fields::Fields<'_>) -> Result<()>,
    ) -> Result<()> {
        for series in self.series(&query.measurement, &query.tags)? {
            self.for_each_point_of(&series, query.from, query.to, |time, fields| {
                each(&series, time, fields)
            })?;
        }
        Ok(())
    }

    /// Calls `each(time, fields)` for every point of one series in `[from, to)`, in time order.
    pub fn for_each_point_of(
        &self,
        series: &Series,
        from: Option<i64>,
        to: Option<i64>,
        mut each: impl FnMut(i64, fields::Fields<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT time, fields FROM points WHERE series_id = ?1 AND time >= ?2 AND time < ?3
             ORDER BY time",
        )?;
        let mut rows = stmt.query(params![
            series.id,
            from.unwrap_or(i64::MIN),
            to.unwrap_or(i64::MAX)
        ])?;
        while let Some(row) = rows.next()? {
            let time: i64 = row.get(0)?;
            let bytes = row.get_ref(1)?.as_blob()?;
            each(time, fields::iter(bytes))?;
        }
        Ok(())
    }

    /// Like [`Reader::for_each_point`], but all series merged in time order (ties by series).
    /// SQLite sorts on disk if it must, so memory stays bounded however many points match.
    pub fn for_each_point_by_time(
        &self,
        query: &RangeQuery,
        mut each: impl FnMut(&Series, i64, fields::Fields<'_>) -> Result<()>,
    ) -> Result<()> {
        let series: HashMap<i64, Series> = self
            .series(&query.measurement, &query.tags)?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        if series.is_empty() {
            return Ok(());
        }
        // The ids are integers from the database itself, so inlining them is safe.
        let ids: Vec<String> = series.keys().map(i64::to_string).collect();
        let mut stmt = self.conn.prepare(&format!(
            "SELECT series_id, time, fields FROM points
             WHERE series_id IN ({}) AND time >= ?1 AND time < ?2 ORDER BY time, series_id",
            ids.join(",")
        ))?;
        let mut rows = stmt.query(params![
            query.from.unwrap_or(i64::MIN),
            query.to.unwrap_or(i64::MAX)
        ])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let bytes = row.get_ref(2)?.as_blob()?;
            each(&series[&id], row.get(1)?, fields::iter(bytes))?;
        }
        Ok(())
    }

    /// The points of the query as [`Point`]s, series by series, each in time order.
    pub fn points(&self, query: &RangeQuery) -> Result<Vec<Point>> {
        let mut out = Vec::new();
        self.for_each_point(query, |series, time, fields| {
            out.push(Point {
                measurement: series.measurement.clone(),
                tags: series.tags.clone(),
                fields: fields
                    .map(|f| f.map(|(k, v)| (k.to_string(), v.to_owned())))
                    .collect::<Result<_>>()?,
                time,
            });
            Ok(())
        })?;
        Ok(out)
    }

    /// The newest point of one series, if it has any: `each(time, fields)` is called once.
    pub fn last_point(
        &self,
        series: &Series,
        each: impl FnOnce(i64, fields::Fields<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT time, fields FROM points WHERE series_id = ?1 ORDER BY time DESC LIMIT 1",
        )?;
        let mut rows = stmt.query([series.id])?;
        if let Some(row) = rows.next()? {
            each(row.get(0)?, fields::iter(row.get_ref(1)?.as_blob()?))?;
        }
        Ok(())
    }

    /// One page of a worker's `query`: the points after `q.after`, stopping once it holds
    /// `max_points` or about `max_bytes` of JSON (the point that crosses the budget is the last);
    /// with the cursor of its last point when more may follow.
    pub fn page(
        &self,
        q: &ReadQuery,
        max_points: usize,
        max_bytes: usize,
    ) -> Result<(Vec<Point>, Option<PageCursor>)> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT time, fields FROM points WHERE series_id = ?1 AND time >= ?2 AND time < ?3
             ORDER BY time",
        )?;
        let wanted = |name: &str| q.fields.is_empty() || q.fields.iter().any(|f| f == name);
        let (mut out, mut bytes) = (Vec::new(), 0usize);
        let from = q.from.unwrap_or(i64::MIN);
        for series in self.series(&q.measurement, &q.tags)? {
            let start = match q.after {
                Some(a) if series.id < a.series => continue,
                Some(a) if series.id == a.series => from.max(a.time.saturating_add(1)),
                _ => from,
            };
            let mut rows = stmt.query(params![series.id, start, q.to.unwrap_or(i64::MAX)])?;
            while let Some(row) = rows.next()? {
                let time: i64 = row.get(0)?;
                let mut fields = BTreeMap::new();
                for f in fields::iter(row.get_ref(1)?.as_blob()?) {
                    let (name, value) = f?;
                    if wanted(name) {
                        fields.insert(name.to_string(), value.to_owned());
                    }
                }
                if fields.is_empty() {
                    continue;
                }
                let point = Point {
                    measurement: series.measurement.clone(),
                    tags: series.tags.clone(),
                    fields,
                    time,
                };
                bytes += json_len(&point);
                out.push(point);
                if out.len() >= max_points || bytes >= max_bytes {
                    let next = PageCursor {
                        series: series.id,
                        time,
                    };
                    return Ok((out, Some(next)));
                }
            }
        }
        Ok((out, None))
    }

    /// One numeric field of one or more series as `(time, value)` pairs: the analytics' fast path.
    pub fn numeric_field(&self, query: &RangeQuery, field: &str) -> Result<Vec<(i64, f64)>> {
        let mut out = Vec::new();
        self.for_each_point(query, |_, time, fields| {
            for f in fields {
                let (name, value) = f?;
                if name == field {
                    match value {
                        RawValue::Float(v) => out.push((time, v)),
                        RawValue::Int(v) => out.push((time, v as f64)),
                        _ => {}
                    }
                    break;
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Up to `limit` points written after `cursor`, in write order.
    pub fn after(&mut self, cursor: u64, limit: usize) -> Result<Batch> {
        let rows: Vec<(i64, i64, i64, Vec<u8>)> = self
            .conn
            .prepare_cached(
                "SELECT seq, series_id, time, fields FROM points WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?
            .query_map(params![cursor as i64, limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Batch::default();
        for (seq, series_id, time, bytes) in rows {
            let series = self.series_by_id(series_id)?;
            out.seqs.push(seq as u64);
            out.points.push(Point {
                measurement: series.measurement.clone(),
                tags: series.tags.clone(),
                fields: fields::decode(&bytes)?,
                time,
            });
        }
        Ok(out)
    }

    fn series_by_id(&mut self, id: i64) -> Result<&Series> {
        if !self.series.contains_key(&id) {
            let (measurement, text): (String, String) = self.conn.query_row(
                "SELECT measurement, tags FROM series WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let tags = serde_json::from_str(&text)?;
            self.series.insert(
                id,
                Series {
                    id,
                    measurement,
                    tags,
                },
            );
        }
        Ok(&self.series[&id])
    }

    /// The position of the latest write (0: nothing written yet); what `after` counts from.
    pub fn last_seq(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .prepare_cached("SELECT coalesce(max(seq), 0) FROM points")?
            .query_row([], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// How many points were written after `cursor`.
    pub fn count_after(&self, cursor: u64) -> Result<u64> {
        let n: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM points WHERE seq > ?1")?
            .query_row([cursor as i64], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// When the oldest point written after `cursor` was committed (ms since the epoch).
    pub fn committed_at_after(&self, cursor: u64) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT at_ms FROM commits WHERE last_seq > ?1 ORDER BY last_seq LIMIT 1",
            )?
            .query_row([cursor as i64], |r| r.get(0))
            .optional()?)
    }

    /// A sink's durable cursor (0: nothing forwarded yet).
    pub fn sink_cursor(&self, sink: &str) -> Result<u64> {
        let seq: Option<i64> = self
            .conn
            .prepare_cached("SELECT seq FROM sink_cursors WHERE sink = ?1")?
            .query_row([sink], |r| r.get(0))
            .optional()?;
        Ok(seq.unwrap_or(0) as u64)
    }

    /// Batches a sink's server refused, newest first.
    pub fn rejected_batches(&self, sink: &str) -> Result<Vec<RejectedBatch>> {
        let mut stmt = self.conn.prepare(
            "SELECT first_seq, last_seq, points, at_ms, error, line_protocol FROM rejected_batches
             WHERE sink = ?1 ORDER BY id DESC",
        )?;
        let rows = stmt.query_map([sink], |r| {
            Ok(RejectedBatch {
                first_seq: r.get::<_, i64>(0)? as u64,
                last_seq: r.get::<_, i64>(1)? as u64,
                points: r.get::<_, i64>(2)? as u64,
                at_ms: r.get(3)?,
                error: r.get(4)?,
                line_protocol: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// The length of a point's JSON, counted without building it.
fn json_len(point: &Point) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, point).expect("points serialize");
    count.0
}

/// A batch a sink's server refused as bad data, kept with the server's message.
#[derive(Debug, Clone)]
pub struct RejectedBatch {
    pub first_seq: u64,
    pub last_seq: u64,
    pub points: u64,
    pub at_ms: i64,
    pub error: String,
    pub line_protocol: String,
}
