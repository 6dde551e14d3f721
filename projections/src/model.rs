//! The read models (what readers get) and the per-stream states the projectors keep to maintain them.
//!
//! Pure data: no I/O. The `apply_*` functions are the projection logic proper, shared by every store adapter.
use std::collections::BTreeMap;

/// The projectors, one consumer group each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Projector {
    /// Order history by customer (from `shop.order.v1`).
    OrderHistory,
    /// Stock availability by variant (from `shop.inventory.v1`).
    Stock,
    /// Product popularity and co-purchase counts from placed orders (from `shop.order.v1`).
    Popularity,
    /// Carts by owner (from `shop.cart.v1`).
    Carts,
}

impl Projector {
    /// Every projector, in a stable order.
    pub const ALL: [Projector; 4] = [
        Projector::OrderHistory,
        Projector::Stock,
        Projector::Popularity,
        Projector::Carts,
    ];

    /// Stable name (used in consumer group names and in the store).
    pub fn name(self) -> &'static str {
        match self {
            Projector::OrderHistory => "order_history",
            Projector::Stock => "stock",
            Projector::Popularity => "popularity",
            Projector::Carts => "carts",
        }
    }

    /// The topics it reads.
    pub fn topics(self) -> &'static [&'static str] {
        match self {
            Projector::OrderHistory | Projector::Popularity => &[ORDER_TOPIC],
            Projector::Stock => &[INVENTORY_TOPIC],
            Projector::Carts => &[CART_TOPIC],
        }
    }
}

impl std::fmt::Display for Projector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Topic of order events.
pub const ORDER_TOPIC: &str = "shop.order.v1";
/// Topic of inventory events.
pub const INVENTORY_TOPIC: &str = "shop.inventory.v1";
/// Topic of cart events.
pub const CART_TOPIC: &str = "shop.cart.v1";

/// How far a projector got in one partition of one topic: every delivery at or before `offset` is applied.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Where a delivery sits in the log (the idempotency guard of rows that aggregate many streams).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// The generation of the projector applying it.
    pub generation: u64,
    /// Partition of the source topic.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
}

/// The version of a write: rows resolve last-write-wins by `(generation, position)`, where the position is
/// the stream seq (per-stream rows) or the source offset (tallies). A newer generation (a rebuild) always
/// wins over an older one, so a replica still running the old generation after a rebuild cannot leave rows
/// behind that the rebuilt projection does not overwrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub generation: u64,
    pub position: u64,
}

impl Version {
    /// Bits of the Cassandra write timestamp that hold the position; the generation sits above them.
    pub const POSITION_BITS: u32 = 40;

    /// The Cassandra write timestamp of this version, `None` when it does not fit
    /// (generation ≥ 2^23 or position ≥ 2^40).
    pub fn timestamp(self) -> Option<i64> {
        let max_generation = 1u64 << (63 - Self::POSITION_BITS);
        if self.generation < max_generation && self.position < (1u64 << Self::POSITION_BITS) {
            Some(((self.generation << Self::POSITION_BITS) | self.position) as i64)
        } else {
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Order history.

/// Order status as customers see it (mirrors the order service's statuses).
pub mod order_status {
    pub const PENDING: &str = "PENDING";
    pub const PAID: &str = "PAID";
    pub const FAILED: &str = "FAILED";
    pub const CANCELLED: &str = "CANCELLED";
    pub const FULFILLED: &str = "FULFILLED";
}

/// Payment status of an order.
pub mod financial_status {
    pub const PENDING: &str = "PENDING";
    pub const AUTHORIZED: &str = "AUTHORIZED";
    pub const PAID: &str = "PAID";
    pub const REFUNDED: &str = "REFUNDED";
    pub const VOIDED: &str = "VOIDED";
}

/// The state the order-history projector keeps per order stream (`order-<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderState {
    pub order_id: String,
    pub customer_id: Option<String>,
    /// The shop's order number (`#1001`); 0 when the creation event was never seen.
    pub number: i64,
    pub status: String,
    pub financial_status: String,
    pub currency: String,
    /// Total in minor units, known once placed.
    pub total_minor: Option<i64>,
    pub created_at_ms: i64,
    /// When `order.placed.v1` happened.
    pub placed_at_ms: Option<i64>,
    pub updated_at_ms: i64,
    /// Seq of the last event of the stream applied (the idempotency guard).
    pub seq: u64,
    /// The projector generation that wrote it (see [`Version`]).
    pub generation: u64,
}

impl OrderState {
    /// The version its rows are written at.
    pub fn version(&self) -> Version {
        Version {
            generation: self.generation,
            position: self.seq,
        }
    }

    /// The history row of this order: placed orders of a known customer only (a checkout that never got paid
    /// is not an order the customer sees).
    pub fn summary(&self) -> Option<OrderSummary> {
        Some(OrderSummary {
            customer_id: self.customer_id.clone()?,
            order_id: self.order_id.clone(),
            number: self.number,
            status: self.status.clone(),
            financial_status: self.financial_status.clone(),
            total_minor: self.total_minor.unwrap_or(0),
            currency: self.currency.clone(),
            placed_at_ms: self.placed_at_ms?,
            updated_at_ms: self.updated_at_ms,
        })
    }
}

/// One order in a customer's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSummary {
    pub customer_id: String,
    pub order_id: String,
    pub number: i64,
    pub status: String,
    pub financial_status: String,
    pub total_minor: i64,
    pub currency: String,
    pub placed_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Sorts a history newest first (ties by order id, descending), the order both adapters return.
pub fn sort_history(rows: &mut [OrderSummary]) {
    rows.sort_by(|a, b| {
        b.placed_at_ms
            .cmp(&a.placed_at_ms)
            .then_with(|| b.order_id.cmp(&a.order_id))
    });
}

// ---------------------------------------------------------------------------------------------------------
// Stock.

/// Stock availability of one variant (the state of its `stock-<variant>` stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLevel {
    pub variant_id: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub updated_at_ms: i64,
    /// Seq of the last event of the stream applied (the idempotency guard).
    pub seq: u64,
    /// The projector generation that wrote it (see [`Version`]).
    pub generation: u64,
}

impl StockLevel {
    /// The version its row is written at.
    pub fn version(&self) -> Version {
        Version {
            generation: self.generation,
            position: self.seq,
        }
    }

    /// What can still be sold: on hand minus reserved.
    pub fn available(&self) -> i64 {
        self.on_hand.saturating_sub(self.reserved)
    }
}

// ---------------------------------------------------------------------------------------------------------
// Carts.

/// Cart status as the cart service reports it.
pub mod cart_status {
    pub const OPEN: &str = "OPEN";
    pub const CHECKING_OUT: &str = "CHECKING_OUT";
    pub const PURCHASED: &str = "PURCHASED";
    /// A guest cart merged into a customer's cart at sign-in.
    pub const MERGED: &str = "MERGED";
}

/// The state the carts projector keeps per cart stream (`cart-<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartState {
    pub cart_id: String,
    /// The customer who created the cart or adopted it at sign-in (None: a guest cart).
    pub created_by: Option<String>,
    /// The customer of the last buyer-identity update that named one.
    pub buyer_customer_id: Option<String>,
    pub status: String,
    pub currency: String,
    /// Quantity per line id.
    pub lines: BTreeMap<String, i64>,
    pub order_id: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// Seq of the last event of the stream applied (the idempotency guard).
    pub seq: u64,
    /// The projector generation that wrote it (see [`Version`]).
    pub generation: u64,
}

impl CartState {
    /// The version its rows are written at.
    pub fn version(&self) -> Version {
        Version {
            generation: self.generation,
            position: self.seq,
        }
    }

    /// Whose cart it is: the customer named by the buyer identity, else its creator.
    pub fn owner(&self) -> Option<&str> {
        self.buyer_customer_id
            .as_deref()
            .or(self.created_by.as_deref())
    }

    /// The row of this cart in its owner's list (None for a guest cart).
    pub fn summary(&self) -> Option<CartSummary> {
        Some(CartSummary {
            customer_id: self.owner()?.to_string(),
            cart_id: self.cart_id.clone(),
            status: self.status.clone(),
            currency: self.currency.clone(),
            total_quantity: self.lines.values().copied().fold(0i64, i64::saturating_add),
            order_id: self.order_id.clone(),
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
        })
    }
}

/// One cart in its owner's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartSummary {
    pub customer_id: String,
    pub cart_id: String,
    pub status: String,
    pub currency: String,
    /// Σ line quantities.
    pub total_quantity: i64,
    /// The order of a cart in checkout or purchased.
    pub order_id: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Sorts carts newest first (by creation, ties by cart id descending), the order both adapters return.
pub fn sort_carts(rows: &mut [CartSummary]) {
    rows.sort_by(|a, b| {
        b.created_at_ms
            .cmp(&a.created_at_ms)
            .then_with(|| b.cart_id.cmp(&a.cart_id))
    });
}

// ---------------------------------------------------------------------------------------------------------
// Popularity and co-purchase.

/// How often a product was bought (placed orders).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProductPopularity {
    pub product_id: String,
    /// Placed orders with at least one line of the product.
    pub orders: i64,
    /// Units sold.
    pub units: i64,
}

/// How often `other_id` was bought in the same order as the product asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoPurchase {
    pub other_id: String,
    pub orders: i64,
}

/// A placed order as the popularity projector sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    pub order_id: String,
    /// Units per product (each product once).
    pub products: BTreeMap<String, i64>,
}

/// Sorts by orders descending (ties by product id ascending).
pub fn sort_popularity(rows: &mut [ProductPopularity]) {
    rows.sort_by(|a, b| {
        b.orders
            .cmp(&a.orders)
            .then_with(|| b.units.cmp(&a.units))
            .then_with(|| a.product_id.cmp(&b.product_id))
    });
}

/// Sorts by orders descending (ties by id ascending).
pub fn sort_co_purchases(rows: &mut [CoPurchase]) {
    rows.sort_by(|a, b| {
        b.orders
            .cmp(&a.orders)
            .then_with(|| a.other_id.cmp(&b.other_id))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_order_by_generation_then_position() {
        let v = |generation, position| Version {
            generation,
            position,
        };
        assert_eq!(v(0, 1).timestamp(), Some(1));
        assert!(v(1, 0).timestamp() > v(0, (1 << 40) - 1).timestamp());
        assert!(v(2, 5).timestamp() > v(1, 999_999).timestamp());
        assert_eq!(v(0, 1 << 40).timestamp(), None);
        assert_eq!(v(1 << 23, 0).timestamp(), None);
        assert!(v((1 << 23) - 1, (1 << 40) - 1).timestamp().unwrap() > 0);
    }
}
