//! `meters`: the meter analytics as a supervised worker. A full run at start and every night
//! (local wall clock of the definitions' `timezone`); between them, every check interval, the
//! worker asks the store which meters' readings were written since its last look (`changes`:
//! the store's write order, whatever the readings' times) and recomputes from the earliest
//! changed reading, so a reading added in the past counts at once. The results go to the store
//! as the seed's measurements (`hemflux_analytics::meters::records`); the state, packed, and
//! the store position it covers go to the checkpoint after them ([`run::deliver`]).

mod run;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use hemflux_analytics::energy::schedule::latest_occurrence;
use hemflux_analytics::meters::{self as analytics, packed, Changes, Kind, MeterSet, Source as Definitions, State};
use hemflux_shared::kinds::meters::MetersWorker;
use hemflux_shared::read::ReadQuery;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::link::{Link, Worker};
use crate::runtime::{self, Reply, Source};

const NS: i64 = 1_000_000_000;

/// The worker's checkpoint.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    /// Hash of the definitions the state was computed with (another means a full run).
    definitions: u64,
    /// The nightly occurrence that last ran.
    nightly: Option<Timestamp>,
    /// The store's write position the state covers: readings written after it are new to it.
    seen: Option<u64>,
    /// The state, packed ([`packed::pack`]); absent when it was too large to keep.
    state: Option<String>,
}

struct Meters {
    link: Arc<Link>,
    set: Arc<MeterSet>,
    config: MetersWorker,
    definitions: u64,
    nightly: Option<Timestamp>,
    seen: Option<u64>,
    /// `None` until a run succeeded (or after one failed): the next run is a full one.
    state: Option<State>,
    /// Each physical meter's id and its readings, as `changes` asks about them.
    readings: Vec<(String, ReadQuery)>,
}

pub async fn run(mut worker: Worker, config: MetersWorker) -> Result<()> {
    let d = &config.definitions;
    let (name, patterns_name) = (
        d.file.display().to_string(),
        d.file.with_file_name("seasonal_patterns.yaml").display().to_string(),
    );
    let set = analytics::parse(
        Definitions {
            name: &name,
            text: &d.text,
        },
        d.patterns.as_deref().map(|text| Definitions {
            name: &patterns_name,
            text,
        }),
    )
    .map_err(|errors| anyhow!(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")))?;
    let mut hasher = DefaultHasher::new();
    (&d.text, &d.patterns).hash(&mut hasher);
    let definitions = hasher.finish();
    let cp: Checkpoint = worker
        .init
        .state
        .take()
        .and_then(|v| serde_json::from_value(v).ok())
        .filter(|c: &Checkpoint| c.definitions == definitions)
        .unwrap_or_default();
    let state = match cp.state.as_deref().map(packed::unpack) {
        Some(Ok(state)) => Some(state),
        Some(Err(e)) => {
            tracing::warn!("{e}: the first run is a full one");
            None
        }
        None => None,
    };
    let readings = set
        .meters
        .iter()
        .filter_map(|m| match &m.kind {
            Kind::Physical(p) => Some((m.id.clone(), run::readings_query(p, None))),
            _ => None,
        })
        .collect();
    let meters = Meters {
        link: worker.link.clone(),
        set: Arc::new(set),
        config,
        definitions,
        nightly: cp.nightly,
        seen: cp.seen.filter(|_| state.is_some()),
        state,
        readings,
    };
    runtime::drive(worker, meters).await
}

impl Source for Meters {
    type Error = anyhow::Error;

    /// Runs in full when due (no state, or the nightly run has not run since its time),
    /// else incrementally when some meter's readings were written since the last look.
    async fn poll(&mut self) -> Result<String> {
        let now = Timestamp::now();
        let nightly = latest_occurrence(self.config.settings.nightly_at, &self.set.tz, now);
        let full = self.state.is_none() || self.nightly.is_none_or(|n| n < nightly);
        let queries = self.readings.iter().map(|(_, q)| q.clone()).collect();
        let (seq, earliest) = self
            .link
            .changes(queries, if full { None } else { self.seen })
            .await?;
        let changes: Changes = self
            .readings
            .iter()
            .zip(earliest)
            .filter_map(|((id, _), t)| Some((id.clone(), t?.div_euclid(NS))))
            .collect();
        if !full && changes.is_empty() {
            self.seen = Some(seq); // nothing of ours among the writes since: look from here on
            return Ok(String::new());
        }
        let state = self.state.take().filter(|_| !full).unwrap_or_default();
        let done = run::compute(&self.link, &self.set, state, now, &changes, full).await?;
        let nightly = if full { Some(nightly) } else { self.nightly };
        let kept = done.packed.len() <= run::MAX_PACKED_BYTES;
        let cp = Checkpoint {
            definitions: self.definitions,
            nightly,
            seen: Some(seq),
            state: kept.then_some(done.packed),
        };
        run::deliver(&self.link, done.points, cp).await?;
        self.state = Some(done.state);
        self.seen = Some(seq);
        self.nightly = nightly;
        Ok(match kept {
            true => done.status,
            false => format!("{}; the state is too large to checkpoint: a restart runs in full", done.status),
        })
    }

    fn next_delay(&mut self, _outcome: &Result<String>) -> Duration {
        Duration::from_secs(self.config.settings.check_interval_secs.max(1))
    }

    async fn sync(&mut self, _id: u64, _from: Timestamp, _to: Timestamp) -> Result<Reply> {
        Err(anyhow!(NOT_ON_REQUEST))
    }

    async fn command(&mut self, _name: &str, _args: serde_json::Value) -> Result<Reply> {
        Err(anyhow!(NOT_ON_REQUEST))
    }
}

const NOT_ON_REQUEST: &str =
    "the meter analytics run nightly and on new readings; `hemflux meters run` runs them now";
