//! The point model (measurement, tags, fields, nanosecond UTC time) and its line-protocol encoding.
//!
//! On the worker protocol a field value is a plain JSON number (float), bool or string; an integer
//! is written `{"i": 42}` so that it survives JSON, which has only one number type.

use std::collections::BTreeMap;
use std::fmt;

use influxdb_line_protocol::builder::{self, LineProtocolBuilder};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One sample of one series: the unit that workers deliver, the store keeps and sinks forward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Point {
    pub measurement: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    pub fields: BTreeMap<String, FieldValue>,
    /// Nanoseconds since the Unix epoch, UTC.
    pub time: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Float(f64),
    Int(i64),
    Bool(bool),
    Str(String),
}

impl From<f64> for FieldValue {
    fn from(v: f64) -> Self {
        FieldValue::Float(v)
    }
}
impl From<i64> for FieldValue {
    fn from(v: i64) -> Self {
        FieldValue::Int(v)
    }
}
impl From<bool> for FieldValue {
    fn from(v: bool) -> Self {
        FieldValue::Bool(v)
    }
}
impl From<&str> for FieldValue {
    fn from(v: &str) -> Self {
        FieldValue::Str(v.to_string())
    }
}
impl From<String> for FieldValue {
    fn from(v: String) -> Self {
        FieldValue::Str(v)
    }
}

impl FieldValue {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            FieldValue::Float(v) => Some(*v),
            FieldValue::Int(v) => Some(*v as f64),
            _ => None,
        }
    }
}

/// Why a point cannot be stored or encoded.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PointError {
    #[error("measurement is empty")]
    EmptyMeasurement,
    #[error("point has no fields")]
    NoFields,
    #[error("{what} {name:?} is empty or contains a newline")]
    BadName { what: &'static str, name: String },
    #[error("field {0:?} is not a finite number")]
    NotFinite(String),
}

impl Point {
    pub fn new(measurement: impl Into<String>, time: i64) -> Self {
        Point {
            measurement: measurement.into(),
            tags: BTreeMap::new(),
            fields: BTreeMap::new(),
            time,
        }
    }

    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    pub fn field(mut self, key: impl Into<String>, value: impl Into<FieldValue>) -> Self {
        self.fields.insert(key.into(), value.into());
        self
    }

    /// Checks what line protocol cannot carry: empty names, newlines, NaN and infinities.
    pub fn validate(&self) -> Result<(), PointError> {
        fn name_ok(s: &str) -> bool {
            !s.is_empty() && !s.contains('\n') && !s.contains('\r')
        }
        if self.measurement.is_empty() {
            return Err(PointError::EmptyMeasurement);
        }
        if !name_ok(&self.measurement) {
            return Err(PointError::BadName {
                what: "measurement",
                name: self.measurement.clone(),
            });
        }
        if self.fields.is_empty() {
            return Err(PointError::NoFields);
        }
        for (k, v) in &self.tags {
            if !name_ok(k) || !name_ok(v) {
                return Err(PointError::BadName {
                    what: "tag",
                    name: format!("{k}={v}"),
                });
            }
        }
        for (k, v) in &self.fields {
            if !name_ok(k) {
                return Err(PointError::BadName {
                    what: "field",
                    name: k.clone(),
                });
            }
            if let FieldValue::Float(f) = v {
                if !f.is_finite() {
                    return Err(PointError::NotFinite(k.clone()));
                }
            }
        }
        Ok(())
    }
}

/// Appends `points` to `buf` as InfluxDB line protocol with nanosecond timestamps.
/// Points must have passed [`Point::validate`]; a point without fields cannot be a line and is skipped.
pub fn write_line_protocol(points: &[Point], buf: &mut Vec<u8>) {
    let mut lp = LineProtocolBuilder::new_with(std::mem::take(buf));
    for p in points.iter().filter(|p| !p.fields.is_empty()) {
        let mut line = lp.measurement(&p.measurement);
        for (k, v) in &p.tags {
            line = line.tag(k, v);
        }
        let mut fields = p.fields.iter();
        let (k0, v0) = fields.next().expect("filtered to points with fields");
        let mut with_fields = line.field(k0, Lp(v0));
        for (k, v) in fields {
            with_fields = with_fields.field(k, Lp(v));
        }
        lp = with_fields.timestamp(p.time).close_line();
    }
    *buf = lp.build();
}

struct Lp<'a>(&'a FieldValue);

impl builder::FieldValue for Lp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            FieldValue::Float(v) => builder::FieldValue::fmt(v, f),
            FieldValue::Int(v) => builder::FieldValue::fmt(v, f),
            FieldValue::Bool(v) => builder::FieldValue::fmt(v, f),
            FieldValue::Str(v) => builder::FieldValue::fmt(&v.as_str(), f),
        }
    }
}

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldValue::Float(v) => s.serialize_f64(*v),
            FieldValue::Bool(v) => s.serialize_bool(*v),
            FieldValue::Str(v) => s.serialize_str(v),
            FieldValue::Int(v) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("i", v)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for FieldValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FieldValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(r#"a number, a bool, a string or {"i": integer}"#)
            }
            fn visit_f64<E>(self, v: f64) -> Result<FieldValue, E> {
                Ok(FieldValue::Float(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<FieldValue, E> {
                Ok(FieldValue::Float(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<FieldValue, E> {
                Ok(FieldValue::Float(v as f64))
            }
            fn visit_bool<E>(self, v: bool) -> Result<FieldValue, E> {
                Ok(FieldValue::Bool(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<FieldValue, E> {
                Ok(FieldValue::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<FieldValue, E> {
                Ok(FieldValue::Str(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldValue, A::Error> {
                let key: String = map
                    .next_key()?
                    .ok_or_else(|| de::Error::missing_field("i"))?;
                if key != "i" {
                    return Err(de::Error::unknown_field(&key, &["i"]));
                }
                let v: i64 = map.next_value()?;
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom(
                        r#"an integer field is {"i": n} with nothing else"#,
                    ));
                }
                Ok(FieldValue::Int(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use influxdb_line_protocol::{parse_lines, FieldValue as Parsed};
    use proptest::prelude::*;

    #[test]
    fn json_round_trip_keeps_integer_and_float_apart() {
        let p = Point::new("m", 5)
            .tag("house_id", "v 1")
            .field("a", 1.0)
            .field("n", 7i64)
            .field("s", "x")
            .field("b", true);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"measurement":"m","tags":{"house_id":"v 1"},"fields":{"a":1.0,"b":true,"n":{"i":7},"s":"x"},"time":5}"#
        );
        assert_eq!(serde_json::from_str::<Point>(&json).unwrap(), p);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = serde_json::from_str::<Point>(
            r#"{"measurement":"m","fields":{"a":1},"time":1,"tme":2}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `tme`"), "{err}");
    }

    #[test]
    fn validation_names_the_problem() {
        assert_eq!(Point::new("m", 1).validate(), Err(PointError::NoFields));
        assert_eq!(
            Point::new("m", 1).field("x", f64::NAN).validate(),
            Err(PointError::NotFinite("x".into()))
        );
        assert!(Point::new("m", 1)
            .tag("a", "b\nc")
            .field("x", 1.0)
            .validate()
            .is_err());
    }

    #[test]
    fn encodes_with_influx_escaping() {
        let p = Point::new("my meas,x", 1_700_000_000_000_000_000)
            .tag("t k", "v=1,2")
            .field("f\"", "say \"hi\" \\o/")
            .field("n", -3i64);
        let mut buf = Vec::new();
        write_line_protocol(&[p], &mut buf);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "my\\ meas\\,x,t\\ k=v\\=1\\,2 f\"=\"say \\\"hi\\\" \\\\o/\",n=-3i 1700000000000000000\n"
        );
    }

    fn name() -> impl Strategy<Value = String> {
        // Printable text with every character line protocol escapes, minus newlines. A trailing
        // backslash in a name is ambiguous in line protocol itself, so names end in a letter.
        "[a-zA-Z0-9 ,=\"'\\\\_.:/-]{0,12}[a-z]"
    }

    fn value() -> impl Strategy<Value = FieldValue> {
        prop_oneof![
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(FieldValue::Float),
            any::<i64>().prop_map(FieldValue::Int),
            any::<bool>().prop_map(FieldValue::Bool),
            "[ -~]{0,20}".prop_map(FieldValue::Str),
        ]
    }

    fn point() -> impl Strategy<Value = Point> {
        (
            name(),
            prop::collection::btree_map(name(), name(), 0..4),
            prop::collection::btree_map(name(), value(), 1..4),
            any::<i64>(),
        )
            .prop_map(|(measurement, tags, fields, time)| Point {
                measurement,
                tags,
                fields,
                time,
            })
    }

    proptest! {
        #[test]
        fn line_protocol_parses_back_to_the_same_point(points in prop::collection::vec(point(), 1..5)) {
            let mut buf = Vec::new();
            write_line_protocol(&points, &mut buf);
            let text = String::from_utf8(buf).unwrap();
            let parsed: Vec<_> = parse_lines(&text).collect::<Result<_, _>>().map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
            prop_assert_eq!(parsed.len(), points.len());
            for (line, p) in parsed.iter().zip(&points) {
                prop_assert_eq!(line.series.measurement.to_string(), p.measurement.clone());
                let tags: BTreeMap<String, String> = line.series.tag_set.iter().flatten().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                prop_assert_eq!(&tags, &p.tags);
                prop_assert_eq!(line.timestamp, Some(p.time));
                let fields: BTreeMap<String, FieldValue> = line.field_set.iter().map(|(k, v)| (k.to_string(), match v {
                    Parsed::F64(f) => FieldValue::Float(*f),
                    Parsed::I64(i) => FieldValue::Int(*i),
                    Parsed::U64(u) => FieldValue::Int(*u as i64),
                    Parsed::Boolean(b) => FieldValue::Bool(*b),
                    Parsed::String(s) => FieldValue::Str(s.to_string()),
                })).collect();
                prop_assert_eq!(&fields, &p.fields);
            }
        }
    }
}
