//! Which HomeSide variable becomes which `heating_system` field: the built-in equivalent of our
//! users' `variables_config.json`, with a profile's `variable_overrides` on top.

use std::collections::{BTreeMap, HashMap};

use hemflux_shared::{FieldValue, Point};
use serde_json::Value;

use super::client::Variable;

/// How a field's value is stored, so that one field keeps one type across houses and polls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldKind {
    /// A float, rounded to 2 decimals.
    Number,
    /// An integer 0/1.
    Flag,
    /// Whatever the variable holds: bools as 0/1, numbers as floats, other text as a string.
    Any,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldMap {
    pub field: String,
    /// Short variable names, the first one present wins (older controllers use other names).
    pub variables: Vec<String>,
    pub kind: FieldKind,
}

const DEFAULTS: &[(&str, &[&str], FieldKind)] = {
    use FieldKind::*;
    &[
        ("room_temperature", &["MEAN_GT_RUM_1_Output"], Number),
        ("outdoor_temperature", &["AI_GT_UTE_Output"], Number),
        (
            "outdoor_temp_24h_avg",
            &["MEDEL_GT_UTE_24h_Average"],
            Number,
        ),
        ("supply_temp", &["AI_VS1_GT_TILL_1_Output"], Number),
        ("return_temp", &["AI_VS1_GT_RETUR_1_Output"], Number),
        ("hot_water_temp", &["AI_VV1_TAPP_GT41_Output"], Number),
        ("system_pressure", &["AI_GP_EXP1_1_Output"], Number),
        (
            "electric_heater",
            &["ELM1_AKTIV_Input", "POOL_AKTIV_Input"],
            Flag,
        ),
        ("heat_recovery", &["VMM1_AKTIV_Input"], Flag),
        ("away_mode", &["FORC_BORTALAGE"], Flag),
        (
            "target_temp_setpoint",
            &["KU_VS1_GT_TILL_1_SetPoint"],
            Number,
        ),
        (
            "away_temp_setpoint",
            &["KU_VS1_GT_TILL_1_BORTREST_SetPoint"],
            Number,
        ),
        ("dh_supply_temp", &["VMM1_TempForw"], Number),
        ("dh_return_temp", &["VMM1_TempRet"], Number),
        ("dh_power", &["VMM1_Power"], Number),
        ("dh_flow", &["VMM1_Flow"], Number),
        ("supply_setpoint", &["PID_VS1_GT_TILL_1_SetP"], Number),
    ]
};

/// The built-in mapping with `overrides` (`{"<variable>": "<field>"}`) applied: an override
/// replaces the variable of a known field, or adds a field.
pub fn mapping(overrides: &BTreeMap<String, String>) -> Vec<FieldMap> {
    let mut map: Vec<FieldMap> = DEFAULTS
        .iter()
        .map(|(field, vars, kind)| FieldMap {
            field: field.to_string(),
            variables: vars.iter().map(|v| v.to_string()).collect(),
            kind: *kind,
        })
        .collect();
    for (variable, field) in overrides {
        match map.iter_mut().find(|m| &m.field == field) {
            Some(m) => m.variables = vec![variable.clone()],
            None => map.push(FieldMap {
                field: field.clone(),
                variables: vec![variable.clone()],
                kind: FieldKind::Any,
            }),
        }
    }
    map
}

/// One read of all variables, indexed by full name (short names collide, full names do not).
pub struct Snapshot<'a> {
    by_name: HashMap<&'a str, &'a Variable>,
    controller: &'a str,
}

/// What a read yields for the mapped fields.
#[derive(Debug)]
pub struct Reading {
    pub point: Option<Point>,
    /// Mapped variables present in the answer.
    pub wanted: usize,
    /// Of those, how many are still `Pending`.
    pub pending: usize,
}

impl<'a> Snapshot<'a> {
    pub fn new(controller: &'a str, vars: &'a [Variable]) -> Self {
        Snapshot {
            by_name: vars.iter().map(|v| (v.variable.as_str(), v)).collect(),
            controller,
        }
    }

    pub fn get(&self, short: &str) -> Option<&'a Variable> {
        self.by_name
            .get(format!("{}.{short}", self.controller).as_str())
            .copied()
    }

    /// The variable a field reads: the first of its candidates that the controller has.
    pub fn for_field(&self, map: &FieldMap) -> Option<&'a Variable> {
        map.variables.iter().find_map(|v| self.get(v))
    }

    /// A `heating_system` point, stamped with the newest timestamp among the values used (the
    /// source's time, not the poll's), or none when no mapped variable has a value.
    pub fn reading(&self, house_id: &str, mapping: &[FieldMap]) -> Reading {
        let (mut wanted, mut pending) = (0, 0);
        let mut fields = Vec::new();
        let mut newest: Option<jiff::Timestamp> = None;
        for map in mapping {
            let Some(var) = self.for_field(map) else {
                continue;
            };
            wanted += 1;
            if var.is_pending() {
                pending += 1;
            }
            if !var.has_value() {
                continue;
            }
            let Some(value) = convert(&var.value, map.kind) else {
                tracing::debug!(variable = %var.variable, "value of unexpected type skipped");
                continue;
            };
            let ts = var.timestamp.as_deref().and_then(|t| t.parse().ok());
            newest = newest.max(ts);
            fields.push((map.field.clone(), value));
        }
        let point = newest.filter(|_| !fields.is_empty()).map(|ts| {
            let mut p = Point::new("heating_system", hemflux_shared::time::to_nanos(ts))
                .tag("house_id", house_id);
            for (field, value) in fields {
                p = p.field(field, value);
            }
            p
        });
        Reading {
            point,
            wanted,
            pending,
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn convert(value: &Value, kind: FieldKind) -> Option<FieldValue> {
    let number = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
    .filter(|x| x.is_finite());
    let flag = match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => number.map(|x| x != 0.0),
        },
        _ => number.map(|x| x != 0.0),
    };
    match kind {
        FieldKind::Number => number.map(|x| FieldValue::Float(round2(x))),
        FieldKind::Flag => flag.map(|b| FieldValue::Int(b as i64)),
        FieldKind::Any => match value {
            Value::Bool(b) => Some(FieldValue::Int(*b as i64)),
            Value::String(s) if number.is_none() => Some(FieldValue::Str(s.clone())),
            _ => number.map(|x| FieldValue::Float(round2(x))),
        },
    }
}

/// A value as HomeSide's own client writes it: Python's `str()` (`"21.5"`, `"False"`).
pub fn to_write_text(value: &Value) -> Option<String> {
    match value {
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn var(name: &str, value: Value, kind: &str, ts: &str) -> Variable {
        Variable {
            variable: format!("V.{name}"),
            path: Some("Cwl.Advise.A[1]".into()),
            value,
            kind: kind.into(),
            timestamp: Some(ts.into()),
        }
    }

    #[test]
    fn maps_types_fallbacks_and_the_newest_timestamp() {
        let vars = vec![
            var(
                "MEAN_GT_RUM_1_Output",
                json!(21.456),
                "Response",
                "2026-02-13T13:30:06.2704905Z",
            ),
            var(
                "POOL_AKTIV_Input",
                json!(true),
                "Response",
                "2026-02-13T13:29:00.0000000Z",
            ),
            var(
                "FORC_BORTALAGE",
                json!("0"),
                "Response",
                "2026-02-13T13:29:00.0000000Z",
            ),
            var(
                "AI_GT_UTE_Output",
                json!(null),
                "Pending",
                "2026-02-13T13:40:00.0000000Z",
            ),
            var(
                "VMM1_Power",
                json!(null),
                "ErrorUnreachable",
                "2026-02-13T12:00:00.0000000Z",
            ),
        ];
        let snap = Snapshot::new("V", &vars);
        let r = snap.reading("h1", &mapping(&BTreeMap::new()));
        assert_eq!((r.wanted, r.pending), (5, 1));
        let p = r.point.unwrap();
        assert_eq!(p.fields["room_temperature"], FieldValue::Float(21.46));
        assert_eq!(p.fields["electric_heater"], FieldValue::Int(1));
        assert_eq!(p.fields["away_mode"], FieldValue::Int(0));
        assert_eq!(p.fields.len(), 3);
        assert_eq!(
            p.time,
            hemflux_shared::time::to_nanos("2026-02-13T13:30:06.2704905Z".parse().unwrap())
        );
        assert_eq!(p.tags["house_id"], "h1");
    }

    #[test]
    fn overrides_replace_or_add() {
        let o = BTreeMap::from([
            (
                "AI_ZON1_GT_RUM_1_Output".to_string(),
                "room_temperature".to_string(),
            ),
            ("Name_Zon_Room_1".to_string(), "zone_name".to_string()),
        ]);
        let m = mapping(&o);
        let room = m.iter().find(|f| f.field == "room_temperature").unwrap();
        assert_eq!(room.variables, ["AI_ZON1_GT_RUM_1_Output"]);
        let vars = vec![var(
            "Name_Zon_Room_1",
            json!("Rum 1"),
            "Response",
            "2026-02-13T13:30:06Z",
        )];
        let p = Snapshot::new("V", &vars).reading("h", &m).point.unwrap();
        assert_eq!(p.fields["zone_name"], FieldValue::Str("Rum 1".into()));
        assert_eq!(to_write_text(&json!(false)).unwrap(), "False");
        assert_eq!(to_write_text(&json!(21.5)).unwrap(), "21.5");
    }
}
