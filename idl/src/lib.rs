//! Generated Thrift types, servers and clients for every thriftshop contract (see `thrift/`).
//!
//! Only the `rpc` and `events` modules of services (and the gateway) may use these types.
#![allow(missing_docs, clippy::all, unused_imports, dead_code, non_camel_case_types)]

mod generated {
    include!(concat!(env!("OUT_DIR"), "/volo_gen.rs"));
}

pub use generated::volo_gen::shop::*;

mod exceptions {
    use super::*;
    include!(concat!(env!("OUT_DIR"), "/exceptions.rs"));
}

/// Encodes a Thrift message with the compact protocol (the event payload encoding).
pub fn encode_compact<M: pilota::thrift::Message>(msg: &M) -> pilota::Bytes {
    let mut buf = pilota::BytesMut::new();
    let mut proto = pilota::thrift::compact::TCompactOutputProtocol::new(&mut buf, true);
    msg.encode(&mut proto).expect("encoding into memory cannot fail");
    buf.freeze()
}

/// Decodes a Thrift message written by [`encode_compact`].
pub fn decode_compact<M: pilota::thrift::Message>(
    bytes: pilota::Bytes,
) -> Result<M, pilota::thrift::ThriftException> {
    let mut bytes = bytes;
    let mut proto = pilota::thrift::compact::TCompactInputProtocol::new(&mut bytes);
    M::decode(&mut proto)
}
