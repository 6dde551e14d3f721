//! Event contracts at the edge: the catalog's `catalog.product_published.v1` (out) and the order service's
//! `order.placed.v1` (in, for the best-selling projection).
use shop_idl::events::{CatalogEvent, OrderEvent, ProductPublished};
use shop_store::NewEvent;

use crate::{
    domain::{Product, SoldLine},
    store::StreamEvent,
};

/// Topic of catalog events.
pub const CATALOG_TOPIC: &str = "shop.catalog.v1";
/// Type of the event announcing a product.
pub const PRODUCT_PUBLISHED: &str = "catalog.product_published.v1";
/// Topic of order events.
pub const ORDER_TOPIC: &str = "shop.order.v1";
/// Type of the event of a placed (paid) order.
pub const ORDER_PLACED: &str = "order.placed.v1";

/// The `product_published` event of `product`, on the product's stream.
pub fn product_published(product: &Product, occurred_at_ms: i64) -> StreamEvent {
    let union = CatalogEvent::ProductPublished(ProductPublished {
        product_id: product.id.clone().into(),
        handle: product.handle.clone().into(),
        variant_ids: product
            .variant_ids
            .iter()
            .map(|v| v.clone().into())
            .collect(),
    });
    StreamEvent {
        stream: product.id.clone(),
        event: NewEvent {
            event_id: shop_kernel::ids::new_id(),
            event_type: PRODUCT_PUBLISHED.to_string(),
            topic: CATALOG_TOPIC.to_string(),
            occurred_at_ms,
            traceparent: shop_rpc::shop_telemetry::traceparent(),
            payload: shop_idl::encode_event(&union),
        },
    }
}

/// The lines of a placed order, if `event_type`/`payload` is one; `None` for other order events.
/// An undecodable `order.placed.v1` payload is an error (the caller logs and skips it).
pub fn decode_order_placed(
    event_type: &str,
    payload: bytes::Bytes,
) -> Result<Option<Vec<SoldLine>>, String> {
    if event_type != ORDER_PLACED {
        return Ok(None);
    }
    match shop_idl::decode_event::<OrderEvent>(payload) {
        Ok(OrderEvent::Placed(p)) => Ok(Some(
            p.lines
                .into_iter()
                .map(|l| SoldLine {
                    product_id: l.product_id.to_string(),
                    quantity: l.quantity,
                })
                .collect(),
        )),
        Ok(_) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use shop_idl::{
        common::Money,
        events::{OrderLineSnapshot, OrderPlaced},
    };

    use super::*;

    #[test]
    fn order_placed_round_trip() {
        let ev = OrderEvent::Placed(OrderPlaced {
            order_id: "o1".into(),
            customer_id: None,
            lines: vec![OrderLineSnapshot {
                line_id: "l1".into(),
                variant_id: "v1".into(),
                product_id: "p1".into(),
                title: "T".into(),
                sku: "S".into(),
                quantity: 3,
                unit_price: Money {
                    amount_minor: 100,
                    currency: "USD".into(),
                },
            }],
            total: Money {
                amount_minor: 300,
                currency: "USD".into(),
            },
        });
        let bytes = shop_idl::encode_event(&ev);
        let lines = decode_order_placed(ORDER_PLACED, bytes.clone())
            .unwrap()
            .unwrap();
        assert_eq!(
            lines,
            vec![SoldLine {
                product_id: "p1".into(),
                quantity: 3
            }]
        );
        assert_eq!(
            decode_order_placed("order.created.v1", bytes::Bytes::new()).unwrap(),
            None
        );
        assert!(decode_order_placed(ORDER_PLACED, bytes.slice(..bytes.len() / 2)).is_err());
    }
}
