//! What each projector does with one delivery: decode the Thrift payload (this module is the crate's only
//! edge to `shop_idl` types), read the state it keeps, skip what it has already applied, write the new rows.
use std::collections::BTreeMap;

use shop_bus::Delivery;
use shop_idl::events as wire;

use crate::{
    model::{
        CartState, OrderState, Projector, Purchase, Source, StockLevel, cart_status,
        financial_status, order_status,
    },
    store::{ProjectionStore, StoreError},
};

/// What applying a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The read model changed.
    Applied,
    /// Already applied before (a redelivery or a republished copy): nothing changed.
    Duplicate,
    /// Not for this projector, or undecodable (logged): nothing changed.
    Ignored,
}

/// Applies `delivery` to `projector`'s read model, as generation `generation` of the projector.
///
/// A row written by an older generation counts as absent (a replica of the old generation wrote it after
/// the rebuild's wipe); finding a row of a newer generation is an error: this projector was rebuilt elsewhere
/// and must restart with the new generation (the runner notices within seconds).
pub async fn apply<S: ProjectionStore>(
    store: &S,
    projector: Projector,
    generation: u64,
    delivery: &Delivery,
) -> Result<Outcome, StoreError> {
    match projector {
        Projector::OrderHistory => apply_order(store, generation, delivery).await,
        Projector::Stock => apply_stock(store, generation, delivery).await,
        Projector::Popularity => apply_popularity(store, generation, delivery).await,
        Projector::Carts => apply_cart(store, generation, delivery).await,
    }
}

/// The error of a projector that finds rows of a newer generation than its own.
pub fn stale_generation(projector: Projector, mine: u64, found: u64) -> StoreError {
    StoreError::Backend(format!(
        "projector {projector} runs generation {mine} but the store holds generation {found}: it was rebuilt"
    ))
}

/// The state to build on: `None` when absent or written by an older generation.
fn current<T>(
    projector: Projector,
    generation: u64,
    row: Option<T>,
    generation_of: impl Fn(&T) -> u64,
) -> Result<Option<T>, StoreError> {
    match row {
        Some(r) if generation_of(&r) > generation => {
            Err(stale_generation(projector, generation, generation_of(&r)))
        }
        Some(r) if generation_of(&r) == generation => Ok(Some(r)),
        _ => Ok(None),
    }
}

fn decode<T: pilota::thrift::Message>(projector: Projector, d: &Delivery) -> Option<T> {
    match shop_idl::decode_event::<T>(d.message.payload.clone()) {
        Ok(e) => Some(e),
        Err(e) => {
            tracing::warn!(%projector, topic = %d.message.topic, partition = d.partition, offset = d.offset,
                event_id = %d.message.event_id, error = %e, "skipping an undecodable event");
            None
        }
    }
}

fn stream_suffix<'a>(key: &'a str, prefix: &str) -> &'a str {
    key.strip_prefix(prefix).unwrap_or(key)
}

// ---------------------------------------------------------------------------------------------------------
// Order history.

async fn apply_order<S: ProjectionStore>(
    store: &S,
    generation: u64,
    d: &Delivery,
) -> Result<Outcome, StoreError> {
    let Some(event) = decode::<wire::OrderEvent>(Projector::OrderHistory, d) else {
        return Ok(Outcome::Ignored);
    };
    let m = &d.message;
    let order_id = match &event {
        wire::OrderEvent::Created(c) if !c.order_id.is_empty() => c.order_id.to_string(),
        wire::OrderEvent::Placed(p) if !p.order_id.is_empty() => p.order_id.to_string(),
        _ => stream_suffix(&m.key, "order-").to_string(),
    };
    let prev = current(
        Projector::OrderHistory,
        generation,
        store.order_state(&order_id).await?,
        |s| s.generation,
    )?;
    if prev.as_ref().is_some_and(|s| s.seq >= m.seq) {
        return Ok(Outcome::Duplicate);
    }
    let mut next = next_order(prev, order_id, &event, m.seq, m.occurred_at_ms);
    next.generation = generation;
    store.save_order(&next).await?;
    Ok(Outcome::Applied)
}

/// The order state after `event` (pure).
pub fn next_order(
    prev: Option<OrderState>,
    order_id: String,
    event: &wire::OrderEvent,
    seq: u64,
    at_ms: i64,
) -> OrderState {
    let mut s = prev.unwrap_or_else(|| OrderState {
        order_id,
        customer_id: None,
        number: 0,
        status: order_status::PENDING.into(),
        financial_status: financial_status::PENDING.into(),
        currency: String::new(),
        total_minor: None,
        created_at_ms: at_ms,
        placed_at_ms: None,
        updated_at_ms: at_ms,
        seq: 0,
        generation: 0,
    });
    s.seq = seq;
    s.updated_at_ms = at_ms;
    match event {
        wire::OrderEvent::Created(c) => {
            s.number = c.number;
            s.customer_id = c.customer_id.as_ref().map(|c| c.to_string());
            s.currency = c.currency.to_string();
            s.created_at_ms = at_ms;
        }
        wire::OrderEvent::PaymentAuthorized(_) => {
            s.financial_status = financial_status::AUTHORIZED.into()
        }
        wire::OrderEvent::PaymentCaptured(_) => s.financial_status = financial_status::PAID.into(),
        wire::OrderEvent::Placed(p) => {
            s.status = order_status::PAID.into();
            s.financial_status = financial_status::PAID.into();
            if let Some(c) = &p.customer_id {
                s.customer_id = Some(c.to_string());
            }
            s.total_minor = Some(p.total.amount_minor);
            s.currency = p.total.currency.to_string();
            s.placed_at_ms = Some(at_ms);
        }
        wire::OrderEvent::Failed(_) => s.status = order_status::FAILED.into(),
        wire::OrderEvent::Cancelled(_) => s.status = order_status::CANCELLED.into(),
        wire::OrderEvent::Fulfilled(_) => s.status = order_status::FULFILLED.into(),
        wire::OrderEvent::PaymentRefunded(_) => {
            s.financial_status = if s.financial_status == financial_status::PAID {
                financial_status::REFUNDED.into()
            } else {
                financial_status::VOIDED.into()
            }
        }
        wire::OrderEvent::StockReserved(_) | wire::OrderEvent::StockReturned(_) => {}
    }
    s
}

// ---------------------------------------------------------------------------------------------------------
// Stock.

async fn apply_stock<S: ProjectionStore>(
    store: &S,
    generation: u64,
    d: &Delivery,
) -> Result<Outcome, StoreError> {
    let Some(event) = decode::<wire::InventoryEvent>(Projector::Stock, d) else {
        return Ok(Outcome::Ignored);
    };
    let m = &d.message;
    let variant_id = match &event {
        wire::InventoryEvent::Adjusted(e) => e.variant_id.to_string(),
        wire::InventoryEvent::Reserved(e) => e.variant_id.to_string(),
        wire::InventoryEvent::Released(e) => e.variant_id.to_string(),
        wire::InventoryEvent::Committed(e) => e.variant_id.to_string(),
        wire::InventoryEvent::Returned(e) => e.variant_id.to_string(),
    };
    let variant_id = if variant_id.is_empty() {
        stream_suffix(&m.key, "stock-").to_string()
    } else {
        variant_id
    };
    let prev = current(
        Projector::Stock,
        generation,
        store.stock(&variant_id).await?,
        |s| s.generation,
    )?;
    if prev.as_ref().is_some_and(|s| s.seq >= m.seq) {
        return Ok(Outcome::Duplicate);
    }
    let mut next = next_stock(prev, variant_id, &event, m.seq, m.occurred_at_ms);
    next.generation = generation;
    store.save_stock(&next).await?;
    Ok(Outcome::Applied)
}

/// The stock after `event` (pure; the same arithmetic as the inventory aggregate).
pub fn next_stock(
    prev: Option<StockLevel>,
    variant_id: String,
    event: &wire::InventoryEvent,
    seq: u64,
    at_ms: i64,
) -> StockLevel {
    let mut s = prev.unwrap_or(StockLevel {
        variant_id,
        on_hand: 0,
        reserved: 0,
        updated_at_ms: at_ms,
        seq: 0,
        generation: 0,
    });
    s.seq = seq;
    s.updated_at_ms = at_ms;
    match event {
        wire::InventoryEvent::Adjusted(e) => s.on_hand = s.on_hand.saturating_add(e.delta),
        wire::InventoryEvent::Reserved(e) => s.reserved = s.reserved.saturating_add(e.quantity),
        wire::InventoryEvent::Released(e) => s.reserved = s.reserved.saturating_sub(e.quantity),
        wire::InventoryEvent::Committed(e) => {
            s.reserved = s.reserved.saturating_sub(e.quantity);
            s.on_hand = s.on_hand.saturating_sub(e.quantity);
        }
        wire::InventoryEvent::Returned(e) => s.on_hand = s.on_hand.saturating_add(e.quantity),
    }
    s
}

// ---------------------------------------------------------------------------------------------------------
// Carts.

async fn apply_cart<S: ProjectionStore>(
    store: &S,
    generation: u64,
    d: &Delivery,
) -> Result<Outcome, StoreError> {
    let Some(event) = decode::<wire::CartEvent>(Projector::Carts, d) else {
        return Ok(Outcome::Ignored);
    };
    let m = &d.message;
    let cart_id = match &event {
        wire::CartEvent::Created(c) if !c.cart_id.is_empty() => c.cart_id.to_string(),
        _ => stream_suffix(&m.key, "cart-").to_string(),
    };
    let prev = current(
        Projector::Carts,
        generation,
        store.cart_state(&cart_id).await?,
        |s| s.generation,
    )?;
    if prev.as_ref().is_some_and(|s| s.seq >= m.seq) {
        return Ok(Outcome::Duplicate);
    }
    let previous_owner = prev.as_ref().and_then(|s| s.owner().map(str::to_string));
    let mut next = next_cart(prev, cart_id, &event, m.seq, m.occurred_at_ms);
    next.generation = generation;
    store.save_cart(&next, previous_owner.as_deref()).await?;
    Ok(Outcome::Applied)
}

/// The cart state after `event` (pure).
pub fn next_cart(
    prev: Option<CartState>,
    cart_id: String,
    event: &wire::CartEvent,
    seq: u64,
    at_ms: i64,
) -> CartState {
    let mut s = prev.unwrap_or_else(|| CartState {
        cart_id,
        created_by: None,
        buyer_customer_id: None,
        status: cart_status::OPEN.into(),
        currency: String::new(),
        lines: BTreeMap::new(),
        order_id: None,
        created_at_ms: at_ms,
        updated_at_ms: at_ms,
        seq: 0,
        generation: 0,
    });
    s.seq = seq;
    s.updated_at_ms = at_ms;
    match event {
        wire::CartEvent::Created(c) => {
            s.created_by = c.customer_id.as_ref().map(|c| c.to_string());
            s.currency = c.currency.to_string();
            s.created_at_ms = at_ms;
        }
        wire::CartEvent::LineAdded(l) => {
            if s.lines.is_empty() {
                s.currency = l.line.unit_price.currency.to_string();
            }
            s.lines.insert(l.line.line_id.to_string(), l.line.quantity);
        }
        wire::CartEvent::LineUpdated(l) => {
            if let Some(q) = s.lines.get_mut(l.line.line_id.as_str()) {
                *q = l.line.quantity;
            }
        }
        wire::CartEvent::LineRemoved(l) => {
            s.lines.remove(l.line_id.as_str());
        }
        wire::CartEvent::BuyerIdentityUpdated(b) => {
            s.buyer_customer_id = b.customer_id.as_ref().map(|c| c.to_string());
        }
        wire::CartEvent::CheckoutStarted(c) => {
            s.status = cart_status::CHECKING_OUT.into();
            s.order_id = Some(c.order_id.to_string());
        }
        wire::CartEvent::Purchased(c) => {
            s.status = cart_status::PURCHASED.into();
            s.order_id = Some(c.order_id.to_string());
        }
        wire::CartEvent::CheckoutAborted(_) => {
            s.status = cart_status::OPEN.into();
            s.order_id = None;
        }
        wire::CartEvent::Adopted(a) => {
            s.created_by = Some(a.customer_id.to_string());
        }
        // A merged guest cart is closed; like the cart service, no customer lists it.
        wire::CartEvent::Merged(_) => {
            s.status = cart_status::MERGED.into();
        }
        wire::CartEvent::NoteUpdated(_)
        | wire::CartEvent::AttributesUpdated(_)
        | wire::CartEvent::DiscountCodesUpdated(_)
        | wire::CartEvent::LinesMerged(_) => {}
    }
    s
}

// ---------------------------------------------------------------------------------------------------------
// Popularity.

async fn apply_popularity<S: ProjectionStore>(
    store: &S,
    generation: u64,
    d: &Delivery,
) -> Result<Outcome, StoreError> {
    // Only `order.placed.v1` counts; don't decode the rest.
    if d.message.event_type != "order.placed.v1" {
        return Ok(Outcome::Ignored);
    }
    let Some(wire::OrderEvent::Placed(placed)) =
        decode::<wire::OrderEvent>(Projector::Popularity, d)
    else {
        return Ok(Outcome::Ignored);
    };
    let Some(purchase) = purchase_of(&d.message.key, &placed) else {
        return Ok(Outcome::Ignored);
    };
    let source = Source {
        generation,
        partition: d.partition,
        offset: d.offset,
    };
    Ok(if store.record_purchase(source, &purchase).await? {
        Outcome::Applied
    } else {
        Outcome::Duplicate
    })
}

/// The products of a placed order (units per product); `None` without any.
pub fn purchase_of(stream_key: &str, placed: &wire::OrderPlaced) -> Option<Purchase> {
    let order_id = if placed.order_id.is_empty() {
        stream_suffix(stream_key, "order-").to_string()
    } else {
        placed.order_id.to_string()
    };
    let mut products: BTreeMap<String, i64> = BTreeMap::new();
    for l in placed.lines.iter().filter(|l| !l.product_id.is_empty()) {
        let units = products.entry(l.product_id.to_string()).or_default();
        *units = units.saturating_add(l.quantity.max(0));
    }
    (!products.is_empty()).then_some(Purchase { order_id, products })
}
