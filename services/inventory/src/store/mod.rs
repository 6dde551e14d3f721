//! Storage of the inventory service: the generic [`shop_store::EventStore`] (the service is event-sourced and
//! keeps no state tables), with the adapter chosen by configuration.

use shop_rpc::Storage;
use shop_store::StoreError;
pub use shop_store::any::AnyEventStore;

/// Opens the store for `storage`; `name` is the database file stem (or keyspace suffix).
pub async fn open(storage: &Storage, name: &str) -> Result<AnyEventStore, StoreError> {
    storage.open_event_store(name).await
}
