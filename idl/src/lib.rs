//! Generated Thrift types, servers and clients for every thriftshop contract (see `thrift/`).
//!
//! Only the `rpc` and `events` modules of services (and the gateway) may use these types.
#![allow(
    missing_docs,
    clippy::all,
    unused_imports,
    dead_code,
    non_camel_case_types
)]

mod generated {
    include!(concat!(env!("OUT_DIR"), "/volo_gen.rs"));
}

pub use generated::volo_gen::shop::*;

mod exceptions {
    use super::*;
    include!(concat!(env!("OUT_DIR"), "/exceptions.rs"));
}

/// Encodes a Thrift message as an event payload (Thrift binary protocol).
///
/// The compact protocol was the plan (DESIGN §6), but pilota 0.13.1's compact decoder panics on structs with
/// `bool` fields ("pending bool field not read"), so payloads use the binary protocol until that is fixed.
pub fn encode_event<M: pilota::thrift::Message>(msg: &M) -> pilota::Bytes {
    let mut buf = pilota::BytesMut::new();
    let mut proto = pilota::thrift::binary::TBinaryProtocol::new(&mut buf, true);
    msg.encode(&mut proto)
        .expect("encoding into memory cannot fail");
    buf.freeze()
}

/// An event payload that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError(pub String);

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "undecodable payload: {}", self.0)
    }
}

impl std::error::Error for PayloadError {}

/// Decodes an event payload written by [`encode_event`]; malformed input is an error, never a panic
/// (pilota's reader can panic on truncated input, so that is contained here).
pub fn decode_event<M: pilota::thrift::Message>(bytes: pilota::Bytes) -> Result<M, PayloadError> {
    std::panic::catch_unwind(move || {
        let mut bytes = bytes;
        let mut proto = pilota::thrift::binary::TBinaryProtocol::new(&mut bytes, true);
        M::decode(&mut proto).map_err(|e| PayloadError(e.to_string()))
    })
    .unwrap_or_else(|_| Err(PayloadError("malformed input".into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(lines: usize) -> events::OrderEvent {
        events::OrderEvent::Placed(events::OrderPlaced {
            order_id: "o1".into(),
            customer_id: Some("c1".into()),
            lines: (0..lines)
                .map(|i| events::OrderLineSnapshot {
                    line_id: format!("l{i}").into(),
                    variant_id: format!("v{i}").into(),
                    product_id: format!("p{i}").into(),
                    title: "Title".into(),
                    sku: "SKU".into(),
                    quantity: i as i64 + 1,
                    unit_price: common::Money {
                        amount_minor: 1999,
                        currency: "USD".into(),
                    },
                })
                .collect(),
            total: common::Money {
                amount_minor: 12345,
                currency: "EUR".into(),
            },
        })
    }

    #[test]
    fn payloads_round_trip_with_nested_structs_and_bools() {
        for n in [0, 1, 5] {
            let ev = placed(n);
            assert_eq!(
                decode_event::<events::OrderEvent>(encode_event(&ev)).unwrap(),
                ev
            );
        }
        let reg = events::UserEvent::Registered(events::CustomerRegistered {
            customer_id: "c".into(),
            email: "a@b.co".into(),
            accepts_marketing: true,
        });
        assert_eq!(
            decode_event::<events::UserEvent>(encode_event(&reg)).unwrap(),
            reg
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let bytes = encode_event(&placed(3));
        for cut in 0..bytes.len() {
            let _ = decode_event::<events::OrderEvent>(bytes.slice(..cut));
        }
        assert!(
            decode_event::<events::OrderEvent>(pilota::Bytes::from_static(&[0xff; 40])).is_err()
        );
    }
}
