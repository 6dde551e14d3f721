//! [`TimedRecommenderStore`]: the recommender store with every operation timed into
//! `thriftshop_store_operation_duration_seconds` (`operation` = the port's method name).
use shop_store::{StoreError, timed::StoreTimer};

use super::RecommenderStore;
use crate::domain::OrderDelta;

/// A [`RecommenderStore`] decorator reporting each operation's latency to a [`StoreTimer`].
#[derive(Debug, Clone)]
pub struct TimedRecommenderStore<S> {
    inner: S,
    timer: StoreTimer,
}

impl<S> TimedRecommenderStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, timer: StoreTimer) -> Self {
        Self { inner, timer }
    }
}

impl<S: RecommenderStore> RecommenderStore for TimedRecommenderStore<S> {
    async fn apply_order(&self, event_id: &str, delta: OrderDelta) -> Result<bool, StoreError> {
        let f = self.inner.apply_order(event_id, delta);
        self.timer.time("apply_order", f).await
    }

    async fn co_purchased(
        &self,
        product_ids: Vec<String>,
        limit: usize,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let f = self.inner.co_purchased(product_ids, limit);
        self.timer.time("co_purchased", f).await
    }

    async fn popular(&self, limit: usize) -> Result<Vec<(String, i64)>, StoreError> {
        self.timer.time("popular", self.inner.popular(limit)).await
    }

    async fn customer_products(
        &self,
        customer_id: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let f = self.inner.customer_products(customer_id, limit);
        self.timer.time("customer_products", f).await
    }
}
