//! Conversion between domain events and the `OrderEvent` Thrift union (topic `shop.order.v1`).
use shop_idl::{common, events as wire};
use shop_kernel::{Error, Money};
use shop_store::NewEvent;

use crate::domain::{Event, Line};

/// The topic of order events.
pub const TOPIC: &str = "shop.order.v1";
/// The type of the event that records a checkout request (an order's first event); the order processor
/// runs the saga when it sees one.
pub const CHECKOUT_REQUESTED: &str = "order.checkout_requested.v1";
/// The type of the event that records a cancellation; the processor finishes its refund and restock.
pub const CANCELLED: &str = "order.cancelled.v1";

fn money_to_wire(m: &Money) -> common::Money {
    common::Money {
        amount_minor: m.amount_minor,
        currency: m.currency.clone().into(),
    }
}

fn money_from_wire(m: &common::Money) -> Money {
    Money::new(m.amount_minor, m.currency.to_string())
}

fn line_to_wire(l: &Line) -> wire::OrderLineSnapshot {
    wire::OrderLineSnapshot {
        line_id: l.line_id.clone().into(),
        variant_id: l.variant_id.clone().into(),
        product_id: l.product_id.clone().into(),
        title: l.title.clone().into(),
        sku: l.sku.clone().into(),
        quantity: l.quantity,
        unit_price: money_to_wire(&l.unit_price),
    }
}

fn line_from_wire(l: &wire::OrderLineSnapshot) -> Line {
    Line {
        line_id: l.line_id.to_string(),
        variant_id: l.variant_id.to_string(),
        product_id: l.product_id.to_string(),
        title: l.title.to_string(),
        sku: l.sku.to_string(),
        quantity: l.quantity,
        unit_price: money_from_wire(&l.unit_price),
    }
}

/// Encodes a domain event; `order` supplies the context `order.placed.v1` carries (customer, lines).
pub fn encode(event: &Event, order: Option<&crate::domain::Order>, now_ms: i64) -> NewEvent {
    let (event_type, union) = match event {
        Event::Created {
            order_id,
            number,
            cart_id,
            customer_id,
            email,
            lines,
            currency,
            fingerprint,
            payment_provider,
            payment_method,
        } => (
            CHECKOUT_REQUESTED,
            wire::OrderEvent::Created(wire::OrderCreated {
                order_id: order_id.clone().into(),
                number: *number,
                cart_id: cart_id.clone().into(),
                customer_id: customer_id.clone().map(Into::into),
                email: email.clone().map(Into::into),
                lines: lines.iter().map(line_to_wire).collect(),
                currency: currency.clone().into(),
                idempotency_fingerprint: fingerprint.clone().into(),
                payment_provider: Some(payment_provider.clone().into()),
                payment_method: Some(payment_method.clone().into()),
            }),
        ),
        Event::StockReserved { reservation_id } => (
            "order.stock_reserved.v1",
            wire::OrderEvent::StockReserved(wire::OrderStockReserved {
                reservation_id: reservation_id.clone().into(),
            }),
        ),
        Event::PaymentAuthorized {
            provider,
            authorization_id,
            amount,
        } => (
            "order.payment_authorized.v1",
            wire::OrderEvent::PaymentAuthorized(wire::OrderPaymentAuthorized {
                provider: provider.clone().into(),
                authorization_id: authorization_id.clone().into(),
                amount: money_to_wire(amount),
            }),
        ),
        Event::PaymentCaptured { authorization_id } => (
            "order.payment_captured.v1",
            wire::OrderEvent::PaymentCaptured(wire::OrderPaymentCaptured {
                authorization_id: authorization_id.clone().into(),
            }),
        ),
        Event::Placed { total } => (
            "order.placed.v1",
            wire::OrderEvent::Placed(wire::OrderPlaced {
                order_id: order.map(|o| o.id.clone()).unwrap_or_default().into(),
                customer_id: order.and_then(|o| o.customer_id.clone()).map(Into::into),
                lines: order
                    .map(|o| o.lines.iter().map(line_to_wire).collect())
                    .unwrap_or_default(),
                total: money_to_wire(total),
            }),
        ),
        Event::Failed { code, message } => (
            "order.failed.v1",
            wire::OrderEvent::Failed(wire::OrderFailed {
                code: code.clone().into(),
                message: message.clone().into(),
            }),
        ),
        Event::Cancelled { reason } => (
            CANCELLED,
            wire::OrderEvent::Cancelled(wire::OrderCancelled {
                reason: reason.clone().into(),
            }),
        ),
        Event::PaymentRefunded { authorization_id } => (
            "order.payment_refunded.v1",
            wire::OrderEvent::PaymentRefunded(wire::OrderPaymentRefunded {
                authorization_id: authorization_id.clone().into(),
            }),
        ),
        Event::StockReturned { reservation_id } => (
            "order.stock_returned.v1",
            wire::OrderEvent::StockReturned(wire::OrderStockReturned {
                reservation_id: reservation_id.clone().into(),
            }),
        ),
        Event::Fulfilled => (
            "order.fulfilled.v1",
            wire::OrderEvent::Fulfilled(wire::OrderFulfilled { note: None }),
        ),
    };
    NewEvent {
        event_id: shop_kernel::ids::new_id(),
        event_type: event_type.to_string(),
        topic: TOPIC.to_string(),
        occurred_at_ms: now_ms,
        traceparent: shop_rpc::shop_telemetry::traceparent(),
        payload: shop_idl::encode_event(&union),
    }
}

/// Decodes a stored event payload.
pub fn decode(payload: &pilota::Bytes) -> Result<Event, Error> {
    let union: wire::OrderEvent = shop_idl::decode_event(payload.clone())
        .map_err(|e| Error::internal(format!("undecodable order event: {e}")))?;
    Ok(match union {
        wire::OrderEvent::Created(c) => Event::Created {
            order_id: c.order_id.to_string(),
            number: c.number,
            cart_id: c.cart_id.to_string(),
            customer_id: c.customer_id.map(|s| s.to_string()),
            email: c.email.map(|s| s.to_string()),
            lines: c.lines.iter().map(line_from_wire).collect(),
            currency: c.currency.to_string(),
            fingerprint: c.idempotency_fingerprint.to_string(),
            payment_provider: c
                .payment_provider
                .map_or_else(|| "sandbox".to_string(), |s| s.to_string()),
            payment_method: c.payment_method.map(|s| s.to_string()).unwrap_or_default(),
        },
        wire::OrderEvent::StockReserved(r) => Event::StockReserved {
            reservation_id: r.reservation_id.to_string(),
        },
        wire::OrderEvent::PaymentAuthorized(a) => Event::PaymentAuthorized {
            provider: a.provider.to_string(),
            authorization_id: a.authorization_id.to_string(),
            amount: money_from_wire(&a.amount),
        },
        wire::OrderEvent::PaymentCaptured(c) => Event::PaymentCaptured {
            authorization_id: c.authorization_id.to_string(),
        },
        wire::OrderEvent::Placed(p) => Event::Placed {
            total: money_from_wire(&p.total),
        },
        wire::OrderEvent::Failed(f) => Event::Failed {
            code: f.code.to_string(),
            message: f.message.to_string(),
        },
        wire::OrderEvent::Cancelled(c) => Event::Cancelled {
            reason: c.reason.to_string(),
        },
        wire::OrderEvent::PaymentRefunded(r) => Event::PaymentRefunded {
            authorization_id: r.authorization_id.to_string(),
        },
        wire::OrderEvent::StockReturned(r) => Event::StockReturned {
            reservation_id: r.reservation_id.to_string(),
        },
        wire::OrderEvent::Fulfilled(_) => Event::Fulfilled,
    })
}
