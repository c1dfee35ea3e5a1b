//! What the simulated Arrigo server knows: one controller's analog and digital signals, their
//! deterministic values at any second (so history and current values agree and a test can
//! derive every row), folders and alarms; and the root fields of the GraphQL schema.

use std::f64::consts::PI;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::graphql::connection;

/// How a signal's value moves with time (unix seconds).
#[derive(Clone, Copy)]
enum Shape {
    /// base + amp * sin(2 pi t / period), two decimals.
    Wave { base: f64, amp: f64, period_h: f64 },
    /// A meter: start + per_hour * hours since 2020-01-01, three decimals.
    Counter { start: f64, per_hour: f64 },
    /// A broken sensor: always null, no history.
    Broken,
}

struct Analog {
    signal: String,
    unit: &'static str,
    shape: Shape,
}

/// The named signals of the controller; a larger building adds generated ones.
const NAMED_ANALOGS: &[(&str, &str, Shape)] = &[
    (
        "GT_UTE",
        "°C",
        Shape::Wave {
            base: 6.0,
            amp: 5.0,
            period_h: 24.0,
        },
    ),
    (
        "VS1_GT_TILL",
        "°C",
        Shape::Wave {
            base: 45.0,
            amp: 6.0,
            period_h: 24.0,
        },
    ),
    (
        "VS1_GT_RETUR",
        "°C",
        Shape::Wave {
            base: 33.0,
            amp: 4.0,
            period_h: 24.0,
        },
    ),
    (
        "GT_RUM_1",
        "°C",
        Shape::Wave {
            base: 21.5,
            amp: 0.8,
            period_h: 24.0,
        },
    ),
    (
        "Pages(1).Power",
        "kW",
        Shape::Wave {
            base: 48.0,
            amp: 20.0,
            period_h: 12.0,
        },
    ),
    (
        "Pages(1).Energy",
        "MWh",
        Shape::Counter {
            start: 1200.0,
            per_hour: 0.048,
        },
    ),
    ("GT_FRANLUFT", "°C", Shape::Broken),
];

const DIGITALS: &[(&str, &str)] = &[("P1_DRIFT", "Pump 1 running"), ("SUMMALARM", "Sum alarm")];

const COUNTER_EPOCH: i64 = 1_577_836_800; // 2020-01-01T00:00:00Z

/// Bucket lengths (seconds) that have history.
pub const TIME_LENGTHS: [i64; 2] = [300, 3600];

fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

impl Shape {
    fn value_at(self, t: i64) -> Option<f64> {
        match self {
            Shape::Wave {
                base,
                amp,
                period_h,
            } => Some(round(
                base + amp * (2.0 * PI * t as f64 / (period_h * 3600.0)).sin(),
                2,
            )),
            Shape::Counter { start, per_hour } => Some(round(
                start + per_hour * (t - COUNTER_EPOCH) as f64 / 3600.0,
                3,
            )),
            Shape::Broken => None,
        }
    }
}

pub fn b64(s: &str) -> String {
    B64.encode(s)
}

fn decode_cursor(cursor: &str) -> Result<usize, String> {
    B64.decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("Invalid cursor \"{cursor}\"."))
}

/// Options of the schema that the command line sets.
pub struct Options {
    pub controller: String,
    pub root_typename: String,
    /// Rows per page of any connection at most, whatever `first` asks.
    pub page_cap: usize,
    /// Generated signals beside the named ones: a building of a thousand signals or more.
    pub extra_analogs: usize,
    pub extra_digitals: usize,
    /// History starts this many seconds before the simulator's "now".
    pub history_secs: i64,
    pub reject_time_length_comparer: bool,
    pub naive_times: bool,
    /// The ALARMED alarm appears this many seconds after `started`.
    pub alarm_after_secs: i64,
}

pub struct Schema {
    pub opts: Options,
    /// The simulator's clock when it started (unix seconds); history is kept from before it.
    pub started: i64,
}

fn check_args(field: &str, args: &Map<String, Value>, allowed: &[&str]) -> Result<(), String> {
    match args.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "Unknown argument \"{k}\" on field \"Root.{field}\"."
        )),
        None => Ok(()),
    }
}

fn int_arg(args: &Map<String, Value>, name: &str) -> Result<Option<i64>, String> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("Argument \"{name}\" has invalid value {v}: Int expected.")),
    }
}

fn string_list(v: &Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{what}: String expected."))
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        other => Err(format!("{what} has invalid value {other}.")),
    }
}

/// A page of a list that is `total` long: which indices, and the connection's flags.
struct Page {
    start: usize,
    end: usize,
    total: usize,
}

fn page(args: &Map<String, Value>, total: usize, cap: usize) -> Result<Page, String> {
    let start = match args.get("after").and_then(Value::as_str) {
        Some(c) => decode_cursor(c)? + 1,
        None => 0,
    };
    let first = int_arg(args, "first")?;
    if first.is_some_and(|n| n < 0) {
        return Err("Argument \"first\" must be a non-negative integer.".into());
    }
    let n = first.map(|n| n as usize).unwrap_or(cap).min(cap);
    let start = start.min(total);
    Ok(Page {
        start,
        end: (start + n).min(total),
        total,
    })
}

impl Schema {
    fn analog_name(&self, a: &Analog) -> String {
        format!("{}.{}", self.opts.controller, a.signal)
    }

    /// The named analogs, then `extra_analogs` generated ones (`AUX_0001`, ...).
    fn analogs(&self) -> Vec<Analog> {
        let named = NAMED_ANALOGS.iter().map(|(signal, unit, shape)| Analog {
            signal: signal.to_string(),
            unit,
            shape: *shape,
        });
        let extra = (1..=self.opts.extra_analogs).map(|i| Analog {
            signal: format!("AUX_{i:04}"),
            unit: "°C",
            shape: Shape::Wave {
                base: 10.0 + (i % 50) as f64,
                amp: 1.0 + (i % 7) as f64,
                period_h: 24.0,
            },
        });
        named.chain(extra).collect()
    }

    /// (signal, text) of the named digitals, then `extra_digitals` generated ones.
    fn digitals(&self) -> Vec<(String, String)> {
        let named = DIGITALS.iter().map(|(s, t)| (s.to_string(), t.to_string()));
        let extra = (1..=self.opts.extra_digitals)
            .map(|i| (format!("DI_{i:04}"), format!("Digital input {i}")));
        named.chain(extra).collect()
    }

    pub fn resolve(
        &self,
        field: &str,
        args: &Map<String, Value>,
        now: i64,
    ) -> Result<Value, String> {
        match field {
            "analogs" => {
                check_args(field, args, &["first", "after", "filter", "orderBy"])?;
                let nodes: Vec<Value> = self
                    .analogs()
                    .iter()
                    .map(|a| {
                        let name = self.analog_name(a);
                        json!({"__typename": "Analog", "id": b64(&name), "name": name,
                               "value": a.shape.value_at(now), "unit": a.unit})
                    })
                    .collect();
                Ok(self.list_connection("Analog", nodes, args)?)
            }
            "digitals" => {
                check_args(field, args, &["first", "after", "filter", "orderBy"])?;
                let nodes: Vec<Value> = self
                    .digitals()
                    .iter()
                    .enumerate()
                    .map(|(i, (signal, text))| {
                        let name = format!("{}.{signal}", self.opts.controller);
                        json!({"__typename": "Digital", "id": b64(&name), "name": name,
                               "state": ((now / 3600 + i as i64) % 2).to_string(),
                               "signalText": text, "stateTexts": ["Från", "Till"], "signalType": "Status"})
                    })
                    .collect();
                Ok(self.list_connection("Digital", nodes, args)?)
            }
            "analogsHistory" | "digitalsHistory" => {
                check_args(field, args, &["first", "after", "filter"])?;
                self.history(field == "digitalsHistory", args, now)
            }
            "folder" => {
                check_args(field, args, &["id"])?;
                Ok(self.folder(args.get("id").and_then(Value::as_str)))
            }
            "alarms" => {
                check_args(field, args, &["first", "after", "filter", "orderBy"])?;
                self.alarms(args, now)
            }
            other => Err(format!("Cannot query field \"{other}\" on type \"Root\".")),
        }
    }

    fn list_connection(
        &self,
        type_name: &str,
        nodes: Vec<Value>,
        args: &Map<String, Value>,
    ) -> Result<Value, String> {
        let p = page(args, nodes.len(), self.opts.page_cap)?;
        let slice = nodes[p.start..p.end]
            .iter()
            .enumerate()
            .map(|(i, n)| (b64(&(p.start + i).to_string()), n.clone()))
            .collect();
        Ok(connection(
            type_name,
            slice,
            p.total,
            p.end < p.total,
            p.start > 0,
        ))
    }

    fn folder(&self, id: Option<&str>) -> Value {
        let area = json!({"__typename": "Area", "name": self.opts.controller, "id": b64(&self.opts.controller),
                          "title": self.opts.controller, "icon": "building"});
        let folders = |items: Vec<Value>| {
            let n = items.len();
            json!({"__typename": "FolderConnection", "totalCount": n, "items": items})
        };
        match id {
            None => {
                json!({"__typename": self.opts.root_typename, "name": "HEMLocal", "id": b64("root"),
                           "title": "HEMLocal", "icon": "home", "folders": folders(vec![area])})
            }
            Some(i) if i == b64(&self.opts.controller) => {
                let mut a = area;
                a["folders"] = folders(Vec::new());
                a
            }
            Some(_) => Value::Null,
        }
    }

    fn alarms(&self, args: &Map<String, Value>, now: i64) -> Result<Value, String> {
        let wanted = string_list(
            &args.get("filter").cloned().unwrap_or_default()["status"],
            "status",
        )?;
        let day = now - now % 86_400;
        let raised = now >= self.started + self.opts.alarm_after_secs;
        let mut nodes: Vec<Value> = [("ALARMED", "A", 3600), ("RETURNED", "B", 7200), ("ACKNOWLEDGED", "B", 90_000)]
            .iter()
            .enumerate()
            .filter(|(_, (status, _, _))| wanted.is_empty() || wanted.iter().any(|w| w == status))
            .filter(|(_, (status, _, _))| raised || *status != "ALARMED")
            .map(|(i, (status, priority, ago))| {
                let time = self.format_time(day - ago);
                json!({"__typename": "Alarm", "id": b64(&format!("alarm{i}")), "alarmText": format!("Alarm {i}"),
                       "status": status, "name": format!("{}.LARM{i}", self.opts.controller),
                       "folder": {"__typename": "Area", "id": b64(&self.opts.controller), "title": self.opts.controller, "name": self.opts.controller},
                       "alarmTime": time, "eventTime": time, "priority": priority, "noOfAlarms": 1,
                       "description": "", "actionText": ""})
            })
            .collect();
        nodes.sort_by(|a, b| b["eventTime"].as_str().cmp(&a["eventTime"].as_str()));
        self.list_connection("Alarm", nodes, args)
    }

    fn format_time(&self, t: i64) -> String {
        let s = Timestamp::from_second(t).expect("in range").to_string();
        if self.opts.naive_times {
            s.trim_end_matches('Z').to_string()
        } else {
            s
        }
    }

    fn history(&self, digital: bool, args: &Map<String, Value>, now: i64) -> Result<Value, String> {
        let filter = match args.get("filter") {
            Some(Value::Object(f)) => f.clone(),
            None | Some(Value::Null) => Map::new(),
            Some(other) => return Err(format!("Argument \"filter\" has invalid value {other}.")),
        };
        let input = if digital {
            "DigitalEventFilter"
        } else {
            "AnalogEventFilter"
        };
        for key in filter.keys() {
            let known =
                ["signalId", "ranges", "timeLength", "timeLengthComparer"].contains(&key.as_str());
            if !known || (key == "timeLengthComparer" && self.opts.reject_time_length_comparer) {
                return Err(format!(
                    "Field \"{key}\" is not defined by type \"{input}\"."
                ));
            }
        }
        let signals = string_list(filter.get("signalId").unwrap_or(&Value::Null), "signalId")?;
        let step = int_arg(&filter, "timeLength")?.unwrap_or(300);
        let comparer = filter
            .get("timeLengthComparer")
            .and_then(Value::as_str)
            .unwrap_or("equal");
        if comparer != "equal" {
            return Err(format!(
                "Value \"{comparer}\" does not exist in \"TimeLengthComparer\" enum."
            ));
        }
        let mut ranges = Vec::new();
        for r in filter
            .get("ranges")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let parse = |k: &str| -> Result<i64, String> {
                let s = r[k]
                    .as_str()
                    .ok_or_else(|| format!("ranges.{k}: DateTime expected."))?;
                s.parse::<Timestamp>()
                    .map(|t| t.as_second())
                    .map_err(|_| format!("ranges.{k}: \"{s}\" is not a DateTime with an offset."))
            };
            ranges.push((parse("from")?, parse("to")?));
        }
        // Segments of rows: (signal index, first bucket, count); digital history is empty here.
        let oldest = self.started - self.opts.history_secs;
        let mut segments = Vec::new();
        let analogs = self.analogs();
        if !digital && TIME_LENGTHS.contains(&step) {
            for id in &signals {
                let Some(i) = analogs
                    .iter()
                    .position(|a| b64(&self.analog_name(a)) == *id)
                else {
                    continue;
                };
                if matches!(analogs[i].shape, Shape::Broken) {
                    continue;
                }
                for &(from, to) in &ranges {
                    let first = from.max(oldest).div_euclid(step) * step;
                    let first = if first < from.max(oldest) {
                        first + step
                    } else {
                        first
                    };
                    // Only complete buckets: t + step <= now.
                    let end = to.min(now - step + 1);
                    let count = if end > first {
                        ((end - first + step - 1) / step) as usize
                    } else {
                        0
                    };
                    segments.push((i, first, count));
                }
            }
        }
        let total: usize = segments.iter().map(|s| s.2).sum();
        let p = page(args, total, self.opts.page_cap)?;
        let mut nodes = Vec::with_capacity(p.end - p.start);
        let mut skip = p.start;
        let mut index = p.start;
        for &(i, first, count) in &segments {
            if index >= p.end {
                break;
            }
            if skip >= count {
                skip -= count;
                continue;
            }
            let take = (count - skip).min(p.end - index);
            for k in skip..skip + take {
                let t = first + k as i64 * step;
                let node = json!({"__typename": "AnalogEvent", "signalId": b64(&self.analog_name(&analogs[i])),
                                  "time": self.format_time(t), "value": analogs[i].shape.value_at(t),
                                  "reliability": "Reliable", "timeLength": step});
                nodes.push((b64(&index.to_string()), node));
                index += 1;
            }
            skip = 0;
        }
        let name = if digital {
            "DigitalEvent"
        } else {
            "AnalogEvent"
        };
        Ok(connection(name, nodes, total, p.end < total, p.start > 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(cap: usize) -> Schema {
        Schema {
            opts: Options {
                controller: "B1".into(),
                root_typename: "Account".into(),
                page_cap: cap,
                extra_analogs: 0,
                extra_digitals: 0,
                history_secs: 10 * 86_400,
                reject_time_length_comparer: false,
                naive_times: false,
                alarm_after_secs: 0,
            },
            started: 1_700_000_000,
        }
    }

    /// `key` of every item of `field`, page after page (`after` = the last `endCursor`), each
    /// page checked by `check` first.
    fn all_pages(
        s: &Schema,
        field: &str,
        mut args: Map<String, Value>,
        now: i64,
        key: &str,
        check: impl Fn(&Value),
    ) -> Vec<String> {
        let mut all = Vec::new();
        loop {
            let r = s.resolve(field, &args, now).unwrap();
            check(&r);
            let items = r["items"].as_array().unwrap();
            all.extend(items.iter().map(|i| i[key].as_str().unwrap().to_string()));
            if !r["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                return all;
            }
            args.insert("after".into(), r["pageInfo"]["endCursor"].clone());
        }
    }

    #[test]
    fn history_pages_past_the_cap_without_gaps_or_repeats() {
        let s = schema(50);
        let id = b64("B1.GT_UTE");
        let mut args = Map::new();
        args.insert("first".into(), json!(20_000));
        args.insert("after".into(), Value::Null);
        args.insert(
            "filter".into(),
            json!({"signalId": [id], "timeLength": 3600,
            "ranges": [{"from": "2023-11-10T00:00:00+00:00", "to": "2023-11-14T00:00:00+00:00"}]}),
        );
        let times = all_pages(&s, "analogsHistory", args, 1_700_000_000, "time", |r| {
            assert_eq!(r["totalCount"], 96);
            assert!(r["items"].as_array().unwrap().len() <= 50);
        });
        assert_eq!(times.len(), 96);
        assert_eq!(times[0], "2023-11-10T00:00:00Z");
        assert_eq!(times[95], "2023-11-13T23:00:00Z");
    }

    #[test]
    fn current_value_agrees_with_history() {
        let s = schema(100);
        let t = 1_699_995_600; // a whole hour
        let current = s.resolve("analogs", &Map::new(), t).unwrap();
        let gt_ute = current["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == "B1.GT_UTE")
            .unwrap()
            .clone();
        let mut args = Map::new();
        args.insert(
            "filter".into(),
            json!({"signalId": [gt_ute["id"]], "timeLength": 3600,
            "ranges": [{"from": "2023-11-14T21:00:00Z", "to": "2023-11-14T22:00:00Z"}]}),
        );
        let h = s.resolve("analogsHistory", &args, t + 3600).unwrap();
        assert_eq!(h["items"][0]["value"], gt_ute["value"]);
    }

    /// A building of 1,200 signals: a page holds what `first` asks up to the cap, and paging
    /// with `after` reaches every signal once; without `first` a page is the cap.
    #[test]
    fn a_large_building_is_served_in_capped_pages() {
        let mut s = schema(500);
        s.opts.extra_analogs = 993;
        s.opts.extra_digitals = 198;
        let mut names = std::collections::BTreeSet::new();
        for field in ["analogs", "digitals"] {
            let mut args = Map::new();
            args.insert("first".into(), json!(2000));
            args.insert("after".into(), Value::Null);
            names.extend(all_pages(&s, field, args, 1_700_000_000, "name", |r| {
                let items = r["items"].as_array().unwrap();
                assert!(items.len() <= 500, "capped at 500");
            }));
        }
        assert_eq!(names.len(), 1200);
        let r = s.resolve("analogs", &Map::new(), 1_700_000_000).unwrap();
        assert_eq!(
            (
                r["totalCount"].as_u64(),
                r["items"].as_array().unwrap().len()
            ),
            (Some(1000), 500)
        );
        let alarms = s
            .resolve(
                "alarms",
                &Map::from_iter([("first".to_string(), json!(1))]),
                1_700_000_000,
            )
            .unwrap();
        assert_eq!(alarms["pageInfo"]["hasNextPage"], true, "alarms page too");
    }
}
