//! Domain events ↔ the `shop.events.SessionEvent` wire union, and outbox records.
use shop_idl::events as wire;
use shop_store::NewEvent;

use crate::domain::{SessionEvent, SessionKind};

/// Bus topic of session events.
pub const TOPIC: &str = "shop.session.v1";

/// The event type name, e.g. `session.created.v1`.
pub fn event_type(e: &SessionEvent) -> &'static str {
    match e {
        SessionEvent::Created { .. } => "session.created.v1",
        SessionEvent::Revoked { .. } => "session.revoked.v1",
    }
}

/// The wire union for a domain event.
pub fn to_wire(e: &SessionEvent) -> wire::SessionEvent {
    match e {
        SessionEvent::Created {
            session_id,
            customer_id,
            kind,
            expires_at_ms,
        } => wire::SessionEvent::Created(wire::SessionCreated {
            session_id: session_id.clone().into(),
            customer_id: customer_id.clone().map(Into::into),
            kind: kind.as_str().into(),
            expires_at_ms: *expires_at_ms,
        }),
        SessionEvent::Revoked { session_id, reason } => {
            wire::SessionEvent::Revoked(wire::SessionRevoked {
                session_id: session_id.clone().into(),
                reason: reason.clone().into(),
            })
        }
    }
}

/// The domain event for a wire union (`None` for an unknown session kind).
pub fn from_wire(e: wire::SessionEvent) -> Option<SessionEvent> {
    Some(match e {
        wire::SessionEvent::Created(c) => SessionEvent::Created {
            session_id: c.session_id.to_string(),
            customer_id: c.customer_id.map(|s| s.to_string()),
            kind: SessionKind::parse(&c.kind)?,
            expires_at_ms: c.expires_at_ms,
        },
        wire::SessionEvent::Revoked(r) => SessionEvent::Revoked {
            session_id: r.session_id.to_string(),
            reason: r.reason.to_string(),
        },
    })
}

/// Decodes an event payload written by [`to_new_event`].
pub fn decode(payload: pilota::Bytes) -> Result<SessionEvent, shop_kernel::Error> {
    let union = shop_idl::decode_event::<wire::SessionEvent>(payload)
        .map_err(|e| shop_kernel::Error::internal(format!("undecodable session event: {e}")))?;
    from_wire(union).ok_or_else(|| shop_kernel::Error::internal("unknown session kind in event"))
}

/// The outbox record of a domain event.
pub fn to_new_event(e: &SessionEvent, occurred_at_ms: i64) -> NewEvent {
    NewEvent {
        event_id: shop_kernel::ids::new_id(),
        event_type: event_type(e).to_string(),
        topic: TOPIC.to_string(),
        occurred_at_ms,
        traceparent: shop_rpc::shop_telemetry::traceparent(),
        payload: shop_idl::encode_event(&to_wire(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let events = [
            SessionEvent::Created {
                session_id: "s".into(),
                customer_id: Some("c".into()),
                kind: SessionKind::Customer,
                expires_at_ms: 9,
            },
            SessionEvent::Created {
                session_id: "g".into(),
                customer_id: None,
                kind: SessionKind::Guest,
                expires_at_ms: 1,
            },
            SessionEvent::Revoked {
                session_id: "s".into(),
                reason: "renewed".into(),
            },
        ];
        for e in events {
            let rec = to_new_event(&e, 5);
            assert_eq!(rec.topic, "shop.session.v1");
            assert_eq!(rec.event_type, event_type(&e));
            assert_eq!(decode(rec.payload).unwrap(), e);
        }
    }
}
