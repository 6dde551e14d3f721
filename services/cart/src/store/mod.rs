//! Storage of the cart service: the generic [`shop_store::EventStore`] (the service is event-sourced and
//! keeps no state tables), with the adapter chosen by configuration.

use shop_rpc::Storage;
use shop_store::StoreError;
pub use shop_store::any::AnyEventStore;

/// Opens the store for `storage`; `name` is the database file stem (or keyspace suffix).
pub async fn open(storage: &Storage, name: &str) -> Result<AnyEventStore, StoreError> {
    storage.open_event_store(name).await
}

/// The store of [`open_observed`]: every operation timed into `thriftshop_store_operation_duration_seconds`.
pub type ObservedEventStore = shop_store::timed::TimedEventStore<AnyEventStore>;

/// Opens the store like [`open`] and records the latency of every operation as
/// `store_operation(name, operation, elapsed)` (`store` label = the service's store name).
pub async fn open_observed(
    storage: &Storage,
    name: &'static str,
    metrics: &shop_rpc::shop_telemetry::Metrics,
) -> Result<ObservedEventStore, StoreError> {
    let metrics = metrics.clone();
    Ok(shop_store::timed::TimedEventStore::new(
        open(storage, name).await?,
        move |op, elapsed| metrics.store_operation(name, op, elapsed),
    ))
}
