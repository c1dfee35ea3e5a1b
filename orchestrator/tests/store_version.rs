//! The store's format version: an older store is migrated forward on open with its data kept,
//! a newer one is refused with a clear message and left untouched.

use hemflux::store::{RangeQuery, Store, StoreConfig, FILE_NAME};
use hemflux_shared::Point;

fn point() -> Point {
    Point::new("energy_meter", 1_000_000_000)
        .tag("house_id", "a")
        .field("kwh", 1.5)
}

fn user_version(dir: &std::path::Path) -> i64 {
    rusqlite::Connection::open(dir.join(FILE_NAME))
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

async fn store_with_a_point(dir: &std::path::Path) {
    let store = Store::open(dir, &StoreConfig::default()).unwrap();
    store.write("w", vec![point()], None).await.unwrap();
}

#[tokio::test]
async fn an_unversioned_store_is_migrated_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    store_with_a_point(dir.path()).await;
    assert_eq!(user_version(dir.path()), 1);
    // What a store written before versioning looks like.
    rusqlite::Connection::open(dir.path().join(FILE_NAME))
        .unwrap()
        .execute_batch("DROP TABLE store_meta; PRAGMA user_version = 0;")
        .unwrap();
    assert_eq!(user_version(dir.path()), 0);
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    assert_eq!(user_version(dir.path()), 1);
    let points = store
        .reader()
        .unwrap()
        .points(&RangeQuery::new("energy_meter"))
        .unwrap();
    assert_eq!(points, vec![point()]);
}

#[tokio::test]
async fn a_newer_store_is_refused_and_left_alone() {
    for newer in [
        "PRAGMA user_version = 2;",
        "UPDATE store_meta SET value = 2 WHERE key = 'fields_format';",
    ] {
        let dir = tempfile::tempdir().unwrap();
        store_with_a_point(dir.path()).await;
        rusqlite::Connection::open(dir.path().join(FILE_NAME))
            .unwrap()
            .execute_batch(newer)
            .unwrap();
        let before = user_version(dir.path());
        let e = Store::open(dir.path(), &StoreConfig::default())
            .err()
            .expect("refused");
        let e = format!("{e:#}");
        assert!(
            e.contains("newer than this hemflux knows") && e.contains(FILE_NAME),
            "{e}"
        );
        assert_eq!(user_version(dir.path()), before);
        // `hemflux query` (a read-only connection) refuses it too.
        let e = hemflux::store::Reader::open(dir.path())
            .err()
            .expect("refused");
        assert!(format!("{e:#}").contains("newer"), "{e:#}");
    }
}
