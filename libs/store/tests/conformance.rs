//! Every event store adapter passes the same suite.
use shop_store::{
    conformance,
    memory::MemoryEventStore,
    sqlite::{Db, EVENT_STORE_MIGRATIONS, SqliteEventStore},
};

#[tokio::test]
async fn memory_event_store_conforms() {
    conformance::run_log(MemoryEventStore::new()).await;
}

#[tokio::test]
async fn sqlite_event_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("events.db"), &[EVENT_STORE_MIGRATIONS]).unwrap();
    conformance::run_log(SqliteEventStore::new(db)).await;
}

#[tokio::test]
async fn sqlite_event_store_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    {
        let store = SqliteEventStore::new(Db::open(&path, &[EVENT_STORE_MIGRATIONS]).unwrap());
        conformance::run_all(store).await;
    }
    let store = SqliteEventStore::new(Db::open(&path, &[EVENT_STORE_MIGRATIONS]).unwrap());
    use shop_store::EventStore;
    assert_eq!(store.load("s-round").await.unwrap().len(), 2);
    // What the suite marked published stays published; the rest is still pending.
    let pending = store.unpublished(10_000).await.unwrap();
    assert!(!pending.is_empty());
    assert!(pending.iter().all(|e| !e.stream_id.starts_with("s-out-")));
}
