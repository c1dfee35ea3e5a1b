//! Seed 004's Home Assistant schema for Tibber consumption: measurement `kWh`, tags `entity_id`
//! and `domain=input_number`, and `value` a cumulative register: the last stored value plus
//! the running sum of hourly consumption (meters.md §2.9). The register lives in the worker's
//! checkpoint, saved with the rows it produced, so a restart or a sync neither counts an hour
//! twice nor starts again from zero. With no checkpoint, it starts from the store's last
//! `value` for the entity (history a migration brought), else from zero.

use anyhow::Result;
use hemflux_shared::read::ReadQuery;
use hemflux_shared::time::{from_nanos, to_nanos};
use hemflux_shared::Point;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::link::Link;

pub const MEASUREMENT: &str = "kWh";

/// The register: its value after the hour that starts at `until`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Register {
    pub until: Timestamp,
    pub total: f64,
}

impl Register {
    /// Counts hour `at` unless it is already counted; the row to store, if it is new.
    pub fn add(reg: &mut Option<Register>, entity: &str, at: Timestamp, node: &serde_json::Value) -> Option<Point> {
        let kwh = node["consumption"].as_f64()?;
        if reg.is_some_and(|r| at <= r.until) {
            return None;
        }
        let total = reg.map_or(0.0, |r| r.total) + kwh;
        *reg = Some(Register { until: at, total });
        let mut p = Point::new(MEASUREMENT, to_nanos(at))
            .tag("entity_id", entity)
            .tag("domain", "input_number")
            .field("value", total);
        for (field, key) in [("cost", "cost"), ("unit_price", "unitPrice")] {
            if let Some(v) = node[key].as_f64() {
                p = p.field(field, v);
            }
        }
        Some(p)
    }

    /// The store's last register row of `entity`, looking back a month, then two years, then
    /// all of it (a long history is read once, on the first start only).
    pub async fn from_store(link: &Link, entity: &str) -> Result<Option<Register>> {
        let now = Timestamp::now();
        for back in [Some(31), Some(731), None] {
            let from = back.map(|d| to_nanos(now - SignedDuration::from_hours(24 * d)));
            let query = ReadQuery::new(MEASUREMENT)
                .tag("entity_id", entity)
                .fields(["value"])
                .between(from, None);
            // Pages run series by series (Home Assistant may tag one entity's rows several
            // ways): the newest row of all of them.
            let mut last: Option<Register> = None;
            link.query_pages(query, |page| {
                for p in page {
                    let value = p.fields.get("value").and_then(|v| v.as_f64());
                    let until = from_nanos(p.time);
                    if let Some(total) = value.filter(|_| last.is_none_or(|l| until > l.until)) {
                        last = Some(Register { until, total });
                    }
                }
            })
            .await?;
            if last.is_some() {
                return Ok(last);
            }
        }
        Ok(None)
    }
}
