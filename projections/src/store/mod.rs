//! The projection store port ([`ProjectionStore`]) and its adapters: [`memory::MemoryProjectionStore`] (tests,
//! all-in-one) and [`cassandra::CassandraProjectionStore`] (Cassandra 5 / ScyllaDB). Both pass
//! [`crate::conformance`].
//!
//! # Write semantics every adapter must honour
//!
//! Writes of per-stream rows carry a *version* (the stream seq of the event that produced them) and resolve
//! last-write-wins by that version, like Cassandra cells written `USING TIMESTAMP <version>`: a write or a
//! delete with a lower version than what a row already holds changes nothing, and a delete beats a write of
//! the same version. So a slow or stale writer (a consumer-group member that lost its partition but has not
//! noticed yet) can never move a row backwards, and writing the same row twice is harmless.
//!
//! Purchases are applied to per-product tallies *once per order*, guarded per tally row by the source
//! position (see [`ProjectionStore::record_purchase`]).
pub mod cassandra;
pub mod memory;

use std::future::Future;

pub use shop_store::StoreError;

use crate::model::{
    CartState, CartSummary, CoPurchase, OrderState, OrderSummary, Position, ProductPopularity,
    Projector, Purchase, Source, StockLevel,
};

/// Storage of the read models, the projectors' states and positions.
pub trait ProjectionStore: Clone + Send + Sync + 'static {
    // ----- bookkeeping

    /// The current generation of `projector` (a durable store starts at 0; the memory store at a clock value,
    /// see [`memory::MemoryProjectionStore::new`]). The projector consumes with a
    /// consumer group named after it, so a rebuild (a new generation) starts from the earliest offsets.
    fn generation(
        &self,
        projector: Projector,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Wipes every table of `projector` and its positions, and moves it to the next generation, which it
    /// returns. The projector must not be running (the runner stops it first).
    fn reset(&self, projector: Projector) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Positions of `projector` in `generation`, per topic and partition.
    fn positions(
        &self,
        projector: Projector,
        generation: u64,
    ) -> impl Future<Output = Result<Vec<Position>, StoreError>> + Send;

    /// Records that `projector` (in `generation`) applied everything up to `position`. Never moves a
    /// position backwards.
    fn save_position(
        &self,
        projector: Projector,
        generation: u64,
        position: &Position,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    // ----- order history

    /// The projector's state of an order.
    fn order_state(
        &self,
        order_id: &str,
    ) -> impl Future<Output = Result<Option<OrderState>, StoreError>> + Send;

    /// Writes the order's history row (when it has one: [`OrderState::summary`]) and its state, both at
    /// version `state.seq`, atomically (the state never lands without its history row).
    fn save_order(&self, state: &OrderState)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A customer's orders, newest first, at most `limit`.
    fn order_history(
        &self,
        customer_id: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<OrderSummary>, StoreError>> + Send;

    // ----- stock

    /// The stock of a variant.
    fn stock(
        &self,
        variant_id: &str,
    ) -> impl Future<Output = Result<Option<StockLevel>, StoreError>> + Send;

    /// Writes a variant's stock at version `level.seq`.
    fn save_stock(&self, level: &StockLevel)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The stock of several variants (unknown ones omitted), in the order asked.
    fn stock_levels(
        &self,
        variant_ids: &[String],
    ) -> impl Future<Output = Result<Vec<StockLevel>, StoreError>> + Send;

    // ----- carts

    /// The projector's state of a cart.
    fn cart_state(
        &self,
        cart_id: &str,
    ) -> impl Future<Output = Result<Option<CartState>, StoreError>> + Send;

    /// Writes a cart at version `state.seq`, atomically: removes its row from `previous_owner`'s list when
    /// the owner changed, writes the row under the current owner (if any), and the state.
    fn save_cart(
        &self,
        state: &CartState,
        previous_owner: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A customer's carts, newest first.
    fn carts_by_owner(
        &self,
        customer_id: &str,
    ) -> impl Future<Output = Result<Vec<CartSummary>, StoreError>> + Send;

    // ----- popularity and co-purchase

    /// Counts a placed order once: for each product, `orders + 1` and `units + n`, and for each ordered pair
    /// of distinct products `(a, b)`, `co(a, b) + 1`. Returns `false` (changing nothing) when the order was
    /// counted before.
    ///
    /// Exactly once: tallies are kept per source partition, and each tally row remembers the offset of the
    /// last purchase it counted, so a redelivery of the same message (a crash after some rows were written)
    /// skips the rows already done; after every row, a marker for the order is written, so a *copy* of the
    /// event at another offset (the outbox publishes at least once) is recognised and skipped.
    fn record_purchase(
        &self,
        source: Source,
        purchase: &Purchase,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Popularity of a product (zeros when never bought).
    fn popularity(
        &self,
        product_id: &str,
    ) -> impl Future<Output = Result<ProductPopularity, StoreError>> + Send;

    /// The most bought products (by orders, then units). Reads every tally: for periodic refreshes (the
    /// recommender caches it), not per request.
    fn top_products(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ProductPopularity>, StoreError>> + Send;

    /// The products most often bought together with `product_id`.
    fn co_purchased(
        &self,
        product_id: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<CoPurchase>, StoreError>> + Send;
}

/// A projection store chosen at run time.
#[derive(Clone)]
pub enum AnyProjectionStore {
    Memory(memory::MemoryProjectionStore),
    Cassandra(cassandra::CassandraProjectionStore),
}

impl AnyProjectionStore {
    /// An empty in-memory store (tests, the all-in-one shop).
    pub fn memory() -> Self {
        Self::Memory(memory::MemoryProjectionStore::new())
    }

    /// Connects to (creating and migrating) the keyspace of `settings`.
    pub async fn cassandra(settings: cassandra::CassandraSettings) -> Result<Self, StoreError> {
        Ok(Self::Cassandra(
            cassandra::CassandraProjectionStore::connect(settings).await?,
        ))
    }
}

macro_rules! delegate {
    ($self:expr, $s:ident => $call:expr) => {
        match $self {
            AnyProjectionStore::Memory($s) => $call,
            AnyProjectionStore::Cassandra($s) => $call,
        }
    };
}

impl ProjectionStore for AnyProjectionStore {
    async fn generation(&self, projector: Projector) -> Result<u64, StoreError> {
        delegate!(self, s => s.generation(projector).await)
    }
    async fn reset(&self, projector: Projector) -> Result<u64, StoreError> {
        delegate!(self, s => s.reset(projector).await)
    }
    async fn positions(
        &self,
        projector: Projector,
        generation: u64,
    ) -> Result<Vec<Position>, StoreError> {
        delegate!(self, s => s.positions(projector, generation).await)
    }
    async fn save_position(
        &self,
        projector: Projector,
        generation: u64,
        position: &Position,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.save_position(projector, generation, position).await)
    }
    async fn order_state(&self, order_id: &str) -> Result<Option<OrderState>, StoreError> {
        delegate!(self, s => s.order_state(order_id).await)
    }
    async fn save_order(&self, state: &OrderState) -> Result<(), StoreError> {
        delegate!(self, s => s.save_order(state).await)
    }
    async fn order_history(
        &self,
        customer_id: &str,
        limit: usize,
    ) -> Result<Vec<OrderSummary>, StoreError> {
        delegate!(self, s => s.order_history(customer_id, limit).await)
    }
    async fn stock(&self, variant_id: &str) -> Result<Option<StockLevel>, StoreError> {
        delegate!(self, s => s.stock(variant_id).await)
    }
    async fn save_stock(&self, level: &StockLevel) -> Result<(), StoreError> {
        delegate!(self, s => s.save_stock(level).await)
    }
    async fn stock_levels(&self, variant_ids: &[String]) -> Result<Vec<StockLevel>, StoreError> {
        delegate!(self, s => s.stock_levels(variant_ids).await)
    }
    async fn cart_state(&self, cart_id: &str) -> Result<Option<CartState>, StoreError> {
        delegate!(self, s => s.cart_state(cart_id).await)
    }
    async fn save_cart(
        &self,
        state: &CartState,
        previous_owner: Option<&str>,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.save_cart(state, previous_owner).await)
    }
    async fn carts_by_owner(&self, customer_id: &str) -> Result<Vec<CartSummary>, StoreError> {
        delegate!(self, s => s.carts_by_owner(customer_id).await)
    }
    async fn record_purchase(
        &self,
        source: Source,
        purchase: &Purchase,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.record_purchase(source, purchase).await)
    }
    async fn popularity(&self, product_id: &str) -> Result<ProductPopularity, StoreError> {
        delegate!(self, s => s.popularity(product_id).await)
    }
    async fn top_products(&self, limit: usize) -> Result<Vec<ProductPopularity>, StoreError> {
        delegate!(self, s => s.top_products(limit).await)
    }
    async fn co_purchased(
        &self,
        product_id: &str,
        limit: usize,
    ) -> Result<Vec<CoPurchase>, StoreError> {
        delegate!(self, s => s.co_purchased(product_id, limit).await)
    }
}
