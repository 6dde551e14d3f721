//! The catalog's storage port and its adapters ([`sqlite::SqliteCatalogStore`],
//! [`cassandra::CassandraCatalogStore`], [`memory::MemoryCatalogStore`]).
//!
//! The store is the source of truth; reads are served from the in-memory [`crate::domain::Catalog`] index,
//! loaded once at start and updated after each successful write.

pub mod cassandra;
pub mod memory;
pub mod sqlite;
pub mod timed;

use std::future::Future;

use shop_store::{NewEvent, StoreError};

use crate::domain::{CatalogData, Product, Variant};

/// An event to append to a stream, in the same transaction as a state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEvent {
    pub stream: String,
    pub event: NewEvent,
}

/// A product with all its variants and the events announcing the write, stored together (all or nothing).
/// The events go to the product's stream (stream id = product id); `product.version` is that stream's version
/// after the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductWrite {
    pub product: Product,
    /// Every variant of the product, in position order.
    pub variants: Vec<Variant>,
    pub events: Vec<NewEvent>,
}

/// Why the store refused a product write. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Another product has this handle.
    #[error("handle {0:?} is taken")]
    HandleTaken(String),
    /// A variant of another product has this SKU.
    #[error("SKU {0:?} is taken")]
    SkuTaken(String),
    /// The product to update does not exist.
    #[error("no such product")]
    NotFound,
    /// The product exists (create) or is no longer at the expected version (update).
    #[error("the product changed concurrently")]
    VersionConflict,
    #[error(transparent)]
    Store(#[from] StoreError),
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

    /// Stores a new product (`version` 1) and appends its events to the new stream `product.id`, in one
    /// transaction. Refused when the handle or a SKU is taken, or the product (or its stream) exists.
    fn create_product(
        &self,
        write: ProductWrite,
    ) -> impl Future<Output = Result<(), WriteError>> + Send;

    /// Replaces a product and its variants (none may be dropped) if it is still at `expected_version`, and
    /// appends the events to its stream, in one transaction; `write.product.version` is `expected_version + 1`.
    fn update_product(
        &self,
        expected_version: i64,
        write: ProductWrite,
    ) -> impl Future<Output = Result<(), WriteError>> + Send;

    /// One product with its variants (position order), as stored now.
    fn load_product(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<(Product, Vec<Variant>)>, StoreError>> + Send;
}

/// Checks a write's shape before any store touches it: variants belong to the product, version and ids agree.
pub(crate) fn check_write(write: &ProductWrite, expected_version: i64) -> Result<(), WriteError> {
    let p = &write.product;
    let ids: Vec<&str> = write.variants.iter().map(|v| v.id.as_str()).collect();
    if p.version != expected_version + 1
        || p.variant_ids
            .iter()
            .map(String::as_str)
            .ne(ids.iter().copied())
        || write.variants.iter().any(|v| v.product_id != p.id)
    {
        return Err(WriteError::Store(StoreError::Backend(format!(
            "malformed product write for {:?}",
            p.id
        ))));
    }
    Ok(())
}
