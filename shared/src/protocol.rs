//! The worker protocol: JSON lines on the worker's stdin (orchestrator to worker) and stdout
//! (worker to orchestrator). Every message is one JSON object on one line with a `type` field.
//! See `docs/protocol.md` for the conversation as a whole.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::kinds::{KindError, WorkerConfig, WorkerKind};
use crate::point::Point;
use crate::read::{PageCursor, ReadQuery};

/// Bumped on any change a peer of the previous version would misread.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest line either side accepts; a longer one is counted, logged and skipped.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// Orchestrator to worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ToWorker {
    /// Always the first message.
    Init(Box<Init>),
    /// `seq` of a `points` or `state` message is durable in the store.
    Ack { seq: u64 },
    /// `seq` could not be stored (invalid points, store failure); nothing of it was kept.
    Nack { seq: u64, error: String },
    /// Fetch a time range again (RFC 3339 instants), for example after an outage or on request.
    Sync { id: u64, from: String, to: String },
    /// A kind-specific command, such as a setpoint write for a house.
    Command {
        id: u64,
        name: String,
        #[serde(default)]
        args: Value,
    },
    /// The answer to the worker's `ask`.
    Answer {
        id: u64,
        ok: bool,
        #[serde(default)]
        message: String,
    },
    /// Finish what is in flight and exit.
    Shutdown,
    /// One page of the answer to the worker's `query` with this `id`: the points, and where the
    /// next page starts (`next`, absent on the last page), or why it was refused (`error`).
    QueryResult {
        id: u64,
        #[serde(default)]
        points: Vec<Point>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<PageCursor>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The answer to the worker's `changes` with this `id`: the store's write position it
    /// covers (`seq`) and, per query, the earliest time written after `written_after` (`null`:
    /// nothing), or why it was refused (`error`).
    ChangesResult {
        id: u64,
        #[serde(default)]
        seq: u64,
        #[serde(default)]
        earliest: Vec<Option<i64>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// The first message: everything a worker needs to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "InitWire", into = "InitWire")]
pub struct Init {
    pub version: u32,
    /// Stable worker id, such as `house:villa_12`.
    pub id: String,
    /// The kind's own config, as validated by the orchestrator; its variant is the kind.
    pub config: WorkerConfig,
    /// This worker's credentials and nothing else.
    pub secrets: BTreeMap<String, String>,
    /// What the worker last persisted with `state`, if anything.
    pub state: Option<Value>,
    /// Delay before the first poll, so that a fleet does not poll in the same second.
    pub poll_offset_ms: u64,
    /// How often the worker must send `heartbeat`.
    pub heartbeat_ms: u64,
}

impl Init {
    pub fn kind(&self) -> WorkerKind {
        self.config.kind()
    }

    /// One of this worker's credentials, or an error naming it and its worker.
    pub fn secret(&self, name: &str) -> Result<&str, MissingSecret> {
        self.secrets
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| MissingSecret {
                worker: self.id.clone(),
                name: name.to_string(),
            })
    }
}

/// The orchestrator did not hand over a credential the worker needs (its `.env` lacks it).
#[derive(Debug, thiserror::Error)]
#[error("the init of {worker} has no `{name}` secret (see the worker's credentials in .env)")]
pub struct MissingSecret {
    pub worker: String,
    pub name: String,
}

/// `init` as it travels: the kind by name beside its config.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InitWire {
    version: u32,
    id: String,
    kind: String,
    config: Value,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
    #[serde(default)]
    state: Option<Value>,
    #[serde(default)]
    poll_offset_ms: u64,
    heartbeat_ms: u64,
}

impl TryFrom<InitWire> for Init {
    type Error = KindError;

    fn try_from(w: InitWire) -> Result<Self, KindError> {
        Ok(Init {
            config: WorkerConfig::from_parts(&w.kind, w.config)?,
            version: w.version,
            id: w.id,
            secrets: w.secrets,
            state: w.state,
            poll_offset_ms: w.poll_offset_ms,
            heartbeat_ms: w.heartbeat_ms,
        })
    }
}

impl From<Init> for InitWire {
    fn from(i: Init) -> Self {
        InitWire {
            kind: i.kind().as_str().to_string(),
            config: i.config.to_value(),
            version: i.version,
            id: i.id,
            secrets: i.secrets,
            state: i.state,
            poll_offset_ms: i.poll_offset_ms,
            heartbeat_ms: i.heartbeat_ms,
        }
    }
}

/// Worker to orchestrator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FromWorker {
    /// Sent once after `init` was understood and the worker is about to start its loop.
    Ready {
        version: u32,
    },
    /// A batch of points, with an optional new state stored in the same transaction: the
    /// checkpoint moves exactly when the data it covers is durable. Answered by `ack`/`nack`.
    Points {
        seq: u64,
        points: Vec<Point>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<Value>,
    },
    /// Persist this state (a rotated token, a cursor, learned parameters). Answered by `ack`.
    State {
        seq: u64,
        state: Value,
    },
    Heartbeat,
    /// Human-readable progress, shown in `hemflux status`.
    Status {
        message: String,
    },
    /// Something went wrong; the worker goes on unless it exits.
    Error {
        message: String,
    },
    /// A command for another worker (`worker`), which the orchestrator passes on if this worker
    /// may ask that one (`kinds::controller::may_ask`); answered by `answer` with the same `id`.
    Ask {
        id: u64,
        worker: String,
        name: String,
        #[serde(default)]
        args: Value,
    },
    /// Read points from the store (the orchestrator owns it): one page per `query`, answered by
    /// `query_result` with the same `id`; the next page is asked for with `query.after` set to
    /// the answer's `next`. Only what the worker's kind may read ([`crate::read::ReadScope`]).
    Query {
        id: u64,
        query: ReadQuery,
    },
    /// Which of `queries` have points written after store position `written_after` (absent:
    /// only where the store is now), whatever their times: answered by `changes_result` with
    /// the same `id`. Every query must be within the worker's read scope.
    Changes {
        id: u64,
        queries: Vec<ReadQuery>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        written_after: Option<u64>,
    },
    /// The answer to a `sync` or `command`.
    Reply {
        id: u64,
        ok: bool,
        #[serde(default)]
        message: String,
    },
}

impl FromWorker {
    /// Parses one line. A `points` batch, nearly every line, is read straight into its fields:
    /// serde's internally tagged enums first buffer the whole message as a tree, which cost the
    /// orchestrator more allocations than storing the points did.
    pub fn from_slice(line: &[u8]) -> serde_json::Result<FromWorker> {
        #[derive(Deserialize)]
        struct Tag<'a> {
            #[serde(rename = "type", borrow)]
            kind: std::borrow::Cow<'a, str>,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct PointsLine {
            #[serde(rename = "type")]
            _kind: serde::de::IgnoredAny,
            seq: u64,
            points: Vec<Point>,
            #[serde(default)]
            state: Option<Value>,
        }
        match serde_json::from_slice::<Tag>(line) {
            Ok(tag) if tag.kind == "points" => {
                let PointsLine {
                    seq, points, state, ..
                } = serde_json::from_slice(line)?;
                Ok(FromWorker::Points { seq, points, state })
            }
            _ => serde_json::from_slice(line),
        }
    }

    pub fn to_line(&self) -> String {
        let mut s = serde_json::to_string(self).expect("protocol messages serialize");
        s.push('\n');
        s
    }
}

impl ToWorker {
    pub fn to_line(&self) -> String {
        let mut s = serde_json::to_string(self).expect("protocol messages serialize");
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_their_type_first_and_round_trip() {
        let msgs = vec![
            FromWorker::Ready {
                version: PROTOCOL_VERSION,
            },
            FromWorker::Points {
                seq: 3,
                points: vec![Point::new("m", 1).field("v", 1.5)],
                state: Some(serde_json::json!({"last": 1})),
            },
            FromWorker::Heartbeat,
            FromWorker::Query {
                id: 4,
                query: ReadQuery::new("heating_system").tag("house_id", "a"),
            },
            FromWorker::Changes {
                id: 5,
                queries: vec![ReadQuery::new("kWh").tag("entity_id", "strom")],
                written_after: Some(17),
            },
            FromWorker::Reply {
                id: 1,
                ok: true,
                message: String::new(),
            },
        ];
        for m in msgs {
            let line = m.to_line();
            assert!(line.starts_with("{\"type\":"), "{line}");
            assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
            assert_eq!(serde_json::from_str::<FromWorker>(&line).unwrap(), m);
            assert_eq!(FromWorker::from_slice(line.as_bytes()).unwrap(), m);
        }
    }

    #[test]
    fn a_query_result_page_says_where_the_next_starts() {
        let page = ToWorker::QueryResult {
            id: 4,
            points: vec![Point::new("m", 7).field("v", 1.0)],
            next: Some(PageCursor { series: 2, time: 7 }),
            error: None,
        };
        let line = page.to_line();
        assert!(
            line.starts_with(r#"{"type":"query_result","id":4,"#),
            "{line}"
        );
        assert!(!line.contains("error"), "{line}");
        assert_eq!(serde_json::from_str::<ToWorker>(&line).unwrap(), page);
        let refused = r#"{"type":"query_result","id":5,"error":"no"}"#;
        let ToWorker::QueryResult { points, next, .. } = serde_json::from_str(refused).unwrap()
        else {
            panic!("not a query_result")
        };
        assert!(points.is_empty() && next.is_none());
    }

    #[test]
    fn unknown_types_and_fields_are_errors() {
        assert!(serde_json::from_str::<FromWorker>(r#"{"type":"bogus"}"#).is_err());
        for bad in [
            r#"{"type":"points","seq":1,"points":[],"extra":1}"#,
            r#"{"type":"points","points":[]}"#,
            r#"{"seq":1,"points":[]}"#,
        ] {
            assert!(FromWorker::from_slice(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<ToWorker>(r#"{"type":"ack","seq":1,"sqe":2}"#).is_err());
        assert!(serde_json::from_str::<ToWorker>(r#"{"type":"ack","seq":1}"#).is_ok());
        let init = r#"{"type":"init","version":1,"id":"synthetic:a","kind":"synthetic","config":{"house_id":"a","synthetic":{}},"heartbeat_ms":10000}"#;
        assert!(matches!(
            serde_json::from_str::<ToWorker>(init).unwrap(),
            ToWorker::Init(_)
        ));
    }

    #[test]
    fn init_carries_the_kind_beside_a_typed_config() {
        let line = r#"{"type":"init","version":1,"id":"constant:a","kind":"constant","config":{"source":"a","value":1.5,"interval_ms":10},"heartbeat_ms":100}"#;
        let ToWorker::Init(init) = serde_json::from_str::<ToWorker>(line).unwrap() else {
            panic!("not an init")
        };
        assert_eq!(init.kind(), WorkerKind::Constant);
        let again: serde_json::Value = serde_json::to_value(ToWorker::Init(init.clone())).unwrap();
        assert_eq!(
            (&again["kind"], &again["config"]["value"]),
            (&serde_json::json!("constant"), &serde_json::json!(1.5))
        );
        assert_eq!(
            init.secret("token").unwrap_err().to_string(),
            "the init of constant:a has no `token` secret (see the worker's credentials in .env)"
        );
        let unknown = line.replace(r#""kind":"constant""#, r#""kind":"bogus""#);
        let err = serde_json::from_str::<ToWorker>(&unknown)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown worker kind \"bogus\""), "{err}");
    }
}
