//! Domain events ↔ the `shop_idl::events::InventoryEvent` union (Thrift compact payloads).
use shop_idl::events as wire;
use shop_kernel::Error;
use shop_store::NewEvent;

use crate::domain::{AdjustKind, InventoryEvent};

/// Bus topic of inventory events.
pub const TOPIC: &str = "shop.inventory.v1";

/// The event type name of a domain event.
pub fn event_type(e: &InventoryEvent) -> &'static str {
    match e {
        InventoryEvent::Adjusted { .. } => "inventory.adjusted.v1",
        InventoryEvent::Reserved { .. } => "inventory.reserved.v1",
        InventoryEvent::Released { .. } => "inventory.released.v1",
        InventoryEvent::Committed { .. } => "inventory.committed.v1",
        InventoryEvent::Returned { .. } => "inventory.returned.v1",
    }
}

fn to_wire(e: &InventoryEvent) -> wire::InventoryEvent {
    match e.clone() {
        InventoryEvent::Adjusted {
            variant_id,
            delta,
            kind,
            reason,
        } => wire::InventoryEvent::Adjusted(wire::StockAdjusted {
            variant_id: variant_id.into(),
            delta,
            kind: kind.as_str().into(),
            reason: reason.into(),
        }),
        InventoryEvent::Reserved {
            variant_id,
            reservation_id,
            quantity,
            expires_at_ms,
        } => wire::InventoryEvent::Reserved(wire::StockReserved {
            variant_id: variant_id.into(),
            reservation_id: reservation_id.into(),
            quantity,
            expires_at_ms,
        }),
        InventoryEvent::Released {
            variant_id,
            reservation_id,
            quantity,
            reason,
        } => wire::InventoryEvent::Released(wire::ReservationReleased {
            variant_id: variant_id.into(),
            reservation_id: reservation_id.into(),
            quantity,
            reason: reason.into(),
        }),
        InventoryEvent::Committed {
            variant_id,
            reservation_id,
            quantity,
        } => wire::InventoryEvent::Committed(wire::ReservationCommitted {
            variant_id: variant_id.into(),
            reservation_id: reservation_id.into(),
            quantity,
        }),
        InventoryEvent::Returned {
            variant_id,
            reservation_id,
            quantity,
            reason,
        } => wire::InventoryEvent::Returned(wire::ReservationReturned {
            variant_id: variant_id.into(),
            reservation_id: reservation_id.into(),
            quantity,
            reason: reason.into(),
        }),
    }
}

fn from_wire(e: wire::InventoryEvent) -> Result<InventoryEvent, Error> {
    Ok(match e {
        wire::InventoryEvent::Adjusted(a) => InventoryEvent::Adjusted {
            variant_id: a.variant_id.to_string(),
            delta: a.delta,
            kind: AdjustKind::parse(&a.kind)
                .ok_or_else(|| Error::internal(format!("unknown adjustment kind {}", a.kind)))?,
            reason: a.reason.to_string(),
        },
        wire::InventoryEvent::Reserved(r) => InventoryEvent::Reserved {
            variant_id: r.variant_id.to_string(),
            reservation_id: r.reservation_id.to_string(),
            quantity: r.quantity,
            expires_at_ms: r.expires_at_ms,
        },
        wire::InventoryEvent::Released(r) => InventoryEvent::Released {
            variant_id: r.variant_id.to_string(),
            reservation_id: r.reservation_id.to_string(),
            quantity: r.quantity,
            reason: r.reason.to_string(),
        },
        wire::InventoryEvent::Committed(c) => InventoryEvent::Committed {
            variant_id: c.variant_id.to_string(),
            reservation_id: c.reservation_id.to_string(),
            quantity: c.quantity,
        },
        wire::InventoryEvent::Returned(r) => InventoryEvent::Returned {
            variant_id: r.variant_id.to_string(),
            reservation_id: r.reservation_id.to_string(),
            quantity: r.quantity,
            reason: r.reason.to_string(),
        },
    })
}

/// Encodes a domain event for the store.
pub fn encode(e: &InventoryEvent, occurred_at_ms: i64) -> NewEvent {
    NewEvent {
        event_id: shop_kernel::ids::new_id(),
        event_type: event_type(e).to_string(),
        topic: TOPIC.to_string(),
        occurred_at_ms,
        traceparent: shop_rpc::shop_telemetry::traceparent(),
        payload: shop_idl::encode_event(&to_wire(e)),
    }
}

/// Decodes a stored payload.
pub fn decode(payload: &shop_store::NewEvent) -> Result<InventoryEvent, Error> {
    let w =
        shop_idl::decode_event::<wire::InventoryEvent>(payload.payload.clone()).map_err(|e| {
            Error::internal(format!(
                "undecodable inventory event {}: {e}",
                payload.event_id
            ))
        })?;
    from_wire(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() {
        let evs = [
            InventoryEvent::Adjusted {
                variant_id: "v".into(),
                delta: -3,
                kind: AdjustKind::Correct,
                reason: "count".into(),
            },
            InventoryEvent::Reserved {
                variant_id: "v".into(),
                reservation_id: "r".into(),
                quantity: 2,
                expires_at_ms: Some(1_700_000_600_000),
            },
            InventoryEvent::Released {
                variant_id: "v".into(),
                reservation_id: "r".into(),
                quantity: 2,
                reason: "x".into(),
            },
            InventoryEvent::Committed {
                variant_id: "v".into(),
                reservation_id: "r".into(),
                quantity: 2,
            },
            InventoryEvent::Returned {
                variant_id: "v".into(),
                reservation_id: "r".into(),
                quantity: 2,
                reason: "cancelled".into(),
            },
        ];
        for e in evs {
            let n = encode(&e, 5);
            assert_eq!(n.topic, TOPIC);
            assert!(n.event_type.starts_with("inventory."));
            assert_eq!(decode(&n).unwrap(), e);
        }
    }
}
