//! Event contracts at the edge: the order service's `order.placed.v1` (the recommender emits no events).
use shop_idl::events::OrderEvent;

use crate::domain::{OrderedLine, PlacedOrder};

/// Topic of order events.
pub const ORDER_TOPIC: &str = "shop.order.v1";
/// Type of the event of a placed (paid) order.
pub const ORDER_PLACED: &str = "order.placed.v1";

/// The placed order, if `event_type`/`payload` is one; `None` for other order events.
/// An undecodable `order.placed.v1` payload is an error (the caller logs and skips it).
pub fn decode_order_placed(
    event_type: &str,
    payload: bytes::Bytes,
) -> Result<Option<PlacedOrder>, String> {
    if event_type != ORDER_PLACED {
        return Ok(None);
    }
    match shop_idl::decode_event::<OrderEvent>(payload) {
        Ok(OrderEvent::Placed(p)) => Ok(Some(PlacedOrder {
            order_id: p.order_id.to_string(),
            customer_id: p.customer_id.map(|c| c.to_string()),
            lines: p
                .lines
                .into_iter()
                .map(|l| OrderedLine {
                    product_id: l.product_id.to_string(),
                    quantity: l.quantity,
                })
                .collect(),
        })),
        Ok(_) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}
