//! The compact binary form of a point's fields, as stored in `points.fields`.
//!
//! Per field, in name order: `u16` name length (LE), the name, a type byte, the value
//! (float/int: 8 bytes LE; bool: none; string: `u32` length LE + bytes). Binary rather than JSON
//! because range queries decode millions of rows and this reads without parsing text.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use hemflux_shared::FieldValue;

const FLOAT: u8 = 0;
const INT: u8 = 1;
const FALSE: u8 = 2;
const TRUE: u8 = 3;
const STR: u8 = 4;

/// Appends the encoding of `fields` to `out`. Fails on a name or string too long to encode.
pub fn encode(fields: &BTreeMap<String, FieldValue>, out: &mut Vec<u8>) -> Result<()> {
    for (name, value) in fields {
        let len = u16::try_from(name.len())
            .with_context(|| format!("field name {:.40}... is longer than 65535 bytes", name))?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        match value {
            FieldValue::Float(v) => {
                out.push(FLOAT);
                out.extend_from_slice(&v.to_le_bytes());
            }
            FieldValue::Int(v) => {
                out.push(INT);
                out.extend_from_slice(&v.to_le_bytes());
            }
            FieldValue::Bool(v) => out.push(if *v { TRUE } else { FALSE }),
            FieldValue::Str(s) => {
                let len = u32::try_from(s.len())
                    .with_context(|| format!("string field {name:?} is longer than 4 GiB"))?;
                out.push(STR);
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
    Ok(())
}

/// Walks the encoded fields without allocating: `(name, value)` with strings borrowed.
pub struct Fields<'a> {
    rest: &'a [u8],
}

/// A field value borrowed from its encoding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RawValue<'a> {
    Float(f64),
    Int(i64),
    Bool(bool),
    Str(&'a str),
}

impl RawValue<'_> {
    pub fn to_owned(self) -> FieldValue {
        match self {
            RawValue::Float(v) => FieldValue::Float(v),
            RawValue::Int(v) => FieldValue::Int(v),
            RawValue::Bool(v) => FieldValue::Bool(v),
            RawValue::Str(s) => FieldValue::Str(s.to_string()),
        }
    }
}

pub fn iter(bytes: &[u8]) -> Fields<'_> {
    Fields { rest: bytes }
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            bail!("stored fields are truncated");
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn next_field(&mut self) -> Result<(&'a str, RawValue<'a>)> {
        let len = u16::from_le_bytes(self.take(2)?.try_into()?) as usize;
        let name = std::str::from_utf8(self.take(len)?)?;
        let value = match self.take(1)?[0] {
            FLOAT => RawValue::Float(f64::from_le_bytes(self.take(8)?.try_into()?)),
            INT => RawValue::Int(i64::from_le_bytes(self.take(8)?.try_into()?)),
            FALSE => RawValue::Bool(false),
            TRUE => RawValue::Bool(true),
            STR => {
                let len = u32::from_le_bytes(self.take(4)?.try_into()?) as usize;
                RawValue::Str(std::str::from_utf8(self.take(len)?)?)
            }
            other => bail!("stored field {name:?} has unknown type byte {other}"),
        };
        Ok((name, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(&'a str, RawValue<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let item = self.next_field();
        if item.is_err() {
            self.rest = &[];
        }
        Some(item)
    }
}

pub fn decode(bytes: &[u8]) -> Result<BTreeMap<String, FieldValue>> {
    iter(bytes)
        .map(|f| f.map(|(k, v)| (k.to_string(), v.to_owned())))
        .collect()
}

/// InfluxDB's rule for a rewritten point: the new fields win, fields only in the old one stay.
pub fn merge(old: &[u8], new: &[u8]) -> Result<Vec<u8>> {
    let mut fields = decode(old)?;
    fields.extend(decode(new)?);
    let mut out = Vec::with_capacity(old.len() + new.len());
    encode(&fields, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_merge() {
        let a: BTreeMap<String, FieldValue> = [
            ("f".to_string(), FieldValue::Float(1.5)),
            ("i".to_string(), FieldValue::Int(-7)),
            ("s".to_string(), FieldValue::Str("hé".into())),
        ]
        .into();
        let mut enc = Vec::new();
        encode(&a, &mut enc).unwrap();
        assert_eq!(decode(&enc).unwrap(), a);

        let b: BTreeMap<String, FieldValue> = [
            ("b".to_string(), FieldValue::Bool(true)),
            ("f".to_string(), FieldValue::Float(2.0)),
        ]
        .into();
        let mut enc_b = Vec::new();
        encode(&b, &mut enc_b).unwrap();
        let merged = decode(&merge(&enc, &enc_b).unwrap()).unwrap();
        assert_eq!(merged["f"], FieldValue::Float(2.0));
        assert_eq!(merged["i"], FieldValue::Int(-7));
        assert_eq!(merged["b"], FieldValue::Bool(true));
        assert_eq!(merged.len(), 4);
    }

    #[test]
    fn truncated_bytes_are_an_error_not_a_panic() {
        let mut enc = Vec::new();
        encode(
            &[("x".to_string(), FieldValue::Float(1.0))].into(),
            &mut enc,
        )
        .unwrap();
        for cut in 0..enc.len() {
            let _ = decode(&enc[..cut]);
        }
        assert!(decode(&enc[..enc.len() - 1]).is_err());
    }
}
