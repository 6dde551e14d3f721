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

mod cassandra {
    use std::time::Duration;

    use bytes::Bytes;
    use scylla::statement::Statement;
    use shop_store::{
        EventStore, ExpectedVersion, NewEvent,
        cassandra::{CassandraEventStore, CassandraSettings},
        conformance,
    };

    fn settings(nodes: &str, keyspace: &str) -> CassandraSettings {
        CassandraSettings {
            nodes: nodes.split(',').map(|n| n.trim().to_string()).collect(),
            keyspace: keyspace.to_string(),
            replication_factor: 1,
            request_timeout: Duration::from_secs(2),
            local_datacenter: None,
        }
    }

    /// A schema statement with a timeout fit for a busy test machine.
    fn ddl(cql: String) -> Statement {
        let mut statement = Statement::new(cql);
        statement.set_request_timeout(Some(Duration::from_secs(60)));
        statement
    }

    /// A fresh keyspace name: `conformance_` + 32 hex chars (44 chars, a valid unquoted CQL identifier).
    fn fresh_keyspace() -> String {
        format!("conformance_{}", shop_kernel::ids::new_id())
    }

    fn event(n: u32) -> NewEvent {
        NewEvent {
            event_id: shop_kernel::ids::new_id(),
            event_type: "test.happened.v1".into(),
            topic: "shop.test.v1".into(),
            occurred_at_ms: 1_700_000_000_000 + n as i64,
            traceparent: None,
            payload: Bytes::from(format!("payload-{n}")),
        }
    }

    /// Runs `body` on a store in a fresh keyspace, then drops the keyspace even if `body` panicked.
    async fn with_keyspace<F, Fut>(nodes: &str, body: F)
    where
        F: FnOnce(String, CassandraEventStore) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let keyspace = fresh_keyspace();
        let store = CassandraEventStore::connect(settings(nodes, &keyspace))
            .await
            .expect("connect");
        let outcome = tokio::spawn(body(keyspace.clone(), store.clone())).await;
        store
            .session()
            .query_unpaged(ddl(format!("DROP KEYSPACE IF EXISTS {keyspace}")), ())
            .await
            .expect("drop keyspace");
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cassandra_event_store_conforms() {
        let Some(nodes) = shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA") else {
            return;
        };
        with_keyspace(&nodes, |_, store| async move {
            let started = std::time::Instant::now();
            conformance::run_all(store).await;
            eprintln!("conformance suite on Cassandra: {:?}", started.elapsed());
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cassandra_event_store_survives_reconnect() {
        let Some(nodes) = shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA") else {
            return;
        };
        let nodes2 = nodes.clone();
        with_keyspace(&nodes, |keyspace, store| async move {
            store
                .append(
                    "s-durable",
                    ExpectedVersion::NoStream,
                    vec![event(1), event(2)],
                    vec!["owner:d".into()],
                )
                .await
                .unwrap();
            assert_eq!(store.next_sequence("orders").await.unwrap(), 1);
            // Connecting again to the same keyspace re-runs the (recorded, idempotent) migrations.
            let again = CassandraEventStore::connect(settings(&nodes2, &keyspace))
                .await
                .expect("reconnect");
            let loaded = again.load("s-durable").await.unwrap();
            assert_eq!(loaded.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2]);
            assert_eq!(
                again.streams_by_tag("owner:d").await.unwrap(),
                vec!["s-durable".to_string()]
            );
            assert_eq!(again.next_sequence("orders").await.unwrap(), 2);
            assert_eq!(again.unpublished(100).await.unwrap().len(), 2);
            let applied = again
                .session()
                .query_unpaged(format!("SELECT name FROM {keyspace}.schema_migrations"), ())
                .await
                .unwrap()
                .into_rows_result()
                .unwrap()
                .rows_num();
            assert_eq!(applied, 4, "each migration recorded once");
        })
        .await;
    }

    /// Outbox markers outlive publication for the grace period, then the relay removes them; a marker never
    /// hides an append; `mark_published` repairs a missing tag index row.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cassandra_outbox_markers_are_cleaned_up() {
        let Some(nodes) = shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA") else {
            return;
        };
        with_keyspace(&nodes, |keyspace, store| async move {
            for s in ["s-m-a", "s-m-b"] {
                store
                    .append(
                        s,
                        ExpectedVersion::NoStream,
                        vec![event(1)],
                        vec!["t:m".into()],
                    )
                    .await
                    .unwrap();
            }
            // Lose the index, as if the process died right after the batches. (TRUNCATE, not DELETE: index
            // rows carry past write timestamps, so a tombstone would shadow the repair too.)
            store
                .session()
                .query_unpaged(ddl(format!("TRUNCATE {keyspace}.stream_tags")), ())
                .await
                .unwrap();
            assert!(store.streams_by_tag("t:m").await.unwrap().is_empty());
            let pending = store.unpublished(100).await.unwrap();
            assert_eq!(pending.len(), 2);
            store.mark_published(&pending).await.unwrap();
            let mut tagged = store.streams_by_tag("t:m").await.unwrap();
            tagged.sort();
            assert_eq!(
                tagged,
                vec!["s-m-a".to_string(), "s-m-b".to_string()],
                "index repaired"
            );
            // Inside the grace period the markers stay.
            assert!(store.unpublished(100).await.unwrap().is_empty());
            assert_eq!(store.outbox_markers().await.unwrap(), 2);

            tokio::time::sleep(store.marker_grace() + Duration::from_millis(300)).await;
            // An append after the grace period has a fresh marker that must survive the clean-up.
            store
                .append("s-m-a", ExpectedVersion::Exact(1), vec![event(2)], vec![])
                .await
                .unwrap();
            let pending = store.unpublished(100).await.unwrap();
            assert_eq!(
                pending
                    .iter()
                    .map(|e| (e.stream_id.as_str(), e.seq))
                    .collect::<Vec<_>>(),
                vec![("s-m-a", 2)]
            );
            // s-m-b was idle and old: its marker is gone; s-m-a has pending events: both of its markers stay.
            assert_eq!(store.outbox_markers().await.unwrap(), 2);
            store.mark_published(&pending).await.unwrap();
            assert!(store.unpublished(100).await.unwrap().is_empty());
            tokio::time::sleep(store.marker_grace() + Duration::from_millis(300)).await;
            assert!(store.unpublished(100).await.unwrap().is_empty());
            assert_eq!(store.outbox_markers().await.unwrap(), 0);
        })
        .await;
    }

    /// Appends whose client gives up while the batch is in flight ("outcome unknown") are settled by a SERIAL
    /// read: an append reported as done is really there, at the reported version, exactly once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cassandra_unknown_outcomes_are_settled() {
        let Some(nodes) = shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA") else {
            return;
        };
        let keyspace = fresh_keyspace();
        let store = CassandraEventStore::connect(settings(&nodes, &keyspace))
            .await
            .expect("connect")
            .with_cas_timeout(Duration::from_micros(300));
        let body = {
            let store = store.clone();
            async move {
                let (mut done, mut unknown, mut conflicts) = (Vec::new(), 0, 0);
                for i in 0..30 {
                    let version = store.load("s-unknown").await.unwrap().len() as u64;
                    let expected = match version {
                        0 => ExpectedVersion::NoStream,
                        v => ExpectedVersion::Exact(v),
                    };
                    let e = event(i);
                    match store
                        .append("s-unknown", expected, vec![e.clone()], vec![])
                        .await
                    {
                        Ok(v) => {
                            assert_eq!(v, version + 1);
                            done.push((v, e.event_id));
                        }
                        Err(shop_store::StoreError::Conflict { .. }) => conflicts += 1,
                        Err(shop_store::StoreError::Backend(_)) => unknown += 1,
                    }
                }
                eprintln!(
                    "settle test: {} done, {unknown} unknown, {conflicts} conflicts",
                    done.len()
                );
                tokio::time::sleep(Duration::from_secs(4)).await;
                let loaded = store.load("s-unknown").await.unwrap();
                eprintln!("settle test: {} events stored", loaded.len());
                let seqs: Vec<u64> = loaded.iter().map(|e| e.seq).collect();
                assert_eq!(seqs, (1..=loaded.len() as u64).collect::<Vec<_>>(), "dense");
                for (v, id) in &done {
                    assert_eq!(
                        &loaded[*v as usize - 1].event.event_id,
                        id,
                        "done means stored"
                    );
                }
                let mut ids: Vec<&str> = loaded.iter().map(|e| e.event.event_id.as_str()).collect();
                ids.sort_unstable();
                ids.dedup();
                assert_eq!(ids.len(), loaded.len(), "no event stored twice");
            }
        };
        let outcome = tokio::spawn(body).await;
        store
            .session()
            .query_unpaged(ddl(format!("DROP KEYSPACE IF EXISTS {keyspace}")), ())
            .await
            .expect("drop keyspace");
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}
