//! The recommender's storage port (the co-purchase projection) and its adapters
//! ([`sqlite::SqliteRecommenderStore`], [`cassandra::CassandraRecommenderStore`],
//! [`memory::MemoryRecommenderStore`]).

pub mod cassandra;
pub mod memory;
pub mod sqlite;
pub mod timed;

use std::future::Future;

use shop_store::StoreError;

use crate::domain::OrderDelta;

/// Durable co-purchase projection: popularity, co-purchase counts, customers' purchases, processed events.
pub trait RecommenderStore: Send + Sync + 'static {
    /// Applies one order's delta once per `event_id`: returns `false` (changing nothing) if that event was
    /// already processed. Marking and applying are one transaction.
    fn apply_order(
        &self,
        event_id: &str,
        delta: OrderDelta,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Products co-purchased with any of `product_ids`, with counts summed over them, best first
    /// (count desc, then id), at most `limit`.
    fn co_purchased(
        &self,
        product_ids: Vec<String>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(String, i64)>, StoreError>> + Send;

    /// Most popular products (units desc, then id), at most `limit`.
    fn popular(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(String, i64)>, StoreError>> + Send;

    /// Distinct products the customer bought, by id, at most `limit`.
    fn customer_products(
        &self,
        customer_id: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
}
