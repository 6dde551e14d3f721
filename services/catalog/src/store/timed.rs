//! [`TimedCatalogStore`]: the catalog store with every operation timed into
//! `thriftshop_store_operation_duration_seconds` (`operation` = the port's method name).
use shop_store::{StoreError, timed::StoreTimer};

use super::{CatalogStore, ProductWrite, StreamEvent, WriteError};
use crate::domain::{CatalogData, Product, Variant};

/// A [`CatalogStore`] decorator reporting each operation's latency to a [`StoreTimer`].
#[derive(Debug, Clone)]
pub struct TimedCatalogStore<S> {
    inner: S,
    timer: StoreTimer,
}

impl<S> TimedCatalogStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, timer: StoreTimer) -> Self {
        Self { inner, timer }
    }
}

impl<S: CatalogStore> CatalogStore for TimedCatalogStore<S> {
    async fn load(&self) -> Result<CatalogData, StoreError> {
        self.timer.time("load", self.inner.load()).await
    }

    async fn seed_if_empty(
        &self,
        data: CatalogData,
        events: Vec<StreamEvent>,
    ) -> Result<bool, StoreError> {
        let f = self.inner.seed_if_empty(data, events);
        self.timer.time("seed_if_empty", f).await
    }

    async fn record_sales(
        &self,
        event_id: &str,
        sales: Vec<(String, i64)>,
    ) -> Result<bool, StoreError> {
        let f = self.inner.record_sales(event_id, sales);
        self.timer.time("record_sales", f).await
    }

    async fn create_product(&self, write: ProductWrite) -> Result<(), WriteError> {
        let f = self.inner.create_product(write);
        self.timer.time("create_product", f).await
    }

    async fn update_product(
        &self,
        expected_version: i64,
        write: ProductWrite,
    ) -> Result<(), WriteError> {
        let f = self.inner.update_product(expected_version, write);
        self.timer.time("update_product", f).await
    }

    async fn load_product(&self, id: &str) -> Result<Option<(Product, Vec<Variant>)>, StoreError> {
        self.timer
            .time("load_product", self.inner.load_product(id))
            .await
    }
}
