//! The workers' read path: a worker asks the orchestrator for points of the store with a `query`
//! message and gets them back in pages (`query_result`), because the orchestrator alone owns the
//! store. What a worker may read is its kind's [`ReadScope`], enforced by the orchestrator: an
//! analytics worker reads its own entity's series (the weather of its position is tagged with
//! the entity too), a meters worker the series of its meters, the others nothing.
//! See `docs/protocol.md` (*Reading the store*).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A range read: the points of one measurement whose series carry every one of `tags`, in
/// `[from, to)` (ns UTC), series by series (in the store's order) and each in time order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadQuery {
    pub measurement: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Only these fields (a point with none of them is left out); empty: every field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<i64>,
    /// At most this many points per page (the orchestrator may send fewer); absent: its maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// The `next` of the previous page: this page starts after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<PageCursor>,
}

impl ReadQuery {
    pub fn new(measurement: impl Into<String>) -> ReadQuery {
        ReadQuery {
            measurement: measurement.into(),
            ..ReadQuery::default()
        }
    }

    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> ReadQuery {
        self.tags.insert(key.into(), value.into());
        self
    }

    pub fn fields<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> ReadQuery {
        self.fields = fields.into_iter().map(Into::into).collect();
        self
    }

    pub fn between(mut self, from: Option<i64>, to: Option<i64>) -> ReadQuery {
        self.from = from;
        self.to = to;
        self
    }
}

/// Where a page ended: the last point sent (its series' store id and its time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageCursor {
    pub series: i64,
    pub time: i64,
}

/// One permission: queries of these measurements (`None`: any) that pin every one of `tags`.
/// A query pins a tag when its own `tags` require it with the same value, so only series that
/// carry it can match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub measurements: Option<Vec<String>>,
    pub tags: BTreeMap<String, String>,
}

impl Grant {
    /// Any measurement of one entity: the series tagged `tag = id`.
    pub fn entity(tag: &str, id: &str) -> Grant {
        Grant {
            measurements: None,
            tags: BTreeMap::from([(tag.to_string(), id.to_string())]),
        }
    }

    /// One series (or a family of them): `measurement` with at least these tags.
    pub fn series(measurement: &str, tags: BTreeMap<String, String>) -> Grant {
        Grant {
            measurements: Some(vec![measurement.to_string()]),
            tags,
        }
    }

    fn allows(&self, q: &ReadQuery) -> bool {
        let measurement_ok = self
            .measurements
            .as_ref()
            .is_none_or(|ms| ms.contains(&q.measurement));
        measurement_ok && self.tags.iter().all(|(k, v)| q.tags.get(k) == Some(v))
    }
}

/// What one worker may read: the union of its grants. Empty: nothing (the default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadScope {
    pub grants: Vec<Grant>,
}

/// A query outside the worker's scope.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{worker} may not read {measurement} with tags {tags:?}: {why}")]
pub struct Refused {
    pub worker: String,
    pub measurement: String,
    pub tags: BTreeMap<String, String>,
    pub why: &'static str,
}

impl ReadScope {
    pub fn new(grants: Vec<Grant>) -> ReadScope {
        ReadScope { grants }
    }

    /// Whether `worker` may run `q`.
    pub fn check(&self, worker: &str, q: &ReadQuery) -> Result<(), Refused> {
        if self.grants.iter().any(|g| g.allows(q)) {
            return Ok(());
        }
        Err(Refused {
            worker: worker.to_string(),
            measurement: q.measurement.clone(),
            tags: q.tags.clone(),
            why: if self.grants.is_empty() {
                "its kind reads nothing from the store"
            } else {
                "outside its entity's series"
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entity_grant_allows_only_queries_pinned_to_that_entity() {
        let scope = ReadScope::new(vec![Grant::entity("house_id", "villa_1")]);
        let own = ReadQuery::new("heating_system").tag("house_id", "villa_1");
        assert_eq!(scope.check("analytics:villa_1", &own), Ok(()));
        let weather = ReadQuery::new("weather_observation").tag("house_id", "villa_1");
        assert!(scope.check("analytics:villa_1", &weather).is_ok());
        let other = ReadQuery::new("heating_system").tag("house_id", "villa_2");
        let unpinned = ReadQuery::new("heating_system");
        for q in [other, unpinned] {
            let err = scope.check("analytics:villa_1", &q).unwrap_err();
            assert_eq!(err.why, "outside its entity's series", "{q:?}");
        }
        let none = ReadScope::default().check("house:villa_1", &ReadQuery::new("x"));
        assert_eq!(
            none.unwrap_err().why,
            "its kind reads nothing from the store"
        );
    }

    #[test]
    fn a_series_grant_names_its_measurement() {
        let tags = BTreeMap::from([("entity_id".to_string(), "gas".to_string())]);
        let scope = ReadScope::new(vec![Grant::series("m³", tags)]);
        assert!(scope
            .check("meters", &ReadQuery::new("m³").tag("entity_id", "gas"))
            .is_ok());
        assert!(scope
            .check("meters", &ReadQuery::new("kWh").tag("entity_id", "gas"))
            .is_err());
    }

    #[test]
    fn queries_travel_compactly_and_strictly() {
        let q = ReadQuery::new("m")
            .tag("house_id", "a")
            .between(Some(1), None);
        let text = serde_json::to_string(&q).unwrap();
        assert_eq!(
            text,
            r#"{"measurement":"m","tags":{"house_id":"a"},"from":1}"#
        );
        assert_eq!(serde_json::from_str::<ReadQuery>(&text).unwrap(), q);
        assert!(serde_json::from_str::<ReadQuery>(r#"{"measurement":"m","form":1}"#).is_err());
    }
}
