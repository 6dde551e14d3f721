//! The same checks against both recommender store adapters.
use shop_recommender::{
    domain::{OrderDelta, OrderedLine, PlacedOrder, order_delta},
    store::{RecommenderStore, memory::MemoryRecommenderStore, sqlite::SqliteRecommenderStore},
};

fn delta(customer: Option<&str>, lines: &[(&str, i64)]) -> OrderDelta {
    order_delta(&PlacedOrder {
        order_id: "o".into(),
        customer_id: customer.map(Into::into),
        lines: lines
            .iter()
            .map(|(p, q)| OrderedLine {
                product_id: p.to_string(),
                quantity: *q,
            })
            .collect(),
    })
}

fn pairs(v: &[(&str, i64)]) -> Vec<(String, i64)> {
    v.iter().map(|(p, n)| (p.to_string(), *n)).collect()
}

async fn conformance<S: RecommenderStore>(store: S) {
    assert!(store.popular(10).await.unwrap().is_empty());
    assert!(
        store
            .co_purchased(vec!["a".into()], 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.co_purchased(vec![], 10).await.unwrap().is_empty());
    assert!(store.customer_products("c1", 10).await.unwrap().is_empty());

    assert!(
        store
            .apply_order("e1", delta(Some("c1"), &[("a", 2), ("b", 1)]))
            .await
            .unwrap()
    );
    assert!(
        store
            .apply_order("e2", delta(Some("c2"), &[("a", 1), ("c", 5), ("d", 1)]))
            .await
            .unwrap()
    );
    assert!(
        store
            .apply_order("e3", delta(None, &[("b", 1), ("a", 1)]))
            .await
            .unwrap()
    );
    // Redelivery of a processed event changes nothing.
    assert!(
        !store
            .apply_order("e1", delta(Some("c1"), &[("z", 9), ("a", 1)]))
            .await
            .unwrap()
    );
    assert!(
        store
            .apply_order("e4", OrderDelta::default())
            .await
            .unwrap()
    );

    assert_eq!(
        store.popular(10).await.unwrap(),
        pairs(&[("c", 5), ("a", 4), ("b", 2), ("d", 1)])
    );
    assert_eq!(
        store.popular(2).await.unwrap(),
        pairs(&[("c", 5), ("a", 4)])
    );
    assert_eq!(
        store.co_purchased(vec!["a".into()], 10).await.unwrap(),
        pairs(&[("b", 2), ("c", 1), ("d", 1)])
    );
    assert_eq!(
        store.co_purchased(vec!["a".into()], 1).await.unwrap(),
        pairs(&[("b", 2)])
    );
    assert_eq!(
        store
            .co_purchased(vec!["b".into(), "c".into(), "b".into()], 10)
            .await
            .unwrap(),
        pairs(&[("a", 3), ("d", 1)])
    );
    assert_eq!(
        store.customer_products("c1", 10).await.unwrap(),
        vec!["a".to_string(), "b".to_string()]
    );
    assert_eq!(
        store.customer_products("c2", 2).await.unwrap(),
        vec!["a".to_string(), "c".to_string()]
    );
    assert!(store.customer_products("z", 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn memory_store_conforms() {
    conformance(MemoryRecommenderStore::new()).await;
}

#[tokio::test]
async fn sqlite_store_conforms() {
    conformance(SqliteRecommenderStore::open_in_memory().unwrap()).await;
}

#[tokio::test]
async fn sqlite_store_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recommender.db");
    conformance(SqliteRecommenderStore::open(&path).unwrap()).await;
    let store = SqliteRecommenderStore::open(&path).unwrap();
    assert_eq!(store.popular(1).await.unwrap(), pairs(&[("c", 5)]));
    assert!(
        !store
            .apply_order("e2", delta(None, &[("q", 1)]))
            .await
            .unwrap()
    );
}

mod cassandra {
    use std::time::Duration;

    use scylla::statement::Statement;
    use shop_recommender::store::{RecommenderStore, cassandra::CassandraRecommenderStore};
    use shop_store::cassandra::CassandraSettings;

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
        F: FnOnce(String, CassandraRecommenderStore) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        // `recommender_` + 32 hex chars: a valid unquoted CQL identifier.
        let keyspace = format!("recommender_{}", shop_kernel::ids::new_id());
        let store = CassandraRecommenderStore::connect(settings(nodes, &keyspace))
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
            super::conformance(store).await;
            // Another connection to the same keyspace sees the projection; processed events stay processed.
            let again = CassandraRecommenderStore::connect(settings(&nodes2, &keyspace))
                .await
                .unwrap();
            assert_eq!(again.popular(1).await.unwrap(), super::pairs(&[("c", 5)]));
            assert!(
                !again
                    .apply_order("e2", super::delta(None, &[("q", 1)]))
                    .await
                    .unwrap()
            );
        })
        .await;
    }

    /// The same events delivered many times, concurrently: each counted once, reported new once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cassandra_concurrent_redeliveries_count_once() {
        let Some(nodes) = shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA") else {
            return;
        };
        with_keyspace(&nodes, |_, store| async move {
            let deliveries = (0..24).map(|i| {
                let store = store.clone();
                async move {
                    let event = format!("ev{}", i % 6);
                    store
                        .apply_order(&event, super::delta(Some("c1"), &[("a", 1), ("b", 2)]))
                        .await
                        .unwrap()
                }
            });
            let fresh = futures::future::join_all(deliveries).await;
            assert_eq!(
                fresh.iter().filter(|f| **f).count(),
                6,
                "one `true` per event"
            );
            assert_eq!(
                store.popular(10).await.unwrap(),
                super::pairs(&[("b", 12), ("a", 6)])
            );
            assert_eq!(
                store.co_purchased(vec!["a".into()], 10).await.unwrap(),
                super::pairs(&[("b", 6)])
            );
        })
        .await;
    }
}
