//! Answers a worker's `query` (the workers' read path, `hemflux_shared::read`): checks it
//! against the worker's read scope, then reads one page from the store on a blocking thread,
//! on a read-only connection of the worker's own (opened at its first query).

use std::sync::{Arc, Mutex};

use anyhow::anyhow;
use hemflux_shared::protocol::{ToWorker, MAX_LINE_BYTES};
use hemflux_shared::read::{ReadQuery, ReadScope};

use crate::store::{Reader, Store};

/// Points per page at most; a worker may ask for fewer with `limit`.
pub const PAGE_POINTS: usize = 10_000;
/// A page stops once its points hold this much JSON, so that every `query_result` line stays
/// well under the line limit (a page exceeds it by its last point at most).
pub const PAGE_BYTES: usize = MAX_LINE_BYTES / 4;

/// One worker's reads.
pub struct Reads {
    worker_id: String,
    scope: ReadScope,
    store: Store,
    reader: Arc<Mutex<Option<Reader>>>,
}

impl Reads {
    pub fn new(worker_id: String, scope: ReadScope, store: Store) -> Reads {
        Reads {
            worker_id,
            scope,
            store,
            reader: Arc::default(),
        }
    }

    /// The `query_result` for query `id`: a page, or the reason it was refused or failed.
    pub async fn answer(&self, id: u64, query: ReadQuery) -> ToWorker {
        let refused = |error: String| ToWorker::QueryResult {
            id,
            points: Vec::new(),
            next: None,
            error: Some(error),
        };
        if let Err(e) = self.scope.check(&self.worker_id, &query) {
            tracing::warn!(worker = %self.worker_id, "refused a query: {e}");
            return refused(e.to_string());
        }
        let (reader, store) = (self.reader.clone(), self.store.clone());
        let limit = query.limit.unwrap_or(PAGE_POINTS).clamp(1, PAGE_POINTS);
        let page = tokio::task::spawn_blocking(move || {
            let mut slot = reader.lock().map_err(|_| anyhow!("reader poisoned"))?;
            let reader = match &mut *slot {
                Some(reader) => reader,
                empty => empty.insert(store.reader()?),
            };
            reader.page(&query, limit, PAGE_BYTES)
        })
        .await;
        match page {
            Ok(Ok((points, next))) => ToWorker::QueryResult {
                id,
                points,
                next,
                error: None,
            },
            Ok(Err(e)) => refused(format!("reading the store: {e:#}")),
            Err(e) => refused(format!("reading the store: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use hemflux_shared::read::Grant;
    use hemflux_shared::Point;

    use super::*;
    use crate::store::StoreConfig;

    async fn store_with_two_houses(dir: &std::path::Path) -> Store {
        let store = Store::open(dir, &StoreConfig::default()).unwrap();
        let mut points = Vec::new();
        for house in ["villa_1", "villa_2"] {
            for t in 0..5 {
                points.push(
                    Point::new("heating_system", t)
                        .tag("house_id", house)
                        .field("room_temperature", 20.0 + t as f64)
                        .field("supply_temp", 40.0),
                );
            }
        }
        store.write("test", points, None).await.unwrap();
        store
    }

    fn page(
        answer: ToWorker,
    ) -> (
        Vec<Point>,
        Option<hemflux_shared::read::PageCursor>,
        Option<String>,
    ) {
        match answer {
            ToWorker::QueryResult {
                points,
                next,
                error,
                ..
            } => (points, next, error),
            other => panic!("not a query_result: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_worker_reads_its_own_entity_page_by_page_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_two_houses(dir.path()).await;
        let scope = ReadScope::new(vec![Grant::entity("house_id", "villa_1")]);
        let reads = Reads::new("analytics:villa_1".into(), scope, store);
        let mut q = ReadQuery::new("heating_system")
            .tag("house_id", "villa_1")
            .fields(["room_temperature"])
            .between(Some(1), None);
        q.limit = Some(3);
        let (first, next, error) = page(reads.answer(1, q.clone()).await);
        assert_eq!(error, None);
        assert_eq!(first.iter().map(|p| p.time).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(first
            .iter()
            .all(|p| p.fields.len() == 1 && p.tags["house_id"] == "villa_1"));
        q.after = next;
        let (rest, next, _) = page(reads.answer(2, q).await);
        assert_eq!(rest.iter().map(|p| p.time).collect::<Vec<_>>(), [4]);
        assert_eq!(next, None);

        let other = ReadQuery::new("heating_system").tag("house_id", "villa_2");
        let (points, _, error) = page(reads.answer(3, other).await);
        assert!(points.is_empty());
        assert!(error.unwrap().contains("may not read heating_system"));
        let unpinned = ReadQuery::new("heating_system");
        assert!(page(reads.answer(4, unpinned).await).2.is_some());
    }

    #[tokio::test]
    async fn a_kind_without_reads_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_two_houses(dir.path()).await;
        let reads = Reads::new("house:villa_1".into(), ReadScope::default(), store);
        let q = ReadQuery::new("heating_system").tag("house_id", "villa_1");
        let error = page(reads.answer(1, q).await).2.unwrap();
        assert!(error.contains("reads nothing from the store"), "{error}");
    }
}
