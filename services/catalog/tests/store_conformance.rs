//! The same checks against every catalog store adapter (SQLite, memory; Cassandra with
//! `THRIFTSHOP_TEST_CASSANDRA`).
use shop_catalog::{
    domain::{
        CatalogData, Product, Variant,
        demo::demo_catalog,
        write::{self, ProductFields, VariantInput},
    },
    events::{product_created, product_published, product_updated},
    store::{
        CatalogStore, ProductWrite, WriteError, memory::MemoryCatalogStore,
        sqlite::SqliteCatalogStore,
    },
};
use shop_store::EventStore;

fn vin(sku: &str, price: &str, size: &str) -> VariantInput {
    VariantInput {
        sku: Some(sku.into()),
        price: Some(price.into()),
        options: Some(vec![shop_catalog::domain::SelectedOption {
            name: "Size".into(),
            value: size.into(),
        }]),
        ..Default::default()
    }
}

fn new_product(handle: &str, skus: &[&str]) -> ProductWrite {
    let w = write::create(
        &ProductFields {
            title: Some(format!("Product {handle}")),
            handle: Some(handle.into()),
            ..Default::default()
        },
        &skus
            .iter()
            .enumerate()
            .map(|(i, s)| vin(s, "10", &i.to_string()))
            .collect::<Vec<_>>(),
        1_800_000_000_000,
        shop_kernel::ids::new_id,
    )
    .unwrap();
    let e = product_created(&w.product, &w.variants, 1);
    ProductWrite {
        product: w.product,
        variants: w.variants,
        events: vec![e],
    }
}

fn updated(
    current: &(Product, Vec<Variant>),
    fields: ProductFields,
    variants: &[VariantInput],
) -> ProductWrite {
    let w = write::update(
        &current.0,
        &current.1,
        &fields,
        variants,
        1_800_000_000_001,
        shop_kernel::ids::new_id,
    )
    .unwrap();
    assert!(!w.changed.is_empty());
    let e = product_updated(&w.product, &w.variants, &w.changed, 2);
    ProductWrite {
        product: w.product,
        variants: w.variants,
        events: vec![e],
    }
}

/// Staff writes: creates and updates with their events, uniqueness of handles and SKUs against the seed and
/// written products, optimistic concurrency, all or nothing. Expects an empty store.
async fn writes_conformance<S: CatalogStore, E: EventStore>(store: &S, events: &E) {
    let demo = demo_catalog(1_700_000_000_000);
    let evs: Vec<_> = demo
        .products
        .iter()
        .map(|p| product_published(p, 1))
        .collect();
    assert!(store.seed_if_empty(demo.clone(), evs).await.unwrap());
    let pending = || async { events.unpublished(10_000).await.unwrap().len() };
    let mut expected_events = demo.products.len();
    assert_eq!(pending().await, expected_events);

    // Create: the product and its event, version 1, after the seed's products.
    let lamp = new_product("lamp", &["LAMP-S", "LAMP-L"]);
    store.create_product(lamp.clone()).await.unwrap();
    expected_events += 1;
    let loaded = store.load().await.unwrap();
    assert_eq!(loaded.products.len(), demo.products.len() + 1);
    assert_eq!(loaded.products.last(), Some(&lamp.product));
    assert_eq!(
        &loaded.variants[loaded.variants.len() - 2..],
        &lamp.variants[..]
    );
    assert_eq!(
        store.load_product(&lamp.product.id).await.unwrap(),
        Some((lamp.product.clone(), lamp.variants.clone()))
    );
    let all = events.unpublished(10_000).await.unwrap();
    assert_eq!(all.len(), expected_events);
    let created = all
        .iter()
        .find(|e| e.stream_id == lamp.product.id)
        .expect("the create's event");
    assert_eq!(
        (created.seq, created.event.event_type.as_str()),
        (1, "catalog.product_created.v1")
    );

    // Refused creates change nothing.
    let before = store.load().await.unwrap();
    let seed_product = &demo.products[3];
    let seed_sku = demo
        .variants
        .iter()
        .find(|v| v.product_id == demo.products[5].id)
        .unwrap()
        .sku
        .clone();
    let again = store.create_product(lamp.clone()).await;
    assert!(
        matches!(again, Err(WriteError::VersionConflict)),
        "{again:?}"
    );
    for (w, want) in [
        (new_product("lamp", &["OTHER-1"]), "handle"),
        (new_product(&seed_product.handle, &["OTHER-1"]), "handle"),
        (new_product("other", &["OTHER-1", "LAMP-L"]), "LAMP-L"),
        (
            new_product("other", &[&seed_sku, "OTHER-1"]),
            seed_sku.as_str(),
        ),
    ] {
        match store.create_product(w).await {
            Err(WriteError::HandleTaken(_)) if want == "handle" => {}
            Err(WriteError::SkuTaken(s)) if s == want => {}
            other => panic!("expected {want} taken, got {other:?}"),
        }
    }
    assert_eq!(store.load().await.unwrap(), before);
    assert_eq!(pending().await, expected_events);
    // What a refused create asked for is free again (its claims were released).
    store
        .create_product(new_product("other", &["OTHER-1"]))
        .await
        .unwrap();
    expected_events += 1;

    // Update: new title, a variant repriced, one added; SKUs may move between the product's own variants.
    let current = store.load_product(&lamp.product.id).await.unwrap().unwrap();
    let up = updated(
        &current,
        ProductFields {
            title: Some("Lamp II".into()),
            handle: Some("lamp-ii".into()),
            ..Default::default()
        },
        &[
            VariantInput {
                id: Some(current.1[0].id.clone()),
                sku: Some("LAMP-L".into()),
                price: Some("12.50".into()),
                ..Default::default()
            },
            VariantInput {
                id: Some(current.1[1].id.clone()),
                sku: Some("LAMP-S".into()),
                ..Default::default()
            },
            vin("LAMP-XL", "30", "XL"),
        ],
    );
    assert_eq!(up.product.version, 2);
    store.update_product(1, up.clone()).await.unwrap();
    expected_events += 1;
    let now = store.load_product(&lamp.product.id).await.unwrap().unwrap();
    assert_eq!(now, (up.product.clone(), up.variants.clone()));
    let loaded = store.load().await.unwrap();
    let i = loaded
        .products
        .iter()
        .position(|p| p.id == lamp.product.id)
        .unwrap();
    assert_eq!(i, demo.products.len(), "an updated product keeps its place");
    assert_eq!(loaded.products[i], up.product);

    // A stale update, an unknown product, a taken handle or SKU: refused, nothing changes.
    let stale = updated(
        &current,
        ProductFields {
            title: Some("Stale".into()),
            ..Default::default()
        },
        &[],
    );
    let r = store.update_product(1, stale).await;
    assert!(matches!(r, Err(WriteError::VersionConflict)), "{r:?}");
    let mut ghost = new_product("ghost", &["GHOST-1"]);
    ghost.product.version = 2;
    let r = store.update_product(1, ghost).await;
    assert!(matches!(r, Err(WriteError::NotFound)), "{r:?}");
    let taken_handle = updated(
        &now,
        ProductFields {
            handle: Some(demo.products[7].handle.clone()),
            ..Default::default()
        },
        &[],
    );
    let r = store.update_product(2, taken_handle).await;
    assert!(matches!(r, Err(WriteError::HandleTaken(_))), "{r:?}");
    let taken_sku = updated(&now, ProductFields::default(), &[vin("OTHER-1", "5", "M")]);
    let r = store.update_product(2, taken_sku).await;
    assert!(
        matches!(r, Err(WriteError::SkuTaken(ref s)) if s == "OTHER-1"),
        "{r:?}"
    );
    let before = store.load().await.unwrap();
    assert_eq!(pending().await, expected_events);

    // A seeded product can be changed too (its stream continues from the published event).
    let seeded: (Product, Vec<Variant>) = store
        .load_product(&demo.products[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seeded.0, demo.products[0]);
    let up = updated(
        &seeded,
        ProductFields {
            title: Some("Renamed seed".into()),
            tags: Some(vec!["sale".into()]),
            ..Default::default()
        },
        &[],
    );
    store.update_product(1, up.clone()).await.unwrap();
    expected_events += 1;
    let after: CatalogData = store.load().await.unwrap();
    assert_eq!(after.products[0], up.product);
    assert_eq!(after.products[1..], before.products[1..]);
    assert_eq!(after.variants, before.variants);
    assert_eq!(pending().await, expected_events);
}

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
async fn memory_store_writes_conform() {
    let store = MemoryCatalogStore::new();
    let events = store.event_store().clone();
    writes_conformance(&store, &events).await;
}

#[tokio::test]
async fn sqlite_store_writes_conform() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let store = SqliteCatalogStore::open(&path).unwrap();
    let events = store.event_store().clone();
    writes_conformance(&store, &events).await;
    let expected = store.load().await.unwrap();
    drop(store);
    let reopened = SqliteCatalogStore::open(&path).unwrap();
    assert_eq!(
        reopened.load().await.unwrap(),
        expected,
        "writes survive a reopen"
    );
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cassandra_store_writes_conform() {
        let Some(nodes) = shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA") else {
            return;
        };
        let nodes2 = nodes.clone();
        with_keyspace(&nodes, |keyspace, store| async move {
            let events = store.event_store().clone();
            super::writes_conformance(&store, &events).await;
            // Another connection sees the same catalog, written products included.
            let again = CassandraCatalogStore::connect(settings(&nodes2, &keyspace))
                .await
                .unwrap();
            assert_eq!(again.load().await.unwrap(), store.load().await.unwrap());
        })
        .await;
    }

    /// Concurrent creates asking for the same handle (through two connections): exactly one wins.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cassandra_concurrent_creates_one_handle_winner() {
        let Some(nodes) = shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA") else {
            return;
        };
        let nodes2 = nodes.clone();
        with_keyspace(&nodes, |keyspace, store| async move {
            let demo = demo_catalog(1_700_000_000_000);
            let evs: Vec<_> = demo
                .products
                .iter()
                .map(|p| product_published(p, 1))
                .collect();
            assert!(store.seed_if_empty(demo.clone(), evs).await.unwrap());
            let other = CassandraCatalogStore::connect(settings(&nodes2, &keyspace))
                .await
                .unwrap();
            let tries = (0..6).map(|i| {
                let s = if i % 2 == 0 {
                    store.clone()
                } else {
                    other.clone()
                };
                async move {
                    s.create_product(super::new_product("contested", &[&format!("C-{i}")]))
                        .await
                }
            });
            let outcomes = futures::future::join_all(tries).await;
            let won = outcomes.iter().filter(|r| r.is_ok()).count();
            assert_eq!(won, 1, "{outcomes:?}");
            assert!(
                outcomes.iter().all(|r| r.is_ok()
                    || matches!(r, Err(shop_catalog::store::WriteError::HandleTaken(_))))
            );
            let loaded = store.load().await.unwrap();
            assert_eq!(
                loaded
                    .products
                    .iter()
                    .filter(|p| p.handle == "contested")
                    .count(),
                1
            );
            assert_eq!(
                store.event_store().unpublished(10_000).await.unwrap().len(),
                demo.products.len() + 1
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
