//! The same checks against both catalog store adapters.
use shop_catalog::{
    domain::demo::demo_catalog,
    events::product_published,
    store::{CatalogStore, memory::MemoryCatalogStore, sqlite::SqliteCatalogStore},
};
use shop_store::EventStore;

/// `global_order`: the event store keeps one order over all streams (SQLite, memory); Cassandra orders events
/// within a stream only.
async fn conformance<S: CatalogStore, E: EventStore>(store: S, events: &E, global_order: bool) {
    let empty = store.load().await.unwrap();
    assert!(
        empty.products.is_empty() && empty.collections.is_empty() && empty.units_sold.is_empty()
    );

    let demo = demo_catalog(1_700_000_000_000);
    let evs: Vec<_> = demo
        .products
        .iter()
        .map(|p| product_published(p, 1))
        .collect();
    assert!(
        store
            .seed_if_empty(demo.clone(), evs.clone())
            .await
            .unwrap()
    );
    // Round trip, in order.
    assert_eq!(store.load().await.unwrap(), demo);
    let published = events.unpublished(1000).await.unwrap();
    assert_eq!(published.len(), demo.products.len());
    if global_order {
        assert_eq!(published[0].stream_id, demo.products[0].id);
    }
    let mut streams: Vec<&str> = published.iter().map(|e| e.stream_id.as_str()).collect();
    streams.sort_unstable();
    let mut ids: Vec<&str> = demo.products.iter().map(|p| p.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(streams, ids, "one event per product, on its stream");
    for e in &published {
        assert_eq!(e.event.event_type, "catalog.product_published.v1");
        assert_eq!(e.event.topic, "shop.catalog.v1");
    }

    // Seeding again is a no-op.
    let mut other = demo_catalog(5);
    other.products.truncate(1);
    assert!(!store.seed_if_empty(other, evs).await.unwrap());
    assert_eq!(
        store.load().await.unwrap().products.len(),
        demo.products.len()
    );
    assert_eq!(
        events.unpublished(1000).await.unwrap().len(),
        demo.products.len()
    );

    // Sales are counted once per event id.
    assert!(
        store
            .record_sales("e1", vec![("prod_0001".into(), 2), ("prod_0002".into(), 1)])
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_sales("e1", vec![("prod_0001".into(), 2)])
            .await
            .unwrap()
    );
    assert!(
        store
            .record_sales("e2", vec![("prod_0001".into(), 3)])
            .await
            .unwrap()
    );
    assert!(store.record_sales("e3", vec![]).await.unwrap());
    assert_eq!(
        store.load().await.unwrap().units_sold,
        vec![("prod_0001".to_string(), 5), ("prod_0002".to_string(), 1)]
    );
}

#[tokio::test]
async fn memory_store_conforms() {
    let store = MemoryCatalogStore::new();
    let events = store.event_store().clone();
    conformance(store, &events, true).await;
}

#[tokio::test]
async fn sqlite_store_conforms() {
    let store = SqliteCatalogStore::open_in_memory().unwrap();
    let events = store.event_store().clone();
    conformance(store, &events, true).await;
}

#[tokio::test]
async fn sqlite_store_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    {
        let store = SqliteCatalogStore::open(&path).unwrap();
        let events = store.event_store().clone();
        conformance(store, &events, true).await;
    }
    let store = SqliteCatalogStore::open(&path).unwrap();
    let data = store.load().await.unwrap();
    assert_eq!(data.products, demo_catalog(1_700_000_000_000).products);
    assert_eq!(data.units_sold.len(), 2);
    assert!(
        !store
            .record_sales("e1", vec![("prod_0001".into(), 2)])
            .await
            .unwrap()
    );
}

mod cassandra {
    use std::time::Duration;

    use scylla::statement::Statement;
    use shop_catalog::{
        domain::demo::demo_catalog,
        events::product_published,
        store::{CatalogStore, cassandra::CassandraCatalogStore},
    };
    use shop_store::{EventStore, cassandra::CassandraSettings};

    fn settings(nodes: &str, keyspace: &str) -> CassandraSettings {
        CassandraSettings {
            nodes: nodes.split(',').map(|n| n.trim().to_string()).collect(),
            keyspace: keyspace.to_string(),
            replication_factor: 1,
            request_timeout: Duration::from_secs(2),
            local_datacenter: None,
        }
    }

    /// Runs `body` against a store in a fresh keyspace, then drops the keyspace even if `body` panicked.
    async fn with_keyspace<F, Fut>(nodes: &str, body: F)
    where
        F: FnOnce(String, CassandraCatalogStore) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        // `catalog_` + 32 hex chars: a valid unquoted CQL identifier.
        let keyspace = format!("catalog_{}", shop_kernel::ids::new_id());
        let store = CassandraCatalogStore::connect(settings(nodes, &keyspace))
            .await
            .expect("connect");
        let outcome = tokio::spawn(body(keyspace.clone(), store.clone())).await;
        let mut drop = Statement::new(format!("DROP KEYSPACE IF EXISTS {keyspace}"));
        drop.set_request_timeout(Some(Duration::from_secs(60)));
        store
            .event_store()
            .session()
            .query_unpaged(drop, ())
            .await
            .expect("drop keyspace");
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cassandra_store_conforms() {
        let Some(nodes) = shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA") else {
            return;
        };
        let nodes2 = nodes.clone();
        with_keyspace(&nodes, |keyspace, store| async move {
            let events = store.event_store().clone();
            super::conformance(store, &events, false).await;
            // Another connection to the same keyspace loads the same catalog; processed events stay processed.
            let again = CassandraCatalogStore::connect(settings(&nodes2, &keyspace))
                .await
                .unwrap();
            let data = again.load().await.unwrap();
            assert_eq!(data.products, demo_catalog(1_700_000_000_000).products);
            assert_eq!(data.units_sold.len(), 2);
            assert!(
                !again
                    .record_sales("e1", vec![("prod_0001".into(), 2)])
                    .await
                    .unwrap()
            );
        })
        .await;
    }

    /// Concurrent seeds: one wins; the catalog and its events are the winner's, each product's event once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cassandra_concurrent_seeds_one_winner() {
        let Some(nodes) = shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA") else {
            return;
        };
        with_keyspace(&nodes, |_, store| async move {
            let seeds = (0..4).map(|i| {
                let store = store.clone();
                async move {
                    let mut demo = demo_catalog(1_000 + i);
                    for p in &mut demo.products {
                        p.title = format!("{} #{i}", p.title);
                    }
                    let evs: Vec<_> = demo
                        .products
                        .iter()
                        .map(|p| product_published(p, 1))
                        .collect();
                    (store.seed_if_empty(demo.clone(), evs).await.unwrap(), demo)
                }
            });
            let outcomes = futures::future::join_all(seeds).await;
            let winners: Vec<_> = outcomes.iter().filter(|(won, _)| *won).collect();
            assert_eq!(winners.len(), 1);
            let winner = &winners[0].1;
            let loaded = store.load().await.unwrap();
            assert_eq!(loaded.products, winner.products);
            assert_eq!(loaded.variants, winner.variants);
            assert_eq!(loaded.collections, winner.collections);
            let pending = store.event_store().unpublished(1000).await.unwrap();
            assert_eq!(pending.len(), winner.products.len());
            assert!(pending.iter().all(|e| e.seq == 1));
        })
        .await;
    }

    /// A seed whose process died right after its commit point: the next load appends its events first.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cassandra_seed_events_completed_by_the_next_load() {
        let Some(nodes) = shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA") else {
            return;
        };
        with_keyspace(&nodes, |keyspace, store| async move {
            let demo = demo_catalog(1_700_000_000_000);
            let evs: Vec<_> = demo.products.iter().map(|p| product_published(p, 1)).collect();
            assert!(store.seed_if_empty(demo.clone(), evs).await.unwrap());
            // Undo what followed the commit point: the events and the cleared flag.
            let session = store.event_store().session();
            for table in ["events", "outbox"] {
                let mut truncate = Statement::new(format!("TRUNCATE {keyspace}.{table}"));
                truncate.set_request_timeout(Some(Duration::from_secs(60)));
                session.query_unpaged(truncate, ()).await.unwrap();
            }
            session
                .query_unpaged(
                    format!("UPDATE {keyspace}.catalog_head SET events_pending = true WHERE id = 0 IF EXISTS"),
                    (),
                )
                .await
                .unwrap();
            assert!(store.event_store().unpublished(1000).await.unwrap().is_empty());
            assert_eq!(store.load().await.unwrap().products, demo.products);
            assert_eq!(
                store.event_store().unpublished(1000).await.unwrap().len(),
                demo.products.len()
            );
        })
        .await;
    }
}
