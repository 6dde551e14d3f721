//! The same checks against both catalog store adapters.
use shop_catalog::{
    domain::demo::demo_catalog,
    events::product_published,
    store::{CatalogStore, memory::MemoryCatalogStore, sqlite::SqliteCatalogStore},
};
use shop_store::EventStore;

async fn conformance<S: CatalogStore, E: EventStore>(store: S, events: &E) {
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
    assert_eq!(published[0].stream_id, demo.products[0].id);
    assert_eq!(
        published[0].event.event_type,
        "catalog.product_published.v1"
    );
    assert_eq!(published[0].event.topic, "shop.catalog.v1");

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
    conformance(store, &events).await;
}

#[tokio::test]
async fn sqlite_store_conforms() {
    let store = SqliteCatalogStore::open_in_memory().unwrap();
    let events = store.event_store().clone();
    conformance(store, &events).await;
}

#[tokio::test]
async fn sqlite_store_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    {
        let store = SqliteCatalogStore::open(&path).unwrap();
        let events = store.event_store().clone();
        conformance(store, &events).await;
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
