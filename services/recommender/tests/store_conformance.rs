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
