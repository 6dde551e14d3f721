//! Both adapters of the service's store pass the same event store conformance suite.
use shop_inventory::store;
use shop_rpc::Storage;

#[tokio::test]
async fn memory_store_conforms() {
    shop_store::conformance::run_all(store::open(&Storage::Memory, "inventory").await.unwrap())
        .await;
}

#[tokio::test]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let s = store::open(&Storage::Sqlite(dir.path().to_path_buf()), "inventory")
        .await
        .unwrap();
    shop_store::conformance::run_all(s).await;
    assert!(dir.path().join("inventory.db").exists());
}
