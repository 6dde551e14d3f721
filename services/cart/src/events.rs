//! Domain events ↔ the `shop_idl::events::CartEvent` union (Thrift compact payloads).
use shop_idl::{common, events as wire};
use shop_kernel::{Error, Money};
use shop_store::NewEvent;

use crate::domain::{Attribute, BuyerIdentity, CartEvent, Line, Merchandise};

/// Bus topic of cart events.
pub const TOPIC: &str = "shop.cart.v1";

/// The event type name of a domain event.
pub fn event_type(e: &CartEvent) -> &'static str {
    match e {
        CartEvent::Created { .. } => "cart.created.v1",
        CartEvent::LineAdded(_) => "cart.line_added.v1",
        CartEvent::LineUpdated(_) => "cart.line_updated.v1",
        CartEvent::LineRemoved { .. } => "cart.line_removed.v1",
        CartEvent::NoteUpdated { .. } => "cart.note_updated.v1",
        CartEvent::AttributesUpdated { .. } => "cart.attributes_updated.v1",
        CartEvent::DiscountCodesUpdated { .. } => "cart.discount_codes_updated.v1",
        CartEvent::BuyerIdentityUpdated(_) => "cart.buyer_identity_updated.v1",
        CartEvent::CheckoutStarted { .. } => "cart.checkout_started.v1",
        CartEvent::Purchased { .. } => "cart.purchased.v1",
        CartEvent::CheckoutAborted { .. } => "cart.checkout_aborted.v1",
        CartEvent::Adopted { .. } => "cart.adopted.v1",
        CartEvent::LinesMerged { .. } => "cart.lines_merged.v1",
        CartEvent::MergedInto { .. } => "cart.merged.v1",
    }
}

fn money_to_wire(m: &Money) -> common::Money {
    common::Money {
        amount_minor: m.amount_minor,
        currency: m.currency.clone().into(),
    }
}

fn money_from_wire(m: common::Money) -> Money {
    Money::new(m.amount_minor, m.currency.to_string())
}

fn attrs_to_wire(a: &[Attribute]) -> Vec<common::Attribute> {
    a.iter()
        .map(|a| common::Attribute {
            key: a.key.clone().into(),
            value: a.value.clone().into(),
        })
        .collect()
}

fn attrs_from_wire(a: Vec<common::Attribute>) -> Vec<Attribute> {
    a.into_iter()
        .map(|a| Attribute {
            key: a.key.to_string(),
            value: a.value.to_string(),
        })
        .collect()
}

fn opt(s: &Option<String>) -> Option<pilota::FastStr> {
    s.clone().map(Into::into)
}

fn unopt(s: Option<pilota::FastStr>) -> Option<String> {
    s.map(|s| s.to_string())
}

fn line_to_wire(l: &Line) -> wire::LineSnapshot {
    wire::LineSnapshot {
        line_id: l.id.clone().into(),
        variant_id: l.merchandise.variant_id.clone().into(),
        product_id: l.merchandise.product_id.clone().into(),
        quantity: l.quantity,
        attributes: attrs_to_wire(&l.attributes),
        unit_price: money_to_wire(&l.merchandise.unit_price),
        compare_at_unit_price: l
            .merchandise
            .compare_at_unit_price
            .as_ref()
            .map(money_to_wire),
        title: l.merchandise.title.clone().into(),
        sku: l.merchandise.sku.clone().into(),
    }
}

fn line_from_wire(l: wire::LineSnapshot) -> Line {
    Line {
        id: l.line_id.to_string(),
        merchandise: Merchandise {
            variant_id: l.variant_id.to_string(),
            product_id: l.product_id.to_string(),
            title: l.title.to_string(),
            sku: l.sku.to_string(),
            unit_price: money_from_wire(l.unit_price),
            compare_at_unit_price: l.compare_at_unit_price.map(money_from_wire),
        },
        quantity: l.quantity,
        attributes: attrs_from_wire(l.attributes),
    }
}

fn to_wire(e: &CartEvent) -> wire::CartEvent {
    match e {
        CartEvent::Created {
            cart_id,
            customer_id,
            guest_id,
            currency,
            expires_at_ms,
        } => wire::CartEvent::Created(wire::CartCreated {
            cart_id: cart_id.clone().into(),
            customer_id: opt(customer_id),
            currency: currency.clone().into(),
            expires_at_ms: *expires_at_ms,
            guest_id: opt(guest_id),
        }),
        CartEvent::LineAdded(l) => wire::CartEvent::LineAdded(wire::CartLineAdded {
            line: line_to_wire(l),
        }),
        CartEvent::LineUpdated(l) => wire::CartEvent::LineUpdated(wire::CartLineUpdated {
            line: line_to_wire(l),
        }),
        CartEvent::LineRemoved { line_id } => wire::CartEvent::LineRemoved(wire::CartLineRemoved {
            line_id: line_id.clone().into(),
        }),
        CartEvent::NoteUpdated { note } => {
            wire::CartEvent::NoteUpdated(wire::CartNoteUpdated { note: opt(note) })
        }
        CartEvent::AttributesUpdated { attributes } => {
            wire::CartEvent::AttributesUpdated(wire::CartAttributesUpdated {
                attributes: attrs_to_wire(attributes),
            })
        }
        CartEvent::DiscountCodesUpdated { discount_codes } => {
            wire::CartEvent::DiscountCodesUpdated(wire::CartDiscountCodesUpdated {
                discount_codes: discount_codes.iter().map(|c| c.clone().into()).collect(),
            })
        }
        CartEvent::BuyerIdentityUpdated(b) => {
            wire::CartEvent::BuyerIdentityUpdated(wire::CartBuyerIdentityUpdated {
                email: opt(&b.email),
                phone: opt(&b.phone),
                country_code: opt(&b.country_code),
                customer_id: opt(&b.customer_id),
            })
        }
        CartEvent::CheckoutStarted { order_id } => {
            wire::CartEvent::CheckoutStarted(wire::CartCheckoutStarted {
                order_id: order_id.clone().into(),
            })
        }
        CartEvent::Purchased { order_id } => wire::CartEvent::Purchased(wire::CartPurchased {
            order_id: order_id.clone().into(),
        }),
        CartEvent::CheckoutAborted { order_id } => {
            wire::CartEvent::CheckoutAborted(wire::CartCheckoutAborted {
                order_id: order_id.clone().into(),
            })
        }
        CartEvent::Adopted { customer_id } => wire::CartEvent::Adopted(wire::CartAdopted {
            customer_id: customer_id.clone().into(),
        }),
        CartEvent::LinesMerged { source_cart_id } => {
            wire::CartEvent::LinesMerged(wire::CartLinesMerged {
                source_cart_id: source_cart_id.clone().into(),
            })
        }
        CartEvent::MergedInto {
            into_cart_id,
            customer_id,
        } => wire::CartEvent::Merged(wire::CartMerged {
            into_cart_id: into_cart_id.clone().into(),
            customer_id: customer_id.clone().into(),
        }),
    }
}

fn from_wire(e: wire::CartEvent) -> CartEvent {
    match e {
        wire::CartEvent::Created(c) => CartEvent::Created {
            cart_id: c.cart_id.to_string(),
            customer_id: unopt(c.customer_id),
            guest_id: unopt(c.guest_id),
            currency: c.currency.to_string(),
            expires_at_ms: c.expires_at_ms,
        },
        wire::CartEvent::LineAdded(l) => CartEvent::LineAdded(line_from_wire(l.line)),
        wire::CartEvent::LineUpdated(l) => CartEvent::LineUpdated(line_from_wire(l.line)),
        wire::CartEvent::LineRemoved(l) => CartEvent::LineRemoved {
            line_id: l.line_id.to_string(),
        },
        wire::CartEvent::NoteUpdated(n) => CartEvent::NoteUpdated {
            note: unopt(n.note),
        },
        wire::CartEvent::AttributesUpdated(a) => CartEvent::AttributesUpdated {
            attributes: attrs_from_wire(a.attributes),
        },
        wire::CartEvent::DiscountCodesUpdated(d) => CartEvent::DiscountCodesUpdated {
            discount_codes: d
                .discount_codes
                .into_iter()
                .map(|c| c.to_string())
                .collect(),
        },
        wire::CartEvent::BuyerIdentityUpdated(b) => {
            CartEvent::BuyerIdentityUpdated(BuyerIdentity {
                email: unopt(b.email),
                phone: unopt(b.phone),
                country_code: unopt(b.country_code),
                customer_id: unopt(b.customer_id),
            })
        }
        wire::CartEvent::CheckoutStarted(c) => CartEvent::CheckoutStarted {
            order_id: c.order_id.to_string(),
        },
        wire::CartEvent::Purchased(c) => CartEvent::Purchased {
            order_id: c.order_id.to_string(),
        },
        wire::CartEvent::CheckoutAborted(c) => CartEvent::CheckoutAborted {
            order_id: c.order_id.to_string(),
        },
        wire::CartEvent::Adopted(a) => CartEvent::Adopted {
            customer_id: a.customer_id.to_string(),
        },
        wire::CartEvent::LinesMerged(m) => CartEvent::LinesMerged {
            source_cart_id: m.source_cart_id.to_string(),
        },
        wire::CartEvent::Merged(m) => CartEvent::MergedInto {
            into_cart_id: m.into_cart_id.to_string(),
            customer_id: m.customer_id.to_string(),
        },
    }
}

/// Encodes a domain event for the store.
pub fn encode(e: &CartEvent, occurred_at_ms: i64) -> NewEvent {
    NewEvent {
        event_id: shop_kernel::ids::new_id(),
        event_type: event_type(e).to_string(),
        topic: TOPIC.to_string(),
        occurred_at_ms,
        traceparent: shop_rpc::shop_telemetry::traceparent(),
        payload: shop_idl::encode_event(&to_wire(e)),
    }
}

/// Decodes a stored event.
pub fn decode(e: &NewEvent) -> Result<CartEvent, Error> {
    shop_idl::decode_event::<wire::CartEvent>(e.payload.clone())
        .map(from_wire)
        .map_err(|err| Error::internal(format!("undecodable cart event {}: {err}", e.event_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() {
        let line = Line {
            id: "l1".into(),
            merchandise: Merchandise {
                variant_id: "v".into(),
                product_id: "p".into(),
                title: "Shirt / M".into(),
                sku: "S-M".into(),
                unit_price: Money::new(1999, "USD"),
                compare_at_unit_price: Some(Money::new(2999, "USD")),
            },
            quantity: 2,
            attributes: vec![Attribute {
                key: "gift".into(),
                value: "yes".into(),
            }],
        };
        let evs = vec![
            CartEvent::Created {
                cart_id: "c".into(),
                customer_id: Some("u".into()),
                guest_id: None,
                currency: "USD".into(),
                expires_at_ms: 9,
            },
            CartEvent::Created {
                cart_id: "g".into(),
                customer_id: None,
                guest_id: Some("s".into()),
                currency: "USD".into(),
                expires_at_ms: 9,
            },
            CartEvent::Adopted {
                customer_id: "u".into(),
            },
            CartEvent::LinesMerged {
                source_cart_id: "g".into(),
            },
            CartEvent::MergedInto {
                into_cart_id: "c".into(),
                customer_id: "u".into(),
            },
            CartEvent::LineAdded(line.clone()),
            CartEvent::LineUpdated(line),
            CartEvent::LineRemoved {
                line_id: "l1".into(),
            },
            CartEvent::NoteUpdated {
                note: Some("hi".into()),
            },
            CartEvent::AttributesUpdated {
                attributes: vec![Attribute {
                    key: "k".into(),
                    value: "v".into(),
                }],
            },
            CartEvent::DiscountCodesUpdated {
                discount_codes: vec!["SAVE".into()],
            },
            CartEvent::BuyerIdentityUpdated(BuyerIdentity {
                email: Some("a@b.c".into()),
                ..Default::default()
            }),
            CartEvent::CheckoutStarted {
                order_id: "o".into(),
            },
            CartEvent::Purchased {
                order_id: "o".into(),
            },
            CartEvent::CheckoutAborted {
                order_id: "o".into(),
            },
        ];
        for e in evs {
            let n = encode(&e, 1);
            assert_eq!(n.topic, TOPIC);
            assert!(n.event_type.starts_with("cart."));
            assert_eq!(decode(&n).unwrap(), e);
        }
    }
}
