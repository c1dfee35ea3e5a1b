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
        let limit = query.limit.unwrap_or(PAGE_POINTS).clamp(1, PAGE_POINTS);
        match self
            .read(move |reader| reader.page(&query, limit, PAGE_BYTES))
            .await
        {
            Ok((points, next)) => ToWorker::QueryResult {
                id,
                points,
                next,
                error: None,
            },
            Err(e) => refused(format!("reading the store: {e:#}")),
        }
    }

    /// The `changes_result` for `changes` request `id`: refused whole if any query is outside
    /// the worker's scope.
    pub async fn changes(
        &self,
        id: u64,
        queries: Vec<ReadQuery>,
        written_after: Option<u64>,
    ) -> ToWorker {
        let refused = |error: String| ToWorker::ChangesResult {
            id,
            seq: 0,
            earliest: Vec::new(),
            error: Some(error),
        };
        if let Some(e) = queries
            .iter()
            .find_map(|q| self.scope.check(&self.worker_id, q).err())
        {
            tracing::warn!(worker = %self.worker_id, "refused a changes request: {e}");
            return refused(e.to_string());
        }
        match self
            .read(move |reader| reader.changes(&queries, written_after))
            .await
        {
            Ok((seq, earliest)) => ToWorker::ChangesResult {
                id,
                seq,
                earliest,
                error: None,
            },
            Err(e) => refused(format!("reading the store: {e:#}")),
        }
    }

    /// Runs `f` on the worker's reader (opened at its first read) on a blocking thread.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Reader) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let (reader, store) = (self.reader.clone(), self.store.clone());
        tokio::task::spawn_blocking(move || {
            let mut slot = reader.lock().map_err(|_| anyhow!("reader poisoned"))?;
            let reader = match &mut *slot {
                Some(reader) => reader,
                empty => empty.insert(store.reader()?),
            };
            f(reader)
        })
        .await?
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

    fn changed(answer: ToWorker) -> (u64, Vec<Option<i64>>, Option<String>) {
        match answer {
            ToWorker::ChangesResult {
                seq,
                earliest,
                error,
                ..
            } => (seq, earliest, error),
            other => panic!("not a changes_result: {other:?}"),
        }
    }

    #[tokio::test]
    async fn changes_finds_what_was_written_since_whatever_its_time_within_scope() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_two_houses(dir.path()).await;
        let scope = ReadScope::new(vec![Grant::entity("house_id", "villa_1")]);
        let reads = Reads::new("analytics:villa_1".into(), scope, store.clone());
        let own = ReadQuery::new("heating_system").tag("house_id", "villa_1");
        let (seen, earliest, error) = changed(reads.changes(1, vec![own.clone()], None).await);
        assert_eq!((earliest, error), (vec![None], None));
        assert_eq!(seen, 10, "ten points written");

        // Backdated: time 2 again (before the last, 4), one field only; and the other house.
        let again = |house: &str, field: &str| {
            Point::new("heating_system", 2)
                .tag("house_id", house)
                .field(field, 1.0)
        };
        let points = vec![
            again("villa_1", "supply_temp"),
            again("villa_2", "supply_temp"),
        ];
        store.write("test", points, None).await.unwrap();
        let queries = vec![
            own.clone(),
            own.clone().fields(["supply_temp"]),
            own.clone().fields(["room_temperature"]),
            own.clone().between(Some(3), None),
            ReadQuery::new("other").tag("house_id", "villa_1"),
        ];
        let (seq, earliest, error) = changed(reads.changes(2, queries, Some(seen)).await);
        assert_eq!(error, None);
        assert_eq!(seq, seen + 2);
        // The rewrite merges into the stored point, which then holds both fields: a query of
        // either sees it (a recompute too many, never one too few).
        assert_eq!(earliest, [Some(2), Some(2), Some(2), None, None]);
        let (_, earliest, _) = changed(reads.changes(3, vec![own.clone()], Some(seq)).await);
        assert_eq!(earliest, [None], "nothing since");

        let other = ReadQuery::new("heating_system").tag("house_id", "villa_2");
        let (_, earliest, error) = changed(reads.changes(4, vec![own, other], Some(0)).await);
        assert!(earliest.is_empty());
        assert!(error.unwrap().contains("may not read heating_system"));
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
