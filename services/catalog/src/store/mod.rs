//! The catalog's storage port and its adapters ([`sqlite::SqliteCatalogStore`],
//! [`cassandra::CassandraCatalogStore`], [`memory::MemoryCatalogStore`]).
//!
//! The store is the source of truth; reads are served from the in-memory [`crate::domain::Catalog`] index,
//! loaded once at start and updated after each successful write.

pub mod cassandra;
pub mod memory;
pub mod sqlite;

use std::future::Future;

use shop_store::{NewEvent, StoreError};

use crate::domain::CatalogData;

/// An event to append to a stream, in the same transaction as a state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEvent {
    pub stream: String,
    pub event: NewEvent,
}

/// Durable catalog state: products, variants, collections, and the best-selling projection.
pub trait CatalogStore: Send + Sync + 'static {
    /// Everything, in stored order (collections and products in insertion order, units sold by product id).
    fn load(&self) -> impl Future<Output = Result<CatalogData, StoreError>> + Send;

    /// If the catalog holds no product yet, stores `data` and appends `events`, all in one transaction, and
    /// returns `true`; otherwise changes nothing and returns `false`.
    fn seed_if_empty(
        &self,
        data: CatalogData,
        events: Vec<StreamEvent>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Adds `sales` (product id, units) to the units sold, once per `event_id`: returns `false` (and changes
    /// nothing) when that event was already processed. Marking and counting are one transaction.
    fn record_sales(
        &self,
        event_id: &str,
        sales: Vec<(String, i64)>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
